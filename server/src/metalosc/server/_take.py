"""A take: what the daemon played, in beats — every note of the three instruments, the tempo map
and the section starts — built cue by cue.

The recorder feeds a :class:`TakeBuilder` the cues the transport sends, as it sends them; replay
and previews feed it the cues :func:`~metalosc.server.cues_for` lays out from bar plans. Both go
through :meth:`TakeBuilder.cue`, so the same cues, mutes and tempi give the same take, note for
note. Pure: no clock, no files.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field

from metalosc.protocol import Instrument
from metalosc.runtime import BEATS_PER_BAR

from ._conductor import BarPlan
from ._cues import Cue, cues_for

__all__ = ["SectionMark", "Take", "TakeBuilder", "TakeNote", "plans_take"]


@dataclass(frozen=True)
class TakeNote:
    """One note of a take: instrument, MIDI pitch (a GM drum note for drums), velocity, onset and
    end in beats from the take's start."""

    instrument: Instrument
    pitch: int
    velocity: int
    start: float
    end: float


@dataclass(frozen=True)
class SectionMark:
    """A section started at ``beat`` (beats from the take's start): its index since play
    started, label, key name (natural minor) and the tension it was planned for."""

    beat: float
    index: int
    label: str
    key: str
    tension: float


@dataclass(frozen=True)
class Take:
    """A take: its ``notes`` in onset order, the tempo map as (beat, bpm) changes (the first at
    beat 0), the section starts, and its length in beats (a whole number of bars)."""

    notes: tuple[TakeNote, ...]
    tempos: tuple[tuple[float, float], ...]
    sections: tuple[SectionMark, ...]
    beats: float

    def part(self, instrument: Instrument) -> tuple[TakeNote, ...]:
        """The notes of ``instrument``, in onset order."""
        return tuple(n for n in self.notes if n.instrument == instrument)


@dataclass
class TakeBuilder:
    """Collects cues into a :class:`Take`.

    Cues carry beats since play started; a take counts from the bar line before its first cue
    (so its bars are the daemon's bars). Play stopped and started again is a new *run* whose
    beats start at 0 again: it continues the take at the first bar line after everything heard
    so far (the silence between runs is left out).
    """

    _notes: list[TakeNote] = field(default_factory=list)
    _tempos: list[tuple[float, float]] = field(default_factory=list)
    _sections: list[SectionMark] = field(default_factory=list)
    _origins: dict[int, float] = field(default_factory=dict)
    _end: float = 0.0

    def origin(self, run: int, beat: float) -> float:
        """Where beat 0 of ``run`` lies in the take (beats), fixed by the run's first cue at
        ``beat``."""
        origin = self._origins.get(run)
        if origin is None:
            bar_line = math.floor(beat / BEATS_PER_BAR) * BEATS_PER_BAR
            start = 0.0 if not self._origins else _bar_ceiling(self._end)
            origin = start - bar_line
            self._origins[run] = origin
        return origin

    def cue(self, run: int, cue: Cue, muted: Collection[Instrument], bpm: float) -> None:
        """Add ``cue`` of ``run``, played at ``bpm`` (the tempo of its beat), without the notes
        of the ``muted`` instruments. Tempo changes are taken on whole beats (where the clock
        changes tempo)."""
        at = cue.beat + self.origin(run, cue.beat)
        if not self._tempos:
            self._tempos.append((0.0, bpm))
        elif cue.beat_marker and self._tempos[-1][1] != bpm:
            self._tempos.append((at, bpm))
        if cue.section is not None:
            s = cue.section
            self._sections.append(SectionMark(at, s.index, s.label, s.key, s.tension))
        self._end = max(self._end, at)
        for instrument, note in cue.notes:
            if instrument in muted:
                continue
            end = at + (note.end_beat - note.start_beat)
            self._notes.append(TakeNote(instrument, note.pitch, note.velocity, at, end))
            self._end = max(self._end, end)

    @property
    def empty(self) -> bool:
        """Whether no cue was added yet."""
        return not self._origins

    def take(self) -> Take:
        """The take so far (its length rounded up to a whole bar; at least one bar)."""
        notes = sorted(self._notes, key=lambda n: (n.start, n.instrument, n.pitch))
        beats = max(float(BEATS_PER_BAR), _bar_ceiling(self._end))
        return Take(tuple(notes), tuple(self._tempos), tuple(self._sections), beats)


def _bar_ceiling(beat: float) -> float:
    """The first bar line at or after ``beat`` (a bar line itself stays), and never 0 after
    something was heard at 0 (a new run never starts on top of the last one)."""
    bars = math.ceil(beat / BEATS_PER_BAR - 1e-9)
    return float(max(bars, 1) * BEATS_PER_BAR) if beat > 0 else float(BEATS_PER_BAR)


def plans_take(plans: Iterable[BarPlan], bpm: float) -> Take:
    """The take of the bar ``plans`` (each at its own ``bar``), laid out by the daemon's own
    :func:`~metalosc.server.cues_for` and played at a steady ``bpm`` with nothing muted (a
    performance of :func:`~metalosc.server.perform`, for previews)."""
    builder = TakeBuilder()
    for plan in plans:
        for cue in cues_for(plan, plan.bar):
            builder.cue(1, cue, (), bpm)
    return builder.take()
