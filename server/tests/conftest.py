"""Fixtures of the server's unit tests: fake models that decode deterministically and instantly.

The fakes come from the public test kit, ``metalosc.server.testing``: a fake model turns a latent
into a phrase whose note count grows with the latent's projection on the model's tension vector,
so "more intense" is known exactly; the fake analysis counts notes. Real MusicVAE models are only
used by the integration tests in ``tests/``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from metalosc.protocol import INSTRUMENTS, Instrument
from metalosc.runtime import CHORD_FIT, Phrase, PhraseNote
from metalosc.server import PhraseAnalysis
from metalosc.server.testing import FakeModel, FakeModelSource, fake_analysis as make_fake_analysis


@pytest.fixture
def make_fake_models() -> Callable[[], dict[Instrument, FakeModel]]:
    """A maker of fresh fake model sets."""
    return lambda: {i: FakeModel(i) for i in INSTRUMENTS}


@pytest.fixture
def fake_models(
    make_fake_models: Callable[[], dict[Instrument, FakeModel]],
) -> dict[Instrument, FakeModel]:
    return make_fake_models()


@pytest.fixture
def fake_analysis() -> PhraseAnalysis:
    return make_fake_analysis()


@pytest.fixture
def fake_source() -> FakeModelSource:
    """An executor source of fake models for ``serve`` (it records every set it opens)."""
    return FakeModelSource()


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
