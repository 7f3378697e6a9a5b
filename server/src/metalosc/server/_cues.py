"""From a bar's plan to cues, and from a cue to OSC messages: the pure half of the scheduler.

A *cue* is everything that sounds at one beat position: notes, the beat marker, phrase starts, a
section start. ``cues_for`` lays one bar of a :class:`~metalosc.server.BarPlan` out as cues in
musical time; ``cue_messages`` turns one cue into OSC messages, converting beats to seconds only
then, with the beat clock as it is at that moment (so a tempo change re-times notes chosen before
it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from metalosc.protocol import (
    KEY_NAMES,
    Beat,
    Instrument,
    Message,
    Note,
    PhraseStarted,
    SectionStarted,
)
from metalosc.runtime import BEATS_PER_BAR, PhraseNote

from ._clock import BeatClock
from ._conductor import BarPlan

__all__ = ["Cue", "cue_messages", "cues_for"]


@dataclass(frozen=True)
class Cue:
    """Everything that sounds at absolute beat ``beat`` (beats since play started).

    ``notes`` carry their offset within the phrase they belong to (``PhraseNote`` beats);
    ``section`` announces a section starting on this beat."""

    beat: float
    notes: tuple[tuple[Instrument, PhraseNote], ...] = ()
    beat_marker: bool = False
    phrase_starts: tuple[tuple[Instrument, int], ...] = ()
    tension: float = 0.0
    section: SectionStarted | None = None


def cues_for(plan: BarPlan | None, bar: int) -> list[Cue]:
    """The cues of ``bar`` (bars since play started) as ``plan`` has it, in time order.

    ``None`` (nothing decoded yet) still yields the beat markers: the beat never stops.
    """
    first_beat = bar * BEATS_PER_BAR
    notes: dict[float, list[tuple[Instrument, PhraseNote]]] = {}
    starts: list[tuple[Instrument, int]] = []
    tension = plan.tension if plan is not None else 0.0
    section = None
    if plan is not None:
        low = plan.half * BEATS_PER_BAR
        for instrument, phrase in plan.phrases.items():
            if plan.phrase_start:
                starts.append((instrument, phrase.id))
            for note in phrase.notes:
                if low <= note.start_beat < low + BEATS_PER_BAR:
                    beat = first_beat + note.start_beat - low
                    notes.setdefault(beat, []).append((instrument, note))
        if plan.section is not None:
            started = plan.section
            section = SectionStarted(
                index=started.index,
                label=started.label,
                key=KEY_NAMES[started.key],
                tension=started.tension,
            )
    positions = sorted(set(notes) | {float(first_beat + b) for b in range(BEATS_PER_BAR)})
    return [
        Cue(
            beat=pos,
            notes=tuple(notes.get(pos, ())),
            beat_marker=pos.is_integer(),
            phrase_starts=tuple(starts) if pos == first_beat else (),
            tension=tension,
            section=section if pos == first_beat else None,
        )
        for pos in positions
    ]


def cue_messages(cue: Cue, clock: BeatClock, muted: Mapping[Instrument, bool]) -> list[Message]:
    """The OSC messages of ``cue``: beat marker, section start, phrase starts, then notes (muted
    ones left out); note durations in seconds at the clock's tempo map."""
    out: list[Message] = []
    if cue.beat_marker:
        beat = int(cue.beat)
        out.append(Beat(bar=beat // BEATS_PER_BAR, beat=beat % BEATS_PER_BAR))
    if cue.section is not None:
        out.append(cue.section)
    for instrument, pid in cue.phrase_starts:
        out.append(PhraseStarted(instrument=instrument, id=pid, tension=cue.tension))
    start = clock.beat_time(cue.beat)
    for instrument, note in cue.notes:
        if muted.get(instrument, False):
            continue
        offset = cue.beat - note.start_beat
        duration = clock.beat_time(offset + note.end_beat) - start
        out.append(
            Note(
                instrument=instrument,
                pitch=note.pitch,
                velocity=note.velocity,
                duration_s=duration,
                beat=cue.beat,
            )
        )
    return out
