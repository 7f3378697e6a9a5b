"""Who receives events, and for how long.

A subscription belongs to the *peer* that asked (its source address) and sends to that peer's
host at the requested port. Any message from the peer renews its lease; a lease not renewed for
``lease_s`` seconds expires, and a destination that turns out to be gone (ICMP port unreachable) is
dropped at once. A destination hears every event once: subscribing it again from another source
port (every ``oscsend`` run, a restarted game's new socket) takes the subscription over instead of
adding a second one, which would double every note. How many may exist at once is capped
(``capacity``): each one costs a datagram per cue, so an unbounded table would let anyone who may
subscribe multiply the daemon's output. Pure: the caller passes the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ._udp import Peer

__all__ = ["Subscription", "SubscriptionRefusedError", "Subscriptions"]

Mode = Literal["bundle", "immediate"]


@dataclass
class Subscription:
    peer: Peer
    destination: Peer
    mode: Mode
    expires_at: float


class SubscriptionRefusedError(Exception):
    """A new subscription beyond the table's ``capacity`` (the message says so, short enough for
    ``/metal/error``)."""


class Subscriptions:
    """Every subscription by the peer that asked; leases last ``lease_s`` seconds from the
    peer's last message (times are passed in: pure); at most ``capacity`` at once."""

    def __init__(self, lease_s: float = 60.0, capacity: int = 64) -> None:
        if lease_s <= 0:
            raise ValueError(f"lease must be positive, got {lease_s}")
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.lease_s = lease_s
        self.capacity = capacity
        self._by_peer: dict[Peer, Subscription] = {}

    def subscribe(self, peer: Peer, port: int | None, mode: Mode, now: float) -> Subscription:
        """(Re)subscribe ``peer``; events go to ``peer``'s host at ``port`` (default: its port).
        Another peer's subscription to the same destination is replaced (module docstring).

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
        sub = Subscription(peer, destination, mode, now + self.lease_s)
        self._by_peer[peer] = sub
        return sub

    def unsubscribe(self, peer: Peer) -> bool:
        """Drop ``peer``'s subscription; whether it had one."""
        return self._by_peer.pop(peer, None) is not None

    def touch(self, peer: Peer, now: float) -> None:
        """Renew ``peer``'s lease (called for every message it sends)."""
        sub = self._by_peer.get(peer)
        if sub is not None:
            sub.expires_at = now + self.lease_s

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
