"""The beat clock: beats ↔ trio time ↔ unix time ↔ NTP timetags.

Every beat's time is computed from an *anchor* ``(time, beat, bpm)``; nothing is ever accumulated,
so 1,000 bars later a beat still lands exactly where the anchor says. A tempo change never moves a
beat that may already have been sent: it starts a new anchor on the first whole beat after a given
instant (the scheduler passes ``now + lookahead``), and beats before it keep the old anchor. Phrases
stay in musical time until the scheduler asks this clock when a beat sounds, so notes chosen
before a tempo change are re-timed by it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import trio
from metalosc.protocol import unix_to_ntp

__all__ = ["Anchor", "BeatClock"]


@dataclass(frozen=True)
class Anchor:
    """Beat ``beat`` sounds at trio time ``time``; later beats follow at ``bpm``."""

    time: float
    beat: int
    bpm: float

    def beat_time(self, beat: float) -> float:
        """Trio time at which ``beat`` sounds under this anchor's tempo."""
        return self.time + (beat - self.beat) * 60.0 / self.bpm

    def beat_at(self, time: float) -> float:
        """Fractional beat sounding at trio time ``time`` under this anchor's tempo."""
        return self.beat + (time - self.time) * self.bpm / 60.0


class BeatClock:
    """Anchor-based tempo map.

    ``unix_offset`` is ``time.time() - trio.current_time()`` taken once at start-up: trio's clock is
    monotonic (and mockable), the offset turns it into the wall time the client's timetags use.
    """

    def __init__(self, start_time: float, bpm: float, *, unix_offset: float = 0.0) -> None:
        self._anchors: list[Anchor] = [Anchor(start_time, 0, bpm)]
        self.unix_offset = unix_offset
        self._changed = trio.Event()

    @property
    def anchors(self) -> tuple[Anchor, ...]:
        """The tempo map: anchors in beat order (the last one holds the current tempo)."""
        return tuple(self._anchors)

    @property
    def bpm(self) -> float:
        """The tempo of the latest anchor (what the music is, or is about to be, played at)."""
        return self._anchors[-1].bpm

    def _anchor_for_beat(self, beat: float) -> Anchor:
        for anchor in reversed(self._anchors):
            if anchor.beat <= beat:
                return anchor
        return self._anchors[0]

    def _anchor_for_time(self, time: float) -> Anchor:
        for anchor in reversed(self._anchors):
            if anchor.time <= time:
                return anchor
        return self._anchors[0]

    def bpm_at(self, beat: float) -> float:
        """The tempo (beats per minute) ``beat`` is played at."""
        return self._anchor_for_beat(beat).bpm

    def beat_time(self, beat: float) -> float:
        """Trio time at which ``beat`` (fractional beats allowed) sounds."""
        return self._anchor_for_beat(beat).beat_time(beat)

    def beat_at(self, time: float) -> float:
        """Fractional beat position sounding at trio time ``time``."""
        return self._anchor_for_time(time).beat_at(time)

    def restart(self, time: float, bpm: float) -> None:
        """Beat 0 sounds at ``time`` (transport play): a fresh tempo map."""
        self._anchors = [Anchor(time, 0, bpm)]
        self._notify()

    def set_tempo(self, bpm: float, *, after: float) -> int:
        """Play at ``bpm`` from the first whole beat that sounds strictly after trio time ``after``.

        Returns that beat. Anchors that can no longer matter are kept only while a beat before the
        new one may still be asked for (the last two), so the map stays small forever.
        """
        if not (math.isfinite(bpm) and bpm > 0):
            raise ValueError(f"tempo must be a positive number of beats per minute, got {bpm!r}")
        beat = math.floor(self.beat_at(after)) + 1
        while self.beat_time(beat) <= after:  # guard against float rounding at the boundary
            beat += 1
        anchor = Anchor(self.beat_time(beat), beat, bpm)
        self._anchors = [*[a for a in self._anchors if a.beat < beat][-1:], anchor]
        self._notify()
        return beat

    def to_unix(self, time: float) -> float:
        """Unix seconds of trio time ``time``."""
        return time + self.unix_offset

    def from_unix(self, unix: float) -> float:
        """Trio time of unix seconds ``unix``."""
        return unix - self.unix_offset

    def beat_unix(self, beat: float) -> float:
        """Unix seconds at which ``beat`` sounds."""
        return self.to_unix(self.beat_time(beat))

    def beat_ntp(self, beat: float) -> int:
        """The NTP timetag at which ``beat`` sounds (what goes into an OSC bundle)."""
        return unix_to_ntp(self.beat_unix(beat))

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def wait_changed(self) -> None:
        """Return after the next tempo change (sleepers re-compute their deadlines)."""
        await self._changed.wait()

    async def sleep_until_beat(self, beat: float, *, lead: float = 0.0) -> None:
        """Sleep until ``lead`` s before ``beat`` sounds, following tempo changes meanwhile."""
        while True:
            deadline = self.beat_time(beat) - lead
            if trio.current_time() >= deadline:
                return
            with trio.move_on_at(deadline):
                await self.wait_changed()
