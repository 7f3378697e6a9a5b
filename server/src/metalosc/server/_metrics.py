"""Counters of what the daemon did, for logs, tests and benchmarks (one name per thing)."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

__all__ = ["Metrics"]


@dataclass
class Metrics:
    """``counts`` holds monotonically increasing event counts; ``leads`` the most recent send leads
    (seconds between sending a cue and its sound time; negative = late)."""

    counts: Counter[str] = field(default_factory=Counter)
    leads: deque[float] = field(default_factory=lambda: deque(maxlen=100_000))

    def inc(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the count of event ``name``."""
        self.counts[name] += n

    def __getitem__(self, name: str) -> int:
        return self.counts[name]
