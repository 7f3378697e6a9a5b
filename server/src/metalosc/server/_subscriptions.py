"""Who receives events, and for how long.

A subscription belongs to the *peer* that asked (its source address) and sends to that peer's
host at the requested port. Any message from the peer renews its lease; a lease not renewed for
its length expires — ``lease_s`` seconds unless the subscriber asked for another length, which is
granted up to ``max_lease_s`` (a listener that renews every few seconds can ask for a short lease,
so that it is forgotten soon after it goes; a tablet can ask for an hour) — and a destination
that turns out to be gone (ICMP port unreachable) is dropped at once. A destination hears every
event once: subscribing it again from another source port (every ``oscsend`` run, a restarted
game's new socket) takes the subscription over instead of adding a second one, which would
double every note. How many may exist at once is capped (``capacity``): each one costs a
datagram per cue, so an unbounded table would let anyone who may subscribe multiply the
daemon's output. Pure: the caller passes the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._udp import Peer

__all__ = ["Subscription", "SubscriptionRefusedError", "Subscriptions"]

Mode = Literal["bundle", "immediate"]


@dataclass
class Subscription:
    """Events of ``mode`` go to ``destination`` for ``peer``, until ``expires_at`` (the clock of
    the times passed in), renewed by ``lease_s`` seconds at each of the peer's messages."""

    peer: Peer
    destination: Peer
    mode: Mode
    expires_at: float
    lease_s: float = 60.0


class SubscriptionRefusedError(Exception):
    """A new subscription beyond the table's ``capacity`` (the message says so, short enough for
    ``/metal/error``)."""


class Subscriptions:
    """Every subscription by the peer that asked; leases last ``lease_s`` seconds from the
    peer's last message unless the subscriber asked for another length, granted up to
    ``max_lease_s`` (times are passed in: pure); at most ``capacity`` at once. Raises
    ``ValueError`` for a lease that is not positive, a maximum below the default or a capacity
    below one."""

    def __init__(
        self, lease_s: float = 60.0, capacity: int = 64, *, max_lease_s: float | None = None
    ) -> None:
        if lease_s <= 0:
            raise ValueError(f"lease must be positive, got {lease_s}")
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        longest = lease_s if max_lease_s is None else max_lease_s
        if longest < lease_s:
            raise ValueError(f"the longest lease ({longest} s) is shorter than the default")
        self.lease_s = lease_s
        self.max_lease_s = longest
        self.capacity = capacity
        self._by_peer: dict[Peer, Subscription] = {}

    def grant(self, requested: float | None) -> float:
        """The lease (seconds) a subscriber asking for ``requested`` gets: the default for
        ``None``, otherwise at most ``max_lease_s``."""
        return self.lease_s if requested is None else min(float(requested), self.max_lease_s)

    def subscribe(
        self,
        peer: Peer,
        port: int | None,
        mode: Mode,
        now: float,
        lease_s: float | None = None,
    ) -> Subscription:
        """(Re)subscribe ``peer`` for a lease of ``lease_s`` seconds (:meth:`grant`); events go
        to ``peer``'s host at ``port`` (default: its port). Another peer's subscription to the
        same destination is replaced (module docstring).

        Raises :class:`SubscriptionRefusedError` when ``capacity`` subscriptions exist and this
        one would replace none of them."""
        destination = (peer[0], port if port is not None else peer[1])
        replaces = peer in self._by_peer or any(
            s.destination == destination for s in self._by_peer.values()
        )
        if not replaces and len(self._by_peer) >= self.capacity:
            raise SubscriptionRefusedError(
                f"{self.capacity} subscribers already; try again when one leaves"
            )
        self.drop_destination(destination)
        lease = self.grant(lease_s)
        sub = Subscription(peer, destination, mode, now + lease, lease)
        self._by_peer[peer] = sub
        return sub

    def unsubscribe(self, peer: Peer) -> bool:
        """Drop ``peer``'s subscription; whether it had one."""
        return self._by_peer.pop(peer, None) is not None

    def touch(self, peer: Peer, now: float) -> None:
        """Renew ``peer``'s lease (called for every message it sends)."""
        sub = self._by_peer.get(peer)
        if sub is not None:
            sub.expires_at = now + sub.lease_s

    def expire(self, now: float) -> list[Subscription]:
        """Drop and return the subscriptions whose lease ran out."""
        gone = [s for s in self._by_peer.values() if s.expires_at <= now]
        for sub in gone:
            del self._by_peer[sub.peer]
        return gone

    def drop_destination(self, destination: Peer) -> list[Subscription]:
        """Drop every subscription sending to ``destination`` (it refused a datagram)."""
        gone = [s for s in self._by_peer.values() if s.destination == destination]
        for sub in gone:
            del self._by_peer[sub.peer]
        return gone

    def next_expiry(self) -> float | None:
        """The earliest lease end (the clock of the times passed in); ``None`` without any."""
        return min((s.expires_at for s in self._by_peer.values()), default=None)

    def active(self, mode: Mode | None = None) -> list[Subscription]:
        """The subscriptions (of ``mode``, or all), in subscription order."""
        return [s for s in self._by_peer.values() if mode is None or s.mode == mode]

    def knows(self, address: Peer) -> bool:
        """Whether ``address`` subscribed (as the peer that asked) or receives events (as a
        destination): what it is sent is no news to it, so replies to it are not capped by the
        size of its request."""
        return address in self._by_peer or any(
            s.destination == address for s in self._by_peer.values()
        )

    def __len__(self) -> int:
        return len(self._by_peer)

    def __contains__(self, peer: object) -> bool:
        return peer in self._by_peer
