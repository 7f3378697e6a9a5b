"""The transport: play and stop, and the loops that send each cue ahead of its sound time.

``play()`` puts beat 0 ``start_delay`` seconds from now; two loops then walk the same cues: the
bundle loop sends each cue ``lookahead`` seconds before it sounds (timetag = sound time), the
immediate loop sends it when it sounds. The first loop to reach a bar asks the conductor what
plays there (a pure, instant choice from already-decoded buffers) — bar by bar, so that a change
can land on the next bar line — and every :class:`~metalosc.server.BarPlan` is published on
:attr:`Transport.chosen` for whoever keeps the buffers full and decodes what the conductor
ordered. The loops never block: they only sleep on the beat clock. ``stop()`` cancels them at
once; what was already sent still sounds, and nothing is sent half.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

import structlog
import trio
from metalosc.protocol import Instrument, Message
from metalosc.runtime import BEATS_PER_BAR

from ._clock import BeatClock
from ._conductor import BarPlan, Conductor
from ._cues import Cue, cue_messages, cues_for
from ._metrics import Metrics
from ._subscriptions import Mode

__all__ = ["SendCue", "Transport"]

log = structlog.get_logger("metalosc.server.transport")

SendCue = Callable[[Sequence[Message], float, Mode], Awaitable[None]]
"""``send_cue(messages, sound_unix, mode)``: deliver one cue to every subscriber of ``mode``
(:meth:`metalosc.server.Outbox.send_cue`)."""

CHOSEN_BACKLOG = 16
"""Bar plans waiting for their reader; more are dropped (counted), never waited for."""


class Transport:
    """Play/stop and the send loops.

    ``clock`` is the beat clock (its tempo is the transport's tempo), ``conductor`` chooses what
    each bar plays, ``send_cue`` delivers, ``muted`` is read at send time. Times are trio times;
    ``lookahead`` and ``start_delay`` are seconds (``start_delay`` defaults to ``lookahead`` +
    50 ms, so beat 0 can be sent ahead like every other beat).
    """

    def __init__(
        self,
        clock: BeatClock,
        conductor: Conductor,
        send_cue: SendCue,
        muted: Mapping[Instrument, bool],
        metrics: Metrics,
        *,
        lookahead: float = 0.15,
        start_delay: float | None = None,
    ) -> None:
        self.clock = clock
        self.conductor = conductor
        self.metrics = metrics
        self.lookahead = lookahead
        self.start_delay = start_delay if start_delay is not None else lookahead + 0.05
        self._send_cue = send_cue
        self._muted = muted
        self._playing = False
        self._timeline: dict[int, list[Cue]] = {}
        self._scope: trio.CancelScope | None = None
        self._changed = trio.Event()
        self._chosen_out, self.chosen = trio.open_memory_channel[BarPlan | None](CHOSEN_BACKLOG)
        """Every bar's plan, in order (``None``: nothing was decoded yet)."""

    @property
    def playing(self) -> bool:
        """Whether the transport runs."""
        return self._playing

    def play(self) -> None:
        """Start playing (beat 0 ``start_delay`` from now); no-op while playing."""
        if not self._playing:
            self._playing = True
            self._wake()

    def stop(self) -> None:
        """Stop at once: the send loops are cancelled; no-op while stopped."""
        if self._playing:
            self._playing = False
            if self._scope is not None:
                self._scope.cancel()
            self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    async def run(self) -> None:
        """Forever: wait for play, run both send loops until stop."""
        while True:
            if not self._playing:
                await self._changed.wait()
                continue
            with trio.CancelScope() as scope:
                self._scope = scope
                self._timeline.clear()
                self.clock.restart(trio.current_time() + self.start_delay, self.clock.bpm)
                log.info("transport_started", bpm=self.clock.bpm)
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._loop, "bundle", self.lookahead)
                    nursery.start_soon(self._loop, "immediate", 0.0)
            self._scope = None
            log.info("transport_stopped")

    def bar(self, index: int) -> list[Cue]:
        """The cues of bar ``index``, asking the conductor what plays the first time a loop
        reaches it."""
        cues = self._timeline.get(index)
        if cues is None:
            plan = self.conductor.next_bar(index)
            if plan is None:
                self.metrics.inc("silent_bars")
            cues = cues_for(plan, index)
            self._timeline[index] = cues
            self._timeline.pop(index - 2, None)
            try:
                self._chosen_out.send_nowait(plan)
            except trio.WouldBlock:
                self.metrics.inc("plans_dropped")
        return cues

    async def _loop(self, mode: Mode, lead: float) -> None:
        index = 0
        while True:
            # Ask for a bar only when its first cue is due: a change that arrives until then
            # still lands on this bar line (a bar is at most one bar plus the look-ahead away).
            await self.clock.sleep_until_beat(index * BEATS_PER_BAR, lead=lead)
            for cue in self.bar(index):
                await self.clock.sleep_until_beat(cue.beat, lead=lead)
                sound = self.clock.beat_time(cue.beat)
                margin = sound - trio.current_time()
                if mode == "bundle":
                    self.metrics.leads.append(margin)
                    if margin < 0:
                        self.metrics.inc("late_sends")
                messages = cue_messages(cue, self.clock, self._muted)
                await self._send_cue(messages, self.clock.to_unix(sound), mode)
            index += 1
