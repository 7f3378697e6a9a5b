"""Presets and configs: named, immutable, and fresh on every build, because Magenta's
TrainedModel deep-copies its config, and a config whose model was built cannot be copied."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from metalosc.runtime import (
    DEFAULT_STEPS,
    PRESET_SETS,
    PRESETS,
    Preset,
    build_config,
    chord_controls,
    get_preset,
    normalize_chord,
)


def test_interface_presets_exist_with_their_magenta_configs() -> None:
    expected = {
        "guitar-big": "cat-mel_2bar_big",
        "bass-med-chords": "cat-mel_2bar_med_chords",
        "drums-small": "cat-drums_2bar_small",
    }
    for name, config in expected.items():
        assert PRESETS[name].magenta_config == config
    for instrument in ("guitar", "bass", "drums"):
        for size in ("default", "tiny"):
            assert PRESETS[f"{instrument}-{size}"].instrument == instrument
    for preset_set in PRESET_SETS.values():
        assert {get_preset(name).instrument for name in preset_set.values()} == set(preset_set)


def test_presets_are_immutable() -> None:
    preset = PRESETS["guitar-tiny"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        preset.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        preset.hparams["z_size"] = 3  # type: ignore[index]
    with pytest.raises(TypeError):
        PRESETS["x"] = preset  # type: ignore[index]


def test_presets_carry_their_training_length() -> None:
    # The shipped defaults' recipe: models/default/README.md reproduces them with these.
    assert [PRESETS[f"{i}-default"].steps for i in ("guitar", "bass", "drums")] == [
        6000,
        8000,
        3000,
    ]
    assert PRESETS["guitar-big"].steps == DEFAULT_STEPS
    with pytest.raises(ValueError, match="steps"):
        Preset("x", "guitar", "cat-mel_2bar_big", steps=0)


def test_unknown_preset_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="guitar-big"):
        get_preset("guitar-huge")


def test_build_config_is_fresh_and_applies_overrides() -> None:
    first = PRESETS["bass-tiny"].build_config()
    second = PRESETS["bass-tiny"].build_config()
    assert first is not second
    assert first.model is not second.model
    assert first.hparams is not second.hparams
    assert first.data_converter is not second.data_converter
    assert first.hparams.z_size == 8
    assert first.hparams.dec_rnn_size == [16]
    # Bass: bass programs only, triad chord conditioning of depth 49 as in med_chords.
    assert list(first.data_converter._valid_programs) == list(range(32, 40))
    assert first.data_converter.control_depth == 49
    # The shipped bass models A0-G4 only: 47 pitches + note-off + rest.
    shipped = PRESETS["bass-default"].build_config().data_converter
    assert shipped.output_depth == 67 - 21 + 1 + 2
    assert shipped.output_depth < first.data_converter.output_depth


def test_production_configs_match_magenta() -> None:
    big = PRESETS["guitar-big"].build_config()
    assert big.hparams.z_size == 512
    assert big.hparams.dec_rnn_size == [2048, 2048, 2048]
    drums = PRESETS["drums-small"].build_config()
    assert drums.data_converter.output_depth == 512
    assert drums.hparams.free_bits == 48


def test_build_config_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="unsupported magenta config"):
        build_config("cat-mel_16bar_big", {}, {})
    with pytest.raises(ValueError, match="unknown hparam 'z_sise'"):
        build_config("cat-mel_2bar_big", {"z_sise": 3}, {})
    with pytest.raises(ValueError, match="bad converter override"):
        build_config("cat-drums_2bar_small", {}, {"no_such_argument": 1})


@pytest.mark.parametrize(
    ("symbol", "expected"),
    [("E5", "E"), ("F#5", "F#"), ("Bb5", "Bb"), ("Asus4", "A"), ("F#m7b5", "F#m7b5"), ("Em", "Em")],
)
def test_power_chords_read_as_their_root_triad(symbol: str, expected: str) -> None:
    assert normalize_chord(symbol) == expected


def test_chord_controls_one_hot_per_bar() -> None:
    import note_seq

    encoding = note_seq.TriadChordOneHotEncoding()
    controls = chord_controls(encoding, ["E5", "N.C."], 32)
    assert controls.shape == (32, 49)
    assert np.all(controls.sum(axis=1) == 1)
    assert np.all(controls[:16].argmax(axis=1) == encoding.encode_event("E"))
    assert np.all(controls[16:].argmax(axis=1) == 0)
    with pytest.raises(ValueError, match="one chord per bar"):
        chord_controls(encoding, ["E"], 32)
    with pytest.raises(ValueError, match="unsupported chord symbol 'H7'"):
        chord_controls(encoding, ["H7", "E"], 32)
