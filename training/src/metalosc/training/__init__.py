"""``metalosc.training``: the offline pipeline, a Metal MIDI corpus to fine-tuned MusicVAE bundles.

Stages (``metalosc-train``): split -> convert -> train -> evaluate -> export, plus generate,
quality and attributes (a drums bundle's fill vector, :func:`update_fill_vector`);
``training/README.md`` describes them, the work directory and the presets. The models and
musical measures the pipeline shares with the daemon live in :mod:`metalosc.runtime`;
:func:`make_tiny_bundles` makes real tiny bundles for tests.
"""

from metalosc.training._attributes import update_fill_vector
from metalosc.training._dataset import Examples, extract_examples, load_examples
from metalosc.training._evaluate import Accuracy, evaluate_examples
from metalosc.training._export import export_bundle
from metalosc.training._fill import (
    FillVector,
    LabelledWindows,
    fill_response,
    fill_vector,
    groove_windows,
    label_windows,
)
from metalosc.training._synthetic import make_tiny_bundles, synthetic_corpus, synthetic_song
from metalosc.training._train import TrainResult, train

__all__ = [
    "Accuracy",
    "Examples",
    "FillVector",
    "LabelledWindows",
    "TrainResult",
    "evaluate_examples",
    "export_bundle",
    "extract_examples",
    "fill_response",
    "fill_vector",
    "groove_windows",
    "label_windows",
    "load_examples",
    "make_tiny_bundles",
    "synthetic_corpus",
    "synthetic_song",
    "train",
    "update_fill_vector",
]
