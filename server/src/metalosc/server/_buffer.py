"""Per-instrument pool of decoded phrases, ranked by how well they fit a tension target.

A phrase's *tension score* (0 calm .. 1 intense) combines two rankings against every phrase this
instrument decoded lately: its measured intensity (``metalosc.runtime.intensity`` of the notes) and
the projection of its latent ``z`` on the bundle's tension attribute vector (the MusicVAE paper's
attribute vectors: the direction from calm to intense training phrases). Ranks rather than raw
values make the two comparable and keep tension 0..1 spanning whatever range the models produce.

The pool never runs dry while playing: when it is empty the nearest recently played phrase is reused
and counted as an underrun.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import numpy.typing as npt
from metalosc.protocol import Instrument
from metalosc.runtime import Phrase, ZVector

__all__ = ["INTENSITY_WEIGHT", "PREFERENCE_SLACK", "PhraseBuffer"]

INTENSITY_WEIGHT = 0.75  # the rest is the latent attribute-vector ranking
#: How much further from the tension (in score units, 0..1) than the nearest phrase a preferred
#: one may be: preferences (key, groove) choose among phrases that still follow the tension.
PREFERENCE_SLACK = 0.15


class PhraseBuffer:
    """One instrument's pool of decoded phrases (at most ``2 · depth``), refilled to ``depth``.

    ``tension_vector`` (``[z_size]``, the bundle's tension attribute) orients the latent half of
    the ranking; ``reference_size`` recent phrases calibrate the ranks; ``history_size`` recently
    played phrases stand in on an underrun. Raises ``ValueError`` for a depth below 1.
    """

    def __init__(
        self,
        instrument: Instrument,
        depth: int,
        tension_vector: ZVector | None = None,
        *,
        reference_size: int = 256,
        history_size: int = 16,
    ) -> None:
        if depth < 1:
            raise ValueError(f"buffer depth must be at least 1, got {depth}")
        self.instrument = instrument
        self.depth = depth
        self.capacity = 2 * depth
        self._direction: ZVector | None = None
        self.set_tension_vector(tension_vector)
        self._pool: list[Phrase] = []
        self._ref_intensity: deque[float] = deque(maxlen=reference_size)
        self._ref_latent: deque[float] = deque(maxlen=reference_size)
        self._history: deque[Phrase] = deque(maxlen=history_size)
        self.underruns = 0

    def __len__(self) -> int:
        return len(self._pool)

    @property
    def phrases(self) -> tuple[Phrase, ...]:
        """The phrases waiting to be picked, in pool order."""
        return tuple(self._pool)

    def set_tension_vector(self, vector: ZVector | None) -> None:
        """Use ``vector`` (the bundle's tension attribute) as the latent direction of intensity."""
        if vector is None:
            self._direction = None
            return
        vector = np.asarray(vector, dtype=np.float64)
        norm = float(np.linalg.norm(vector))
        self._direction = vector / norm if norm > 0 else None

    @property
    def missing(self) -> int:
        """How many phrases a refill should decode to get back to the target depth."""
        return max(0, self.depth - len(self._pool))

    def _latent(self, phrase: Phrase) -> float:
        if self._direction is None or phrase.z.shape != self._direction.shape:
            return 0.0
        return float(phrase.z @ self._direction)

    def observe(self, phrases: Iterable[Phrase]) -> None:
        """Add phrases to the calibration reference without offering them for picking."""
        for phrase in phrases:
            self._ref_intensity.append(phrase.intensity)
            self._ref_latent.append(self._latent(phrase))

    def add(self, phrases: Sequence[Phrase], tension: float) -> None:
        """Offer freshly decoded phrases; past capacity the ones least fit for ``tension`` go."""
        self.observe(phrases)
        self._pool.extend(phrases)
        if len(self._pool) > self.capacity:
            scores = self.scores(self._pool)
            order = np.argsort(np.abs(scores - tension), kind="stable")
            keep = sorted(order[: self.capacity].tolist())
            self._pool = [self._pool[i] for i in keep]

    def scores(self, phrases: Sequence[Phrase]) -> npt.NDArray[np.float64]:
        """Tension score in [0, 1] of each phrase, ranked against the reference."""
        if not phrases:
            return np.zeros(0)
        intensity = np.array([p.intensity for p in phrases])
        latent = np.array([self._latent(p) for p in phrases])
        ref_i = np.sort(np.concatenate([np.array(self._ref_intensity), intensity]))
        ref_l = np.sort(np.concatenate([np.array(self._ref_latent), latent]))
        score = INTENSITY_WEIGHT * _percentile(ref_i, intensity)
        score += (1.0 - INTENSITY_WEIGHT) * _percentile(ref_l, latent)
        return score

    def pick(
        self,
        tension: float,
        candidates: Sequence[Phrase] | None = None,
        *,
        prefer: Sequence[Callable[[Phrase], bool]] = (),
        slack: float = PREFERENCE_SLACK,
    ) -> Phrase | None:
        """The phrase whose score is closest to ``tension``, taken out of the pool.

        ``candidates`` restricts the choice (the bass picks among the phrases decoded on the guitar
        phrase's chords); ``prefer`` holds tests in order of preference (a riff that fits the
        key; a groove that keeps most of the old one's hits, else some): among the phrases within
        ``slack`` (score units, 0..1; ``math.inf``: all) of the nearest one's distance to
        ``tension``, the choice narrows to those the first test accepting any of them accepts,
        the nearest to ``tension`` among them. An empty pool reuses the nearest
        recently played phrase (an underrun); ``None`` only before anything was ever decoded.
        """
        from_pool = candidates is None
        choices = list(self._pool if candidates is None else candidates)
        if not choices:
            self.underruns += 1
            choices = list(self._history)
            from_pool = False
            if not choices:
                return None
        distances = np.abs(self.scores(choices) - tension)
        near = distances <= distances.min() + slack
        for test in prefer:
            accepted = near & np.array([test(p) for p in choices])
            if accepted.any():
                distances = np.where(accepted, distances, np.inf)
                break
        best = choices[int(np.argmin(distances))]
        if from_pool:
            self._pool.remove(best)
        self._history.append(best)
        return best

    def nearest(self, z: ZVector) -> Phrase | None:
        """The pooled or recently played phrase whose ``z`` is closest to ``z`` (not taken)."""
        choices = [*self._pool, *self._history]
        if not choices:
            return None
        distances = [float(np.linalg.norm(p.z - z)) for p in choices]
        return choices[int(np.argmin(distances))]

    def played(self, phrase: Phrase) -> None:
        """Record a phrase played without being picked here (e.g. an interpolation step)."""
        self._history.append(phrase)


def _percentile(
    sorted_ref: npt.NDArray[np.float64], values: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Mid-rank of each value in ``sorted_ref`` scaled to [0, 1] (ties share a rank)."""
    if len(sorted_ref) <= 1:
        return np.full(len(values), 0.5)
    lo = np.searchsorted(sorted_ref, values, side="left")
    hi = np.searchsorted(sorted_ref, values, side="right")
    return np.asarray(((lo + hi - 1) / 2.0) / (len(sorted_ref) - 1), dtype=np.float64)
