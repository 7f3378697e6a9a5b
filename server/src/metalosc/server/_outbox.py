"""Everything the daemon sends goes out here: replies, state broadcasts, cues, error replies.

One place decides how a message becomes bytes and who receives it, so the rules hold for every
sender: a cue goes to every subscriber of its delivery mode or to none (the send is shielded from
cancellation), a broadcast reaches every subscriber once, and a ``/metal/error`` reply is counted
and logged always but sent only within the peer's error budget (a token bucket per peer, so a
broken client cannot make the daemon flood it).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import structlog
import trio
from metalosc.protocol import Error, Message, encode, encode_bundle

from ._metrics import Metrics, RejectReason
from ._ratelimit import PeerRateLimiter
from ._subscriptions import Mode, Subscriptions
from ._udp import Peer

__all__ = ["Outbox", "SendTo"]

log = structlog.get_logger("metalosc.server.outbox")

SendTo = Callable[[bytes, Peer], Awaitable[bool]]
"""``send_to(datagram, peer)``: one UDP datagram; ``False`` when the peer is unreachable."""


class Outbox:
    """The daemon's one way out: ``send_to`` (the UDP endpoint's), who is subscribed, the error
    budget per peer, and the counters."""

    def __init__(
        self,
        send_to: SendTo,
        subscriptions: Subscriptions,
        error_limiter: PeerRateLimiter,
        metrics: Metrics,
    ) -> None:
        self._send_to = send_to
        self._subscriptions = subscriptions
        self._error_limiter = error_limiter
        self._metrics = metrics

    async def reply(self, message: Message, peer: Peer) -> None:
        """Send ``message`` to one peer (the sender of a request)."""
        await self._send_to(encode(message), peer)

    async def broadcast(self, message: Message) -> None:
        """Send ``message`` to every subscriber, whatever its delivery mode."""
        data = encode(message)
        for sub in self._subscriptions.active():
            await self._send_to(data, sub.destination)

    async def send_cue(self, messages: Sequence[Message], sound_unix: float, mode: Mode) -> None:
        """One cue to every subscriber of ``mode``: a bundle timetagged with ``sound_unix`` (unix
        seconds) in ``bundle`` mode, timetagged "immediately" in ``immediate`` mode."""
        subs = self._subscriptions.active(mode)
        if not subs or not messages:
            return
        data = encode_bundle(messages, sound_unix if mode == "bundle" else None)
        with trio.CancelScope(shield=True):  # a cue goes to every subscriber or to none
            for sub in subs:
                await self._send_to(data, sub.destination)
        self._metrics.inc("cues_sent")

    async def error(
        self, peer: Peer, address: str, reason: str, *, kind: RejectReason = "invalid_arguments"
    ) -> None:
        """Count (by ``kind``) and log a refused request; answer ``/metal/error`` unless the peer
        is over its error budget (then count the suppressed reply)."""
        self._metrics.reject(kind)
        if not self._error_limiter.allow(peer, trio.current_time()):
            self._metrics.inc("error_replies_suppressed")
            return
        log.warning("osc_rejected", peer=f"{peer[0]}:{peer[1]}", address=address, reason=reason)
        await self._send_to(encode(Error(refused_address=address, reason=reason)), peer)
