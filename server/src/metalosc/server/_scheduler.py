"""From chosen phrases to timed OSC sends.

The pure half (``cues_for``, ``render``) turns a 2-bar ``PhraseSet`` into *cues* — everything that
sounds at one beat position (notes, the beat marker, phrase starts) — and a cue into OSC messages,
converting beats to seconds only then, with the clock as it is at that moment. The loop half sends
each cue ``lead`` seconds before it sounds: one loop for bundle subscribers (``lead`` = the
configured look-ahead, timetag = sound time) and one for immediate subscribers (``lead`` 0, timetag
"now"). The loops never block: they only sleep on the clock and pick phrases, which is a pure,
instant choice from already-decoded buffers.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import structlog
import trio
from metalosc.protocol import Beat, Instrument, Message, Note, PhraseStarted
from metalosc.runtime import BEATS_PER_BAR, PHRASE_BEATS, PhraseNote

from ._clock import BeatClock
from ._conductor import Conductor, PhraseSet
from ._metrics import Metrics
from ._state import MusicState
from ._subscriptions import Mode

__all__ = ["Cue", "Player", "SendCue", "cues_for", "render"]

log = structlog.get_logger("metalosc.server.scheduler")


@dataclass(frozen=True)
class Cue:
    """Everything that sounds at absolute beat ``beat``."""

    beat: float
    notes: tuple[tuple[Instrument, PhraseNote], ...] = ()
    beat_marker: bool = False
    phrase_starts: tuple[tuple[Instrument, int], ...] = ()
    tension: float = 0.0


def cues_for(phrases: PhraseSet | None, first_beat: int) -> list[Cue]:
    """The cues of one 2-bar slot starting at ``first_beat``, in time order.

    ``None`` (nothing decoded yet) still yields the beat markers: the beat never stops.
    """
    notes: dict[float, list[tuple[Instrument, PhraseNote]]] = {}
    starts: list[tuple[Instrument, int]] = []
    tension = phrases.tension if phrases is not None else 0.0
    if phrases is not None:
        for instrument, phrase in phrases.phrases.items():
            starts.append((instrument, phrase.id))
            for note in phrase.notes:
                notes.setdefault(first_beat + note.start_beat, []).append((instrument, note))
    positions = sorted(set(notes) | {float(first_beat + b) for b in range(PHRASE_BEATS)})
    return [
        Cue(
            beat=pos,
            notes=tuple(notes.get(pos, ())),
            beat_marker=pos.is_integer(),
            phrase_starts=tuple(starts) if pos == first_beat else (),
            tension=tension,
        )
        for pos in positions
    ]


def render(cue: Cue, clock: BeatClock, muted: dict[Instrument, bool]) -> list[Message]:
    """The OSC messages of ``cue``: beat marker, phrase starts, then notes (muted ones left out)."""
    out: list[Message] = []
    if cue.beat_marker:
        beat = int(cue.beat)
        out.append(Beat(bar=beat // BEATS_PER_BAR, beat=beat % BEATS_PER_BAR))
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


SendCue = Callable[[Sequence[Message], float, Mode], Awaitable[None]]
"""``send(messages, sound_unix_time, mode)``: deliver one cue to every subscriber of ``mode``."""


class Player:
    """Transport and send loops. ``play()`` starts beat 0 ``start_delay`` from now; ``stop()``
    cancels the loops at once (what was already sent still sounds: nothing is sent half)."""

    def __init__(
        self,
        clock: BeatClock,
        conductor: Conductor,
        state: MusicState,
        send: SendCue,
        metrics: Metrics,
        *,
        lookahead: float = 0.15,
        start_delay: float | None = None,
        on_phrase: Callable[[PhraseSet | None], None] | None = None,
    ) -> None:
        self.clock = clock
        self.conductor = conductor
        self.state = state
        self.send = send
        self.metrics = metrics
        self.lookahead = lookahead
        self.start_delay = start_delay if start_delay is not None else lookahead + 0.05
        self.on_phrase = on_phrase
        self._timeline: dict[int, list[Cue]] = {}
        self._scope: trio.CancelScope | None = None
        self._changed = trio.Event()

    def play(self) -> None:
        if not self.state.playing:
            self.state.playing = True
            self._wake()

    def stop(self) -> None:
        if self.state.playing:
            self.state.playing = False
            if self._scope is not None:
                self._scope.cancel()
            self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def run(self) -> None:
        """Forever: wait for play, run both send loops until stop."""
        while True:
            if not self.state.playing:
                await self._changed.wait()
                continue
            with trio.CancelScope() as scope:
                self._scope = scope
                self._timeline.clear()
                self.clock.restart(trio.current_time() + self.start_delay, self.state.bpm)
                log.info("transport_started", bpm=self.state.bpm)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._loop, "bundle", self.lookahead)
                    nursery.start_soon(self._loop, "immediate", 0.0)
            self._scope = None
            log.info("transport_stopped")

    def slot(self, index: int) -> list[Cue]:
        """The cues of slot ``index``, choosing its phrases the first time a loop asks."""
        cues = self._timeline.get(index)
        if cues is None:
            chosen = self.conductor.next_phrases(index)
            if chosen is None:
                self.metrics.inc("silent_phrases")
            cues = cues_for(chosen, index * PHRASE_BEATS)
            self._timeline[index] = cues
            self._timeline.pop(index - 2, None)
            if self.on_phrase is not None:
                self.on_phrase(chosen)
        return cues

    async def _loop(self, mode: Mode, lead: float) -> None:
        index = 0
        while True:
            for cue in self.slot(index):
                await self.clock.sleep_until_beat(cue.beat, lead=lead)
                sound = self.clock.beat_time(cue.beat)
                margin = sound - trio.current_time()
                if mode == "bundle":
                    self.metrics.leads.append(margin)
                    if margin < 0:
                        self.metrics.inc("late_sends")
                messages = render(cue, self.clock, self.state.muted)
                await self.send(messages, self.clock.to_unix(sound), mode)
            index += 1
