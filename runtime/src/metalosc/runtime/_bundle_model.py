"""What a model bundle gives every backend: the manifest, the attribute vectors, the latent prior
and the chord controls of the chord-conditioned bass.

:class:`~metalosc.runtime.InstrumentModel` (TensorFlow, decodes and encodes) and
:class:`~metalosc.runtime.OnnxInstrumentModel` (ONNX Runtime, decodes) are both a
:class:`BundleModel`; they differ only in the graph that runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from metalosc.protocol import (
    ATTRIBUTES_FILE,
    FILL_ATTRIBUTE,
    TENSION_ATTRIBUTE,
    Instrument,
    ModelManifest,
)
from numpy.typing import NDArray

from ._chords import chord_controls
from ._meter import STEPS_PER_BAR

__all__ = ["BundleModel", "load_attributes"]


def load_attributes(bundle_dir: Path) -> dict[str, NDArray[Any]]:
    """Every array of the bundle's attributes.npz, by name (``tension``: ``[z_size]`` float32,
    and ``fill`` where the bundle has one). Raises ``OSError``/``ValueError`` from numpy; callers
    check the bundle first (``check_model_bundle``)."""
    with np.load(bundle_dir / ATTRIBUTES_FILE, allow_pickle=False) as archive:
        return {key: np.asarray(archive[key]) for key in archive.files}


class BundleModel:
    """One instrument's model from a bundle, whatever runs it.

    ``steps``: the phrase length the graph decodes (32 sixteenths = 2 bars); ``control_depth``:
    the width of one step's chord control (0 for the unconditioned models); ``chord_encoding``:
    note_seq's triad encoding or the runtime's restatement of it.
    """

    def __init__(
        self,
        manifest: ModelManifest,
        attributes: dict[str, NDArray[Any]],
        *,
        z_size: int,
        steps: int,
        control_depth: int,
        chord_encoding: Any,
    ) -> None:
        self.manifest = manifest
        self.instrument: Instrument = manifest.instrument
        self.z_size = z_size
        self.attributes = attributes
        self.tension_vector: NDArray[Any] = attributes[TENSION_ATTRIBUTE].astype(np.float32)
        self.bars = steps // STEPS_PER_BAR
        self._steps = steps
        self._control_depth = control_depth
        self._chord_encoding = chord_encoding

    @property
    def fill_vector(self) -> NDArray[Any]:
        """The bundle's fill attribute vector (``[z_size]`` float32: mean latent of drum fills
        minus that of beats), or zeros when the bundle has none (every non-drums bundle, and drums
        bundles exported without fill labels): adding a multiple of zeros changes nothing."""
        vector = self.attributes.get(FILL_ATTRIBUTE)
        if vector is None:
            return np.zeros(self.z_size, np.float32)
        return np.asarray(vector, np.float32)

    @property
    def chord_conditioned(self) -> bool:
        """Whether decoding needs one chord symbol per bar (the bass model)."""
        return self._control_depth > 0

    def sample_z(self, n: int, rng: np.random.Generator) -> NDArray[Any]:
        """``[n, z_size]`` float32 latent vectors from the prior N(0, I)."""
        return rng.standard_normal((n, self.z_size)).astype(np.float32)

    def _controls(self, chords: Sequence[str] | None) -> NDArray[Any] | None:
        """``[steps, control_depth]`` chord controls for ``chords`` (one per bar), or ``None`` for
        an unconditioned model. Raises ``ValueError`` when chords are missing or not wanted."""
        if not self.chord_conditioned:
            if chords is not None:
                raise ValueError(f"the {self.instrument} model is not chord-conditioned")
            return None
        if chords is None:
            raise ValueError(f"the {self.instrument} model needs chords (one symbol per bar)")
        return chord_controls(self._chord_encoding, chords, self._steps)
