"""Fakes for the server's unit tests: models that decode deterministically and instantly.

A fake model turns a latent into a phrase whose note count grows with the latent's projection on
the model's tension vector, so "more intense" is known exactly; the fake analysis counts notes.
Real MusicVAE models are only used by the integration tests in ``tests/``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from metalosc.protocol import INSTRUMENTS, Instrument
from metalosc.server import Phrase, PhraseAnalysis, PhraseNote
from metalosc.server._phrase import CHORD_FIT
from server_worker_fakes import fake_chords, fake_sequence

Z_SIZE = 4


class FakeModel:
    """Implements ``InstrumentModelLike``; records every call."""

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.z_size = Z_SIZE
        self.tension_vector = np.array([1.0, 0.0, 0.0, 0.0])
        self.decode_calls: list[tuple[int, float, list[str] | None]] = []
        self.decoded_z: list[np.ndarray] = []  # every latent decoded, in order
        self.closed = False

    def sample_z(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal((n, self.z_size))

    def decode(
        self, z: np.ndarray, temperature: float = 1.0, chords: Sequence[str] | None = None
    ) -> list[Any]:
        if self.instrument == "bass" and chords is None:
            raise ValueError("the bass model needs chords")
        self.decode_calls.append((len(z), temperature, None if chords is None else list(chords)))
        self.decoded_z.extend(np.array(row, dtype=np.float64) for row in z)
        return [fake_sequence(int(np.clip(8 + 4 * row[0], 1, 16))) for row in z]

    def encode(self, seqs: Sequence[Any], chords: Sequence[str] | None = None) -> np.ndarray:
        return np.array([[(len(s.notes) - 8) / 4, 0.0, 0.0, 0.0] for s in seqs])

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def make_fake_models() -> Callable[[], dict[Instrument, FakeModel]]:
    """A maker of fresh fake model sets (e.g. what a reload loads)."""
    return lambda: {i: FakeModel(i) for i in INSTRUMENTS}


@pytest.fixture
def fake_models(
    make_fake_models: Callable[[], dict[Instrument, FakeModel]],
) -> dict[Instrument, FakeModel]:
    return make_fake_models()


@pytest.fixture
def fake_analysis() -> PhraseAnalysis:
    return PhraseAnalysis(
        intensity=lambda seq, instrument: float(len(seq.notes)),
        features=lambda seq, instrument: {"note_density": len(seq.notes) / 2.0},
        chords=fake_chords,
        chord_fit=lambda seq, chords: 0.5,
    )


PhraseMaker = Callable[..., Phrase]


@pytest.fixture
def make_phrase() -> PhraseMaker:
    """``make_phrase(instrument, intensity, z0=..., accompaniment=..., chord_fit=...)``: a phrase
    with one note per unit of intensity, ``z = [z0, 0, 0, 0]`` and, when given, a chord fit."""
    counter = iter(range(1, 1_000_000))

    def make(
        instrument: Instrument,
        intensity: float,
        *,
        z0: float | None = None,
        accompaniment: tuple[Phrase, ...] = (),
        chord_fit: float | None = None,
    ) -> Phrase:
        n = max(1, int(intensity))
        notes = tuple(PhraseNote(40, 100, k * 0.5, k * 0.5 + 0.25) for k in range(min(n, 16)))
        z = np.array([intensity / 8.0 if z0 is None else z0, 0.0, 0.0, 0.0])
        features = {} if chord_fit is None else {CHORD_FIT: chord_fit}
        return Phrase(
            instrument,
            z,
            notes,
            float(intensity),
            features=features,
            accompaniment=accompaniment,
            id=next(counter),
        )

    return make
