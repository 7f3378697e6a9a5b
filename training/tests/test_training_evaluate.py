"""Evaluation (accuracies in [0, 1], JSON shape) and the tension attribute vector."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from metalosc.protocol import Instrument
from metalosc.runtime import InstrumentModel, intensity
from metalosc.training import extract_examples
from metalosc.training._convert import annotate_chords
from metalosc.training._evaluate import (
    evaluate_examples,
    evaluation_json,
    read_evaluation,
    write_evaluation,
)
from metalosc.training._synthetic import instrument_part, synthetic_corpus, synthetic_song

pytestmark = pytest.mark.slow


def _parts(instrument: Instrument, seed: int) -> list:
    songs = synthetic_corpus(4, seed=seed, bars=6)
    parts = [instrument_part(s, instrument) for s in songs]
    if instrument == "bass":
        parts = [
            annotate_chords(b, instrument_part(s, "guitar"))
            for b, s in zip(parts, songs, strict=True)
        ]
    return parts


def test_evaluation_accuracies_and_json(tiny_bundles: dict[Instrument, Path], tmp_path: Path):
    results = {}
    for instrument, bundle in tiny_bundles.items():
        model = InstrumentModel.load(bundle)
        try:
            examples = extract_examples(_parts(instrument, seed=9), model.session.config)
            results[instrument] = evaluate_examples(model.session, examples, max_examples=16)
        finally:
            model.close()
    data = evaluation_json(results)
    assert set(data) == {"guitar", "bass", "drums"}
    for values in data.values():
        assert set(values) == {"examples", "steps", "teacher_forced_accuracy", "sampled_accuracy"}
        assert 0 < values["examples"] <= 16
        assert values["steps"] == 32 * values["examples"]
        assert 0.0 <= values["teacher_forced_accuracy"] <= 1.0
        assert 0.0 <= values["sampled_accuracy"] <= 1.0
    path = tmp_path / "evaluation.json"
    write_evaluation(path, results)
    assert json.loads(path.read_text()) == data
    assert read_evaluation(path) == results


def test_evaluation_rejects_an_empty_split(tiny_bundles: dict[Instrument, Path]) -> None:
    model = InstrumentModel.load(tiny_bundles["drums"])
    try:
        empty = extract_examples([], model.session.config)
        with pytest.raises(ValueError, match="no evaluation examples"):
            evaluate_examples(model.session, empty)
    finally:
        model.close()


@pytest.mark.parametrize("instrument", ["guitar", "drums"])
def test_tension_vector_orders_calm_and_intense_phrases(
    tiny_bundles: dict[Instrument, Path], instrument: Instrument
) -> None:
    model = InstrumentModel.load(tiny_bundles[instrument])
    try:
        rng = np.random.default_rng(123)
        calm = [instrument_part(synthetic_song(rng, 2, intensity=0.0), instrument)]
        wild = [instrument_part(synthetic_song(rng, 2, intensity=1.0), instrument)]
        assert intensity(wild[0], instrument) > intensity(calm[0], instrument)
        vector = model.tension_vector
        assert vector.shape == (model.z_size,)
        calm_projection = float(model.encode(calm)[0] @ vector)
        wild_projection = float(model.encode(wild)[0] @ vector)
        assert wild_projection > calm_projection
    finally:
        model.close()
