"""Picklable model factories for the worker-process tests (no TensorFlow).

Spawned workers import this module by name, so it lives on ``sys.path`` (pytest's
``pythonpath`` names this directory) rather than in ``conftest.py``; ``conftest.py`` takes its
phrase builder and chords from here too. A fake model decodes a latent into a quantized phrase
whose note count follows the latent's first component, like the unit tests' ``FakeModel``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
from metalosc.protocol import Instrument, ModelBundleError
from metalosc.server import PhraseAnalysis

Z_SIZE = 4
EXIT_TEMPERATURE = 0.123  # a decode at this temperature kills the worker (a crash mid-decode)
SLOW_TEMPERATURE = 0.456  # a decode at this temperature takes 30 s (a worker that hangs)


def fake_sequence(n_notes: int, pitch: int = 40) -> SimpleNamespace:
    """A duck-typed quantized NoteSequence: ``n_notes`` sixteenths from the phrase start."""
    notes = [
        SimpleNamespace(
            pitch=pitch + (k % 5),
            velocity=100,
            quantized_start_step=2 * k,
            quantized_end_step=2 * k + 1,
            start_time=0.0,
            end_time=0.0,
        )
        for k in range(n_notes)
    ]
    return SimpleNamespace(
        notes=notes, tempos=[], quantization_info=SimpleNamespace(steps_per_quarter=4)
    )


class WorkerFakeModel:
    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.z_size = Z_SIZE
        self.tension_vector = np.array([1.0, 0.0, 0.0, 0.0])

    def sample_z(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal((n, self.z_size))

    def decode(
        self, z: np.ndarray, temperature: float = 1.0, chords: Sequence[str] | None = None
    ) -> list[Any]:
        if self.instrument == "bass" and chords is None:
            raise ValueError("the bass model needs chords")
        if temperature == EXIT_TEMPERATURE:
            os._exit(3)
        if temperature == SLOW_TEMPERATURE:
            time.sleep(30)
        return [fake_sequence(int(np.clip(8 + 4 * row[0], 1, 16))) for row in z]

    def encode(self, seqs: Sequence[Any], chords: Sequence[str] | None = None) -> np.ndarray:
        return np.zeros((len(seqs), self.z_size))

    def close(self) -> None:
        pass


def fake_chords(seq: Any) -> list[str]:
    return ["E5", "G5"] if len(seq.notes) % 2 else ["A5", "C5"]


def _intensity(seq: Any, instrument: Instrument) -> float:
    return float(len(seq.notes))


def _features(seq: Any, instrument: Instrument) -> dict[str, float]:
    return {"note_density": len(seq.notes) / 2.0}


def _chord_fit(seq: Any, chords: Sequence[str]) -> float:
    return 1.0 / len(seq.notes) if seq.notes else 0.5


@dataclass(frozen=True)
class FakeFactory:
    """``ModelFactory`` of a fake model; ``broken`` makes loading fail naming that file."""

    instrument: Instrument
    broken: Path | None = None

    def load_model(self) -> WorkerFakeModel:
        if self.broken is not None:
            raise ModelBundleError(self.broken, "not JSON")
        return WorkerFakeModel(self.instrument)

    def load_analysis(self) -> PhraseAnalysis:
        return PhraseAnalysis(
            intensity=_intensity, features=_features, chords=fake_chords, chord_fit=_chord_fit
        )
