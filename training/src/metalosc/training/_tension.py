"""Tension calibration: does a bundle's decoded intensity follow the tension it is asked for?

Per instrument, ``phrases`` latents from the prior are placed along the bundle's tension attribute
vector with :func:`metalosc.runtime.place_tension` (the coordinate along v set to
(2·tension − 1)·TENSION_PUSH·‖v‖) for tensions evenly spaced in [0, 1]. That is the daemon's
mapping too: its refill places every latent it samples with the same function, around the
requested tension. Each phrase is decoded (the bass on the chords inferred from the guitar phrase
at the same tension, as the server does), scored with :func:`metalosc.runtime.intensity`, and
the Spearman rank correlation between requested tension and measured intensity is reported.
Ranks, because the server only needs "more tension → more intense", not a linear scale. Paired
anchors — the same latents decoded at tension 0, 0.5 and 1 — give the mean intensity at each end
and the share of latents that really get more intense from 0 to 1. The server's phrase buffer
then *ranks* decoded phrases by intensity on top of this, so this is the floor of what a player
hears, not the ceiling.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np
import structlog
from metalosc.protocol import INSTRUMENTS, Instrument
from metalosc.runtime import (
    PHRASE_BARS,
    TENSION_AXES,
    InstrumentModel,
    infer_chords,
    intensity,
    place_tension,
)
from metalosc.training._generate import decode_best_bass
from metalosc.training._midi_io import NoteSequence
from numpy.typing import NDArray

log = structlog.get_logger(__name__)

#: The tensions whose mean intensity the report names.
ANCHORS = (0.0, 0.5, 1.0)
#: The Spearman correlation the shipped bundles are held to.
TARGET_SPEARMAN = 0.9
#: Fewest sweep phrases a rank correlation is computed from.
MIN_PHRASES = 4


class TensionModel(Protocol):
    """What the calibration statistics read of a model (an :class:`InstrumentModel`)."""

    @property
    def tension_vector(self) -> NDArray[Any]: ...

    @property
    def z_size(self) -> int: ...


def _finite(value: float) -> float | None:
    """`value`, or None for NaN (JSON has no NaN)."""
    return None if math.isnan(value) else value


@dataclass(frozen=True)
class TensionCalibration:
    """How well one instrument's decoded intensity follows the requested tension."""

    instrument: Instrument
    phrases: int
    spearman: float  # NaN when the intensities do not vary at all
    p_value: float
    mean_intensity: dict[str, float]  # {"0.0": ..., "0.5": ..., "1.0": ...} over paired latents
    anchor_latents: int
    monotone_fraction: float  # share of paired latents more intense at 1 than at 0
    vector_norm: float
    z_size: int
    projection_top_quartile: float  # mean z·v̂ of the most intense quarter of the sweep
    projection_bottom_quartile: float  # ... and of the calmest quarter

    @property
    def meets_target(self) -> bool:
        """Whether the Spearman correlation reaches :data:`TARGET_SPEARMAN`."""
        return not math.isnan(self.spearman) and self.spearman >= TARGET_SPEARMAN

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes null), with `meets_target`."""
        entry = asdict(self)
        entry["spearman"] = _finite(self.spearman)
        entry["p_value"] = _finite(self.p_value)
        entry["meets_target"] = self.meets_target
        return entry


def _spearman(x: NDArray[np.float64], y: NDArray[np.float64]) -> tuple[float, float]:
    from scipy import stats

    if np.ptp(y) == 0 or np.ptp(x) == 0:
        return math.nan, math.nan
    result = stats.spearmanr(x, y)
    return float(result.correlation), float(result.pvalue)


def _calibration(
    model: TensionModel,
    instrument: Instrument,
    tensions: NDArray[np.float64],
    z: NDArray[np.floating[Any]],
    scores: NDArray[np.float64],
    anchor_latents: int,
) -> TensionCalibration:
    """The statistics of one instrument from its rows: first the sweep, then the anchor rows
    (all latents at :data:`ANCHORS` [0], then all at [1], ...), as :func:`calibrate_tension`
    lays them out."""
    sweep = len(tensions) - len(ANCHORS) * anchor_latents
    rho, p = _spearman(tensions[:sweep], scores[:sweep])
    anchors = scores[sweep:].reshape(len(ANCHORS), anchor_latents)
    vector = np.asarray(model.tension_vector, np.float64)
    norm = float(np.linalg.norm(vector))
    unit = vector / norm if norm > 0 else vector
    projection = z[:sweep].astype(np.float64) @ unit
    order = np.argsort(scores[:sweep], kind="stable")
    quarter = max(1, sweep // 4)
    return TensionCalibration(
        instrument=instrument,
        phrases=sweep,
        spearman=rho,
        p_value=p,
        mean_intensity={
            f"{t:.1f}": float(row.mean()) for t, row in zip(ANCHORS, anchors, strict=True)
        },
        anchor_latents=anchor_latents,
        monotone_fraction=float(np.mean(anchors[-1] > anchors[0])),
        vector_norm=norm,
        z_size=model.z_size,
        projection_top_quartile=float(projection[order[-quarter:]].mean()),
        projection_bottom_quartile=float(projection[order[:quarter]].mean()),
    )


def calibrate_tension(
    models: Mapping[Instrument, InstrumentModel],
    *,
    phrases: int,
    temperature: float,
    rng: np.random.Generator,
) -> dict[Instrument, TensionCalibration]:
    """Per instrument: a sweep of `phrases` prior latents at tensions linspace(0, 1), then
    `max(2, phrases // 4)` latents each decoded at the three :data:`ANCHORS`. The bass row i
    plays on the chords of guitar row i (same tension), as in the server."""
    if phrases < MIN_PHRASES:
        raise ValueError(f"phrases must be >= {MIN_PHRASES} for a rank correlation, got {phrases}")
    anchor_latents = max(2, phrases // 4)
    tensions = np.concatenate(
        [np.linspace(0.0, 1.0, phrases), np.repeat(np.asarray(ANCHORS), anchor_latents)]
    )
    decoded: dict[Instrument, list[NoteSequence]] = {}
    latents: dict[Instrument, NDArray[np.float64]] = {}
    # The guitar first: the bass plays on the chords of the guitar phrases.
    for instrument in ("guitar", "drums", "bass"):
        model = models[instrument]
        base = model.sample_z(phrases + anchor_latents, rng)
        # The anchors reuse the same latents at each anchor tension (a paired comparison).
        rows = np.concatenate([base[:phrases], np.tile(base[phrases:], (len(ANCHORS), 1))])
        z = place_tension(rows, model.tension_vector, tensions, TENSION_AXES[instrument])
        if model.chord_conditioned:
            progressions = [infer_chords(g, bars=PHRASE_BARS) for g in decoded["guitar"]]
            decoded[instrument] = decode_best_bass(model, z[None], progressions, temperature)
        else:
            decoded[instrument] = model.decode(z, temperature)
        latents[instrument] = z
    out = {}
    for instrument in INSTRUMENTS:
        scores = np.asarray([intensity(seq, instrument) for seq in decoded[instrument]])
        out[instrument] = _calibration(
            models[instrument], instrument, tensions, latents[instrument], scores, anchor_latents
        )
        log.info(
            "quality.tension",
            instrument=instrument,
            spearman=out[instrument].spearman,
            mean_intensity=out[instrument].mean_intensity,
        )
    return out
