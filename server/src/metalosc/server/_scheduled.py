"""Bundles timetagged in the future: held, then applied at their time.

A game that wants "tension up on the downbeat in 1.5 s" sends a bundle timetagged with that
downbeat; OSC says the receiver applies its messages then, not on arrival. The
:class:`ScheduledBundles` queue keeps such bundles (already decoded and validated, so what waits
can be applied) in due order and its :meth:`~ScheduledBundles.run` task applies each at its trio
time. How far ahead a bundle may be and how many may wait are bounded, since they come from
untrusted peers and each holds memory until its time; beyond either bound a bundle is refused
(:class:`BundleRefusedError`) rather than queued.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog
import trio
from metalosc.protocol import Message

from ._udp import Peer

__all__ = ["ApplyBundle", "BundleRefusedError", "ScheduledBundles"]

log = structlog.get_logger("metalosc.server.scheduled")

ApplyBundle = Callable[[Sequence[Message], Peer, int], Awaitable[None]]
"""``apply(messages, peer, request_bytes)``: apply a bundle's messages, in order, as sent by
``peer`` in a datagram of ``request_bytes`` bytes (what replies to a stranger may add up to)."""


class BundleRefusedError(Exception):
    """A future bundle that cannot wait: too far ahead or too many waiting (the message says
    which, short enough for ``/metal/error``)."""


@dataclass(order=True, frozen=True)
class _Waiting:
    due: float
    order: int
    messages: Sequence[Message] = field(compare=False)
    peer: Peer = field(compare=False)
    request_bytes: int = field(compare=False, default=0)


class ScheduledBundles:
    """Future bundles in due order, applied by :meth:`run` through ``apply`` at their time.

    ``horizon`` is how many seconds ahead a bundle may be due; ``capacity`` how many may wait at
    once. Times are trio times; bundles due at the same time are applied in arrival order.
    """

    def __init__(self, apply: ApplyBundle, *, horizon: float, capacity: int) -> None:
        if horizon <= 0 or capacity < 1:
            raise ValueError("horizon must be > 0 s and capacity at least 1")
        self.horizon = horizon
        self.capacity = capacity
        self._apply = apply
        self._heap: list[_Waiting] = []
        self._arrivals = itertools.count()
        self._changed = trio.Event()

    @property
    def waiting(self) -> int:
        """How many bundles wait to be applied."""
        return len(self._heap)

    def add(
        self, due: float, messages: Sequence[Message], peer: Peer, request_bytes: int = 0
    ) -> None:
        """Hold ``messages`` from ``peer`` (a datagram of ``request_bytes`` bytes) until trio
        time ``due``.

        Raises :class:`BundleRefusedError` when ``due`` is more than ``horizon`` seconds from now or
        ``capacity`` bundles already wait.
        """
        ahead = due - trio.current_time()
        if ahead > self.horizon:
            raise BundleRefusedError(
                f"timetag {ahead:.1f} s ahead; at most {self.horizon:g} s ahead is accepted"
            )
        if len(self._heap) >= self.capacity:
            raise BundleRefusedError(
                f"{self.capacity} future bundles already wait; try again when some are applied"
            )
        waiting = _Waiting(due, next(self._arrivals), tuple(messages), peer, request_bytes)
        heapq.heappush(self._heap, waiting)
        self._changed.set()
        self._changed = trio.Event()

    async def run(self) -> None:
        """Forever: sleep until the earliest bundle is due, apply every bundle due by then."""
        while True:
            if not self._heap:
                await self._changed.wait()
                continue
            with trio.move_on_at(self._heap[0].due):
                await self._changed.wait()  # an earlier bundle may arrive meanwhile
                continue
            while self._heap and self._heap[0].due <= trio.current_time():
                waiting = heapq.heappop(self._heap)
                late = trio.current_time() - waiting.due
                log.debug("bundle_due", peer=f"{waiting.peer[0]}:{waiting.peer[1]}", late_s=late)
                await self._apply(waiting.messages, waiting.peer, waiting.request_bytes)
