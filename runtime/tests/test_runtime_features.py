"""Phrase features and intensity: exact values on known phrases, and the orderings the
conductor relies on (denser or louder scores higher). Pure functions, no Magenta, no TF."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st
from metalosc.runtime._features import (
    INTENSITY_WEIGHTS,
    intensity,
    intensity_from_features,
    phrase_bars,
    phrase_features,
)
from metalosc.runtime.testing import Note, drum_beat, note_sequence, power_chord_riff
from note_seq import sequences_lib


def _eighths(bars: int = 2, velocity: int = 100, pitch: int = 40, every: float = 0.5) -> list[Note]:
    count = round(bars * 4 / every)
    return [Note(pitch + (i % 3), i * every, i * every + every, velocity) for i in range(count)]


def test_melodic_features_on_a_known_phrase() -> None:
    seq = note_sequence(_eighths(bars=2, velocity=90), program=30)
    assert phrase_features(seq, "guitar") == {
        "note_density": 8.0,
        "mean_velocity": 90.0,
        "pitch_range": 2.0,
    }


def test_drum_features_count_kicks_snares_and_hihats_per_bar() -> None:
    seq = note_sequence(drum_beat(bars=2, velocity=80), is_drum=True)
    features = phrase_features(seq, "drums")
    assert features == {
        "note_density": 12.0,
        "mean_velocity": 80.0,
        "pitch_range": 6.0,
        "kick_density": 2.0,
        "snare_density": 2.0,
        "hihat_rate": 8.0,
    }


def test_features_count_only_the_instruments_own_notes() -> None:
    seq = note_sequence(drum_beat(bars=2), is_drum=True)
    seq.notes.add(pitch=40, start_time=0.0, end_time=0.5, velocity=100, is_drum=False)
    assert phrase_features(seq, "drums")["note_density"] == 12.0
    assert phrase_features(seq, "bass")["note_density"] == 0.5


def test_quantized_and_unquantized_phrases_agree() -> None:
    seq = note_sequence(power_chord_riff(bars=2), program=30)
    quantized = sequences_lib.quantize_note_sequence(seq, 4)
    assert phrase_bars(quantized) == phrase_bars(seq) == 2
    assert phrase_features(quantized, "guitar") == phrase_features(seq, "guitar")


def test_short_and_empty_phrases_count_as_two_bars() -> None:
    one_bar = note_sequence(_eighths(bars=1), program=30)
    assert phrase_bars(one_bar) == 2
    assert phrase_features(one_bar, "guitar")["note_density"] == 4.0
    empty = note_sequence([])
    assert phrase_features(empty, "bass") == {
        "note_density": 0.0,
        "mean_velocity": 0.0,
        "pitch_range": 0.0,
    }
    assert intensity(empty, "bass") == 0.0
    longer = note_sequence(_eighths(bars=6), program=30)
    assert phrase_bars(longer) == 6


def test_denser_phrases_are_more_intense() -> None:
    quarters = note_sequence(_eighths(every=1.0), program=30)
    eighths = note_sequence(_eighths(every=0.5), program=30)
    sixteenths = note_sequence(_eighths(every=0.25), program=30)
    for instrument in ("guitar", "bass"):
        scores = [intensity(s, instrument) for s in (quarters, eighths, sixteenths)]
        assert scores == sorted(scores)
        assert len(set(scores)) == 3


def test_double_kick_is_more_intense_than_a_rock_beat() -> None:
    rock = note_sequence(drum_beat(bars=2), is_drum=True)
    double_kick = note_sequence(
        drum_beat(bars=2) + [Note(36, i * 0.25, i * 0.25 + 0.1) for i in range(32)],
        is_drum=True,
    )
    assert intensity(double_kick, "drums") > intensity(rock, "drums")


@given(
    velocity=st.integers(min_value=1, max_value=126),
    louder=st.integers(min_value=1, max_value=126),
    every=st.sampled_from([0.25, 0.5, 1.0]),
    instrument=st.sampled_from(["guitar", "bass", "drums"]),
)
def test_louder_phrases_are_more_intense(
    velocity: int, louder: int, every: float, instrument: str
) -> None:
    is_drum = instrument == "drums"
    loud = min(127, velocity + louder)
    soft = note_sequence(_eighths(velocity=velocity, every=every, pitch=36), is_drum=is_drum)
    hard = note_sequence(_eighths(velocity=loud, every=every, pitch=36), is_drum=is_drum)
    assert intensity(hard, instrument) > intensity(soft, instrument)  # type: ignore[arg-type]


@given(
    features=st.fixed_dictionaries(
        {
            name: st.floats(min_value=0, max_value=1e6, allow_nan=False)
            for name in INTENSITY_WEIGHTS["drums"]
        }
    )
)
def test_intensity_is_within_zero_and_one(features: dict[str, float]) -> None:
    assert 0.0 <= intensity_from_features(features, "drums") < 1.0


def test_weights_sum_to_one_and_intensity_is_deterministic() -> None:
    for weights in INTENSITY_WEIGHTS.values():
        assert sum(w for w, _ in weights.values()) == pytest.approx(1.0)
    # The same notes give the same number (a copy, built separately, is not the same object),
    # and that number is the weighted, squashed features: straight eighths at velocity 90 over a
    # 2-semitone range are 0.6 * 8/(8+8) + 0.3 * 90/(90+90) + 0.1 * 2/(2+12).
    seq = note_sequence(_eighths(bars=2, velocity=90), program=30)
    again = note_sequence(_eighths(bars=2, velocity=90), program=30)
    assert intensity(seq, "guitar") == intensity(again, "guitar")
    assert intensity(seq, "guitar") == pytest.approx(0.3 + 0.15 + 0.1 * 2 / 14)
    riff = note_sequence(power_chord_riff(bars=2), program=30)
    assert intensity(riff, "guitar") == intensity_from_features(
        phrase_features(riff, "guitar"), "guitar"
    )


def test_unknown_instrument_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown instrument 'keys'"):
        phrase_features(note_sequence([]), "keys")  # type: ignore[arg-type]
