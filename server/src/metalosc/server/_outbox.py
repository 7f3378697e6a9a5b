"""Everything the daemon sends goes out here: replies, state broadcasts, cues, error replies.

One place decides how a message becomes bytes and who receives it, so the rules hold for every
sender: a cue goes to every subscriber of its delivery mode or to none (the send is shielded from
cancellation), a broadcast reaches every subscriber once, and a ``/metal/error`` reply is counted
always but sent only within the peer's error budget *and* the daemon's (token buckets per peer and
for all peers together, so neither a broken client nor many of them make the daemon a firehose).

**No reflection, no amplification.** UDP source addresses can be forged, so a reply to an address
that never subscribed may really go to a third party. Such a stranger never receives more bytes
in answer to a datagram than that datagram had (the QUIC rule for unvalidated addresses, RFC 9000
§8.1, at 1× instead of 3×: a music server has no reason to answer bigger). The controller opens a
budget per datagram (:meth:`Outbox.answering`); every reply to its sender is charged to it, an
error reply that does not fit is cut to fit (its reason, then its address), and a reply that cannot
be cut (``/metal/state``, ``/metal/pong``) is withheld and counted. A subscriber (the peer that
asked, or where its events go) already receives the music, so replies to it are not capped.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

import structlog
import trio
from metalosc.protocol import Error, Message, encode, encode_bundle

from ._metrics import Metrics, RejectReason
from ._ratelimit import PeerRateLimiter, TokenBucket
from ._subscriptions import Mode, Subscriptions
from ._udp import Peer

__all__ = ["Outbox", "SendTo"]

log = structlog.get_logger("metalosc.server.outbox")

SendTo = Callable[[bytes, Peer], Awaitable[bool]]
"""``send_to(datagram, peer)``: one UDP datagram; ``False`` when the peer is unreachable."""


@dataclass
class _Budget:
    """Bytes the sender of the datagram being handled may still be sent."""

    peer: Peer
    remaining: int


# Per trio task (each task runs in its own context): the datagram a task is answering.
_answering: ContextVar[_Budget | None] = ContextVar("metalosc_answering", default=None)


class Outbox:
    """The daemon's one way out: ``send_to`` (the UDP endpoint's), who is subscribed, the error
    budgets (``error_limiter`` per peer, ``error_total`` for all peers; ``None`` = no global
    cap), and the counters (``metrics``)."""

    def __init__(
        self,
        send_to: SendTo,
        subscriptions: Subscriptions,
        error_limiter: PeerRateLimiter,
        metrics: Metrics,
        *,
        error_total: TokenBucket | None = None,
    ) -> None:
        self._send_to = send_to
        self._subscriptions = subscriptions
        self._error_limiter = error_limiter
        self._error_total = error_total
        self._metrics = metrics

    @contextlib.contextmanager
    def answering(self, peer: Peer, request_bytes: int) -> Iterator[None]:
        """Within the block (in this trio task), replies to ``peer`` are charged to a budget of
        ``request_bytes`` bytes — the size of the datagram being answered — unless ``peer`` is
        a subscriber. Replies to a stranger outside any such block are withheld."""
        token = _answering.set(_Budget(peer, request_bytes))
        try:
            yield
        finally:
            _answering.reset(token)

    def _room(self, peer: Peer) -> int | None:
        """Bytes ``peer`` may be sent now; ``None`` = no cap (a subscriber)."""
        if self._subscriptions.knows(peer):
            return None
        budget = _answering.get()
        return budget.remaining if budget is not None and budget.peer == peer else 0

    def _charge(self, peer: Peer, sent: int) -> None:
        budget = _answering.get()
        if budget is not None and budget.peer == peer:
            budget.remaining = max(0, budget.remaining - sent)

    async def reply(self, message: Message, peer: Peer) -> bool:
        """Send ``message`` to one peer (the sender of a request); a stranger only gets it if
        it fits what is left of its request's budget (else it is withheld and counted in
        ``replies_withheld``). Whether it was sent."""
        data = encode(message)
        room = self._room(peer)
        if room is not None and len(data) > room:
            self._metrics.inc("replies_withheld")
            return False
        self._charge(peer, len(data))
        return await self._send_to(data, peer)

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
        or the daemon is over its error budget (then count the suppressed reply). To a stranger
        the reply is cut to fit its request (reason first, then address), or withheld when even
        an empty one would not fit (``replies_withheld``)."""
        self._metrics.reject(kind)
        now = trio.current_time()
        if not self._error_limiter.allow(peer, now) or (
            self._error_total is not None and not self._error_total.allow(now)
        ):
            self._metrics.inc("error_replies_suppressed")
            return
        log.warning("osc_rejected", peer=f"{peer[0]}:{peer[1]}", address=address, reason=reason)
        data = _error_fitting(address, reason, self._room(peer))
        if data is None:
            self._metrics.inc("replies_withheld")
            return
        self._charge(peer, len(data))
        await self._send_to(data, peer)


def _cut(text: str, max_bytes: int) -> str:
    """``text`` shortened to at most ``max_bytes`` bytes of UTF-8 (never half a character)."""
    return text.encode()[: max(0, max_bytes)].decode(errors="ignore")


def _error_fitting(address: str, reason: str, room: int | None) -> bytes | None:
    """``/metal/error address reason`` in at most ``room`` bytes (``None``: any size): the
    reason is cut first, then the address; ``None`` when an empty one does not fit."""
    data = encode(Error(refused_address=address, reason=reason))
    while room is not None and len(data) > room:
        if not reason and not address:
            return None
        over = len(data) - room
        if reason:
            reason = _cut(reason, len(reason.encode()) - over)
        else:
            address = _cut(address, len(address.encode()) - over)
        data = encode(Error(refused_address=address, reason=reason))
    return data
