"""MetalOSC offline pipeline: a Metal MIDI corpus to fine-tuned MusicVAE model bundles.

Stages (``metalosc-train``): split -> convert -> train -> evaluate -> export, plus generate.
The model API the server uses: :class:`InstrumentModel`, :func:`infer_chords`, :func:`chord_fit`,
:data:`PRESETS`, :func:`build_config`; :func:`make_tiny_bundles` makes real tiny bundles for tests.
"""

from metalosc.training._dataset import Examples, extract_examples, load_examples
from metalosc.training._evaluate import Accuracy, evaluate_examples
from metalosc.training._export import export_bundle
from metalosc.training._features import intensity, phrase_features
from metalosc.training._harmony import BASS_CANDIDATES, chord_fit
from metalosc.training._model import (
    CheckpointError,
    InstrumentModel,
    ModelSession,
    chord_controls,
    infer_chords,
    normalize_chord,
)
from metalosc.training._presets import PRESET_SETS, PRESETS, Preset, build_config, get_preset
from metalosc.training._synthetic import make_tiny_bundles, synthetic_corpus, synthetic_song
from metalosc.training._train import TrainResult, train

__all__ = [
    "BASS_CANDIDATES",
    "PRESETS",
    "PRESET_SETS",
    "Accuracy",
    "CheckpointError",
    "Examples",
    "InstrumentModel",
    "ModelSession",
    "Preset",
    "TrainResult",
    "build_config",
    "chord_controls",
    "chord_fit",
    "evaluate_examples",
    "export_bundle",
    "extract_examples",
    "get_preset",
    "infer_chords",
    "intensity",
    "load_examples",
    "make_tiny_bundles",
    "normalize_chord",
    "phrase_features",
    "synthetic_corpus",
    "synthetic_song",
    "train",
]
