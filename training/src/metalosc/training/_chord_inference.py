"""A process-wide memo for note_seq's chord-inference transition matrix.

``note_seq.chord_inference.infer_chords_for_sequence`` rebuilds a 1164x1164 key-chord transition
matrix in pure-Python loops on every call (1-2 s on two cores), although the matrix depends only
on three constants. Chords are inferred once per guitar phrase (server, generate, quality) and per
song window (convert), so without the memo chord inference dominates those paths — and in the
daemon it holds the GIL for seconds. note_seq offers no hook, so the module-level function is
wrapped once; the wrapper returns the very matrix the original computes (made read-only), so the
inferred chords are identical.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

_lock = threading.Lock()
_original: Any = None  # note_seq's own function, once the memo is installed


def install_transition_cache() -> None:
    """Memoize note_seq's transition matrix (idempotent, thread-safe)."""
    global _original
    with _lock:
        if _original is not None:
            return
        from note_seq import chord_inference

        original = chord_inference._key_chord_transition_distribution
        cache: dict[tuple[Any, ...], np.ndarray] = {}

        def cached(
            key_chord_distribution: np.ndarray, key_change_prob: float, chord_change_prob: float
        ) -> np.ndarray:
            dist = np.asarray(key_chord_distribution)
            key = (dist.shape, dist.tobytes(), key_change_prob, chord_change_prob)
            with _lock:
                matrix = cache.get(key)
            if matrix is None:
                matrix = original(
                    dist, key_change_prob=key_change_prob, chord_change_prob=chord_change_prob
                )
                matrix.flags.writeable = False
                with _lock:
                    cache[key] = matrix
            return matrix

        chord_inference._key_chord_transition_distribution = cached
        _original = original
