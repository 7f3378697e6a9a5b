"""Per-peer token buckets, so a misbehaving client cannot turn us into an error-reply firehose.

Pure: the caller passes the time, which makes the limiter exact under ``MockClock`` and usable from
any clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._udp import Peer

__all__ = ["PeerRateLimiter", "TokenBucket"]


@dataclass
class TokenBucket:
    """``burst`` tokens at most, refilled at ``rate`` per second; each allowed event costs one."""

    rate: float
    burst: float
    tokens: float
    updated: float

    def allow(self, now: float) -> bool:
        """Whether an event at ``now`` (seconds, any clock) fits; spends a token if so."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class PeerRateLimiter:
    """One bucket per peer address; idle full buckets are forgotten so the table stays small."""

    def __init__(self, rate: float = 5.0, burst: float = 10.0, max_peers: int = 4096) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"need rate > 0 and burst >= 1, got rate={rate} burst={burst}")
        self.rate = rate
        self.burst = burst
        self.max_peers = max_peers
        self._buckets: dict[Peer, TokenBucket] = {}

    def allow(self, peer: Peer, now: float) -> bool:
        """Whether ``peer`` may have one more event at time ``now`` (seconds); spends its token."""
        bucket = self._buckets.get(peer)
        if bucket is None:
            if len(self._buckets) >= self.max_peers:
                self._forget_idle(now)
            bucket = TokenBucket(self.rate, self.burst, self.burst, now)
            self._buckets[peer] = bucket
        return bucket.allow(now)

    def _forget_idle(self, now: float) -> None:
        refill = self.burst / self.rate
        self._buckets = {p: b for p, b in self._buckets.items() if now - b.updated < refill}
        if len(self._buckets) >= self.max_peers:  # all busy: drop the oldest half
            oldest = sorted(self._buckets, key=lambda p: self._buckets[p].updated)
            for p in oldest[: len(oldest) // 2]:
                del self._buckets[p]

    def __len__(self) -> int:
        return len(self._buckets)
