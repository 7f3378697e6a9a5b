"""The daemon's music without a transport: what it plays, bar by bar, as fast as it can decode.

:func:`perform` builds the same conductor, buffers and generator as ``serve`` (from the same
settings) and asks the conductor for every bar in turn, decoding what it orders and refilling
what it took before the next bar — the live daemon does the same in the background, seconds ahead
of the music. No socket, no clock: the result is a :class:`~metalosc.runtime.Performance` in
beats, for the form measures (``metalosc-train quality``), scores and recordings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from metalosc.protocol import INSTRUMENTS, KEY_PITCH_CLASSES, Instrument
from metalosc.runtime import BEATS_PER_BAR, Performance, TimedNote, timed

from ._buffer import PhraseBuffer
from ._conductor import BarPlan, Conductor, Section
from ._controls import Controls
from ._generation import Generator
from ._models import ExecutorSource, bundle_executors
from ._runner import ModelRunner
from ._settings import Settings

__all__ = ["Performed", "perform"]


@dataclass(frozen=True)
class Performed:
    """What :func:`perform` played: the notes (``performance``, beats from bar 0), the bar plans
    in order, the sections, and how many variations or fills were played from stand-ins."""

    performance: Performance
    plans: tuple[BarPlan, ...]
    sections: tuple[Section, ...]
    stand_ins: int


async def perform(
    settings: Settings,
    *,
    bars: int,
    executors: ExecutorSource | None = None,
) -> Performed:
    """Play ``bars`` bars at ``settings.tension`` with the models ``executors`` opens (default:
    ``settings``' bundles), and close them. Raises ``ModelBundleError`` for a broken bundle and
    ``ValueError`` for fewer than one bar."""
    if bars < 1:
        raise ValueError(f"bars must be at least 1, got {bars}")
    source = executors or bundle_executors(settings)
    runners = {i: ModelRunner(e) for i, e in (await source(INSTRUMENTS)).items()}
    try:
        return await _play(settings, runners, bars)
    finally:
        for runner in runners.values():
            runner.close()


async def _play(
    settings: Settings, runners: Mapping[Instrument, ModelRunner], bars: int
) -> Performed:
    from ._app import form_rules  # the daemon's own rules, from the same settings

    controls = Controls(
        tension=settings.tension, temperature=settings.temperature, transition=settings.transition
    )
    buffers = {
        i: PhraseBuffer(
            i,
            settings.buffer_depth,
            runners[i].tension_vector,
            reference_size=max(256, 4 * settings.buffer_depth),
        )
        for i in INSTRUMENTS
    }
    conductor = Conductor(
        buffers,
        controls,
        form_rules(settings),
        key=KEY_PITCH_CLASSES[settings.key],
        fill_vector=runners["drums"].info.fill_vector,
        rng=np.random.default_rng(None if settings.seed is None else [settings.seed, 1]),
    )
    generator = Generator(
        runners,
        buffers,
        controls,
        seed=settings.seed,
        batch_size=settings.batch_size,
        bass_candidates=settings.bass_candidates,
        key=lambda: conductor.target_key,
        guitar_min_notes=settings.guitar_min_notes,
        power_chords=settings.power_chords,
    )
    await generator.prime()
    notes: dict[Instrument, list[TimedNote]] = {i: [] for i in INSTRUMENTS}
    plans: list[BarPlan] = []
    sections: list[Section] = []
    for bar in range(bars):
        plan = conductor.next_bar(bar)
        for order in conductor.take_orders():
            await generator.decode_order(order)
        if plan is None:
            continue
        plans.append(plan)
        if plan.section is not None:
            sections.append(plan.section)
        for instrument, phrase in plan.phrases.items():
            notes[instrument].extend(timed(phrase, bar * BEATS_PER_BAR, plan.half))
        if plan.phrase_start:
            for instrument in ("guitar", "drums"):
                while await generator.refill(instrument):
                    pass
    performance = Performance(
        guitar=tuple(notes["guitar"]),
        bass=tuple(notes["bass"]),
        drums=tuple(notes["drums"]),
        bars=bars,
    )
    return Performed(performance, tuple(plans), tuple(sections), conductor.stand_ins)
