"""The musical decisions, pure and testable: which phrase each instrument plays next.

At each 2-bar boundary the conductor either picks per instrument from its buffer by tension (the
bass among the phrases decoded on the chosen guitar phrase's chords: harmony first, the ones whose
strong beats fit those chords best, then tension), or follows an interpolation:
a spherical path from the latents playing now to a saved scene's latents, one point per phrase,
ending exactly on the scene. Interpolation phrases must be *decoded* from those points, so the
conductor only plans them; the generator decodes the whole path ahead of time in one batch and hands
the phrases back (``Interpolation.decoded``). If they are not ready at the next boundary, the morph
waits one phrase (playing by tension); if they are still not ready, the nearest buffered phrase
stands in for each point (counted).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from metalosc.protocol import INSTRUMENTS, Instrument
from metalosc.runtime import CHORD_FIT, Phrase, ZVector, slerp

from ._buffer import PhraseBuffer
from ._controls import Controls

__all__ = ["Conductor", "ConductorError", "Interpolation", "PhraseSet", "Scene", "best_fitting"]

Scene = Mapping[Instrument, ZVector]
"""A saved moment: the latent (``[z_size]`` float64) each instrument was playing."""


class ConductorError(Exception):
    """A request the music cannot honour right now (unknown scene, nothing played yet)."""


def best_fitting(candidates: Sequence[Phrase]) -> tuple[Phrase, ...]:
    """The bass candidates whose strong beats fit the guitar's chords best (ties all kept).

    Harmony comes before tension for the bass: a bass that plays against the guitar's chords
    sounds wrong at any tension, and the candidates were all sampled near the tension already.
    Candidates without a measured fit (none decoded on chords) are all kept.
    """
    fits = [p.features.get(CHORD_FIT) for p in candidates]
    measured = [f for f in fits if f is not None]
    if len(measured) < len(fits) or not measured:
        return tuple(candidates)
    best = max(measured)
    return tuple(p for p, f in zip(candidates, fits, strict=True) if f == best)


@dataclass(frozen=True, eq=False)
class PhraseSet:
    """What plays in one 2-bar slot (``index`` counts phrases since play started): a phrase per
    instrument, and the tension (0..1) it was chosen for."""

    index: int
    phrases: Mapping[Instrument, Phrase]
    tension: float


@dataclass(eq=False)
class Interpolation:
    """A planned morph to ``scene``: one latent per instrument per phrase (``points``), ending on
    the scene; ``decoded`` holds the phrases once the generator has decoded the path, and
    ``stand_ins`` counts points played by the nearest buffered phrase instead."""

    scene: str
    points: list[dict[Instrument, ZVector]]
    decoded: list[dict[Instrument, Phrase]] | None = None
    position: int = 0
    grace: int = 1  # phrases the morph may wait for its decode before using stand-ins
    stand_ins: int = 0
    id: int = field(default_factory=itertools.count(1).__next__)

    @property
    def done(self) -> bool:
        """Whether every point of the path has been played."""
        return self.position >= len(self.points)


class Conductor:
    """Chooses every slot's phrases from the ``buffers`` for the ``controls``' tension, and owns
    the saved scenes (``scenes``) and the interpolation in progress."""

    def __init__(self, buffers: Mapping[Instrument, PhraseBuffer], controls: Controls) -> None:
        self.buffers = buffers
        self.controls = controls
        self.scenes: dict[str, Scene] = {}
        self.current: dict[Instrument, Phrase] = {}
        self.interpolation: Interpolation | None = None

    @property
    def scene_target(self) -> str:
        """The scene being morphed to, ``""`` when none."""
        return self.interpolation.scene if self.interpolation is not None else ""

    def save_scene(self, name: str) -> None:
        """Remember the latents playing now under ``name``.

        Raises ``ConductorError`` before anything has played."""
        if set(self.current) != set(INSTRUMENTS):
            raise ConductorError("nothing has played yet, so there is no scene to save")
        self.scenes[name] = {i: self.current[i].z.copy() for i in INSTRUMENTS}

    def plan_interpolation(self, scene: str, bars: int) -> Interpolation:
        """Start morphing to ``scene`` over ``bars`` bars (even) from the next phrase on.

        Raises ``ConductorError`` for an unknown scene, an odd or too short length, or before
        anything has played."""
        target = self.scenes.get(scene)
        if target is None:
            known = ", ".join(sorted(self.scenes)) or "none saved yet"
            raise ConductorError(f"unknown scene {scene!r} (known: {known})")
        if bars < 2 or bars % 2:
            raise ConductorError(f"bars must be an even number >= 2, got {bars}")
        if set(self.current) != set(INSTRUMENTS):
            raise ConductorError("nothing is playing yet to interpolate from")
        steps = bars // 2
        points = [
            {i: slerp(self.current[i].z, target[i], (k + 1) / steps) for i in INSTRUMENTS}
            for k in range(steps)
        ]
        self.interpolation = Interpolation(scene, points)
        return self.interpolation

    def next_phrases(self, index: int) -> PhraseSet | None:
        """Choose what plays in slot ``index``; ``None`` only before anything was ever decoded."""
        interp = self.interpolation
        if interp is not None and interp.decoded is None and interp.grace > 0:
            interp.grace -= 1
            chosen = self._pick_by_tension()
        elif interp is not None and not interp.done:
            chosen = self._interpolation_step(interp)
        else:
            chosen = self._pick_by_tension()
        if chosen is None:
            return None
        self.current = dict(chosen)
        return PhraseSet(index, chosen, self.controls.tension)

    def finish_interpolation(self) -> bool:
        """Clear a finished interpolation; True when it just ended (the state changed)."""
        if self.interpolation is not None and self.interpolation.done:
            self.interpolation = None
            return True
        return False

    def cancel_interpolation(self) -> None:
        """Drop the interpolation in progress, if any."""
        self.interpolation = None

    def _pick_by_tension(self) -> dict[Instrument, Phrase] | None:
        tension = self.controls.tension
        guitar = self.buffers["guitar"].pick(tension)
        drums = self.buffers["drums"].pick(tension)
        if guitar is None or drums is None:
            return None
        candidates = best_fitting(guitar.accompaniment)
        bass = self.buffers["bass"].pick(tension, candidates=candidates or None)
        if bass is None:
            return None
        return {"guitar": guitar, "bass": bass, "drums": drums}

    def _interpolation_step(self, interp: Interpolation) -> dict[Instrument, Phrase] | None:
        point = interp.points[interp.position]
        decoded = interp.decoded[interp.position] if interp.decoded is not None else None
        interp.position += 1
        if decoded is not None:
            for instrument, phrase in decoded.items():
                self.buffers[instrument].played(phrase)
            return dict(decoded)
        interp.stand_ins += 1
        chosen: dict[Instrument, Phrase] = {}
        for instrument in INSTRUMENTS:
            stand_in = self.buffers[instrument].nearest(point[instrument])
            if stand_in is None:
                return None
            chosen[instrument] = stand_in
        return chosen
