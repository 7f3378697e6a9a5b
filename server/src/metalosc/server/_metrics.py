"""Counters of what the daemon did, for logs, tests, benchmarks and the metrics endpoint (one name
per thing).

Counts live in plain Python objects owned by the trio thread (here, and on the runners, buffers,
generator and conductor); the metrics endpoint reads them on that thread at each scrape
(``_prometheus``). Durations are Prometheus histograms from the start, since their buckets are
what the endpoint serves; ``prometheus_client``'s metrics are thread-safe.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client import Histogram

__all__ = ["CONTROL_BUCKETS_S", "DECODE_BUCKETS_S", "Metrics", "RejectReason"]

RejectReason = Literal[
    "oversize",
    "malformed",
    "unknown_address",
    "invalid_arguments",
    "not_a_request",
    "bundle_refused",
    "refused",
]
"""Why a client's request was refused and answered (the ``reason`` label of the rejected-packets
counter): a datagram over the size cap, not OSC at all or cut short, an address the daemon does
not have, arguments of the wrong type or out of range, a server-to-client address sent to the
server, a future bundle beyond the horizon or capacity, or a valid request the music cannot
honour (an unknown scene, a full scene store, a subscription over the cap)."""

DECODE_BUCKETS_S = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 60.0)
"""Bucket bounds (seconds) of a batched decode: milliseconds on tiny models, seconds for a batch
of the big guitar model on a busy machine."""
CONTROL_BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)
"""Bucket bounds (seconds) of handling one control datagram: well under a millisecond when
healthy; anything near the look-ahead (0.15 s) is a problem."""


def _decode_histogram() -> Histogram:
    return Histogram(
        "metalosc_decode_seconds",
        "Seconds a batched decode took, from the request to its measured phrases, per instrument.",
        ["instrument"],
        registry=None,
        buckets=DECODE_BUCKETS_S,
    )


def _control_histogram() -> Histogram:
    return Histogram(
        "metalosc_control_round_trip_seconds",
        "Seconds from a control datagram's arrival in the daemon to the end of its handling "
        "(its reply sent).",
        registry=None,
        buckets=CONTROL_BUCKETS_S,
    )


@dataclass
class Metrics:
    """``counts`` holds monotonically increasing event counts; ``rejected`` the refused requests
    by :data:`RejectReason`; ``leads`` the most recent send leads (seconds between sending a cue
    and its sound time; negative = late); ``decode_seconds`` (per instrument) and
    ``control_seconds`` are histograms, in seconds, not registered anywhere until the metrics
    endpoint registers them."""

    counts: Counter[str] = field(default_factory=Counter)
    leads: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))
    rejected: Counter[str] = field(default_factory=Counter)
    decode_seconds: Histogram = field(default_factory=_decode_histogram)
    control_seconds: Histogram = field(default_factory=_control_histogram)

    def inc(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the count of event ``name``."""
        self.counts[name] += n

    def reject(self, reason: RejectReason) -> None:
        """Count one refused request (also counted in ``errors``)."""
        self.counts["errors"] += 1
        self.rejected[reason] += 1

    def __getitem__(self, name: str) -> int:
        return self.counts[name]
