"""Rate limiter and subscription bookkeeping: pure, time passed in explicitly."""

from __future__ import annotations

import pytest
from metalosc.server import PeerRateLimiter, Subscriptions, TokenBucket

A = ("10.0.0.1", 4000)
B = ("10.0.0.2", 4000)


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3.0, tokens=3.0, updated=0.0)
    assert [bucket.allow(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.allow(0.5) is True  # one token per 0.5 s
    assert bucket.allow(0.5) is False
    assert [bucket.allow(100.0) for _ in range(4)] == [True, True, True, False]  # capped at burst


def test_limiter_keeps_one_budget_per_peer_and_forgets_idle_ones() -> None:
    limiter = PeerRateLimiter(rate=1.0, burst=1.0, max_peers=2)
    assert limiter.allow(A, 0.0)
    assert not limiter.allow(A, 0.1)
    assert limiter.allow(B, 0.1)
    assert limiter.allow(("10.0.0.3", 1), 5.0)  # A and B are idle and full again: forgotten
    assert len(limiter) == 1


def test_limiter_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="rate"):
        PeerRateLimiter(rate=0.0)


def test_subscription_destination_defaults_to_the_source_port() -> None:
    subs = Subscriptions(lease_s=10.0)
    assert subs.subscribe(A, None, "bundle", 0.0).destination == A
    assert subs.subscribe(B, 9001, "immediate", 0.0).destination == ("10.0.0.2", 9001)
    assert [s.peer for s in subs.active("immediate")] == [B]
    assert A in subs
    assert len(subs) == 2


def test_subscribing_a_destination_again_from_another_port_replaces_it() -> None:
    # oscsend sends each /metal/subscribe from a new port; the game's listener is one destination.
    subs = Subscriptions(lease_s=10.0)
    first = ("10.0.0.1", 50001)
    second = ("10.0.0.1", 50002)
    subs.subscribe(first, 9001, "bundle", 0.0)
    subs.subscribe(B, 9001, "bundle", 0.0)  # another host's port 9001: another destination
    subs.subscribe(second, 9001, "immediate", 1.0)
    assert [(s.peer, s.destination, s.mode) for s in subs.active()] == [
        (B, ("10.0.0.2", 9001), "bundle"),
        (second, ("10.0.0.1", 9001), "immediate"),
    ]
    assert first not in subs
    subs.touch(first, 5.0)  # the old socket renews nothing
    assert [s.peer for s in subs.expire(11.0)] == [B, second]


def test_leases_expire_unless_touched() -> None:
    subs = Subscriptions(lease_s=10.0)
    subs.subscribe(A, None, "bundle", 0.0)
    subs.subscribe(B, None, "bundle", 0.0)
    subs.touch(A, 8.0)
    assert subs.next_expiry() == 10.0
    assert [s.peer for s in subs.expire(10.0)] == [B]
    assert subs.expire(17.9) == []
    assert [s.peer for s in subs.expire(18.0)] == [A]
    assert subs.next_expiry() is None


def test_a_refusing_destination_drops_its_subscriptions() -> None:
    subs = Subscriptions()
    subs.subscribe(A, 9001, "bundle", 0.0)
    subs.subscribe(B, None, "bundle", 0.0)
    assert [s.peer for s in subs.drop_destination(("10.0.0.1", 9001))] == [A]
    assert subs.drop_destination(("10.0.0.1", 9001)) == []
    assert subs.unsubscribe(B)
    assert not subs.unsubscribe(B)
