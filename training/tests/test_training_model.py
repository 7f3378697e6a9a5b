"""InstrumentModel on real tiny bundles: load, decode, encode, chords, broken files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from metalosc.protocol import FILL_ATTRIBUTE, Instrument, ModelBundleError
from metalosc.runtime import InstrumentModel, build_config
from metalosc.training._synthetic import instrument_part, synthetic_song

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models(tiny_bundles: dict[Instrument, Path]):
    loaded = {i: InstrumentModel.load(p) for i, p in tiny_bundles.items()}
    yield loaded
    for model in loaded.values():
        model.close()


def test_load_exposes_manifest_and_tension(models: dict[str, InstrumentModel]) -> None:
    for instrument, model in models.items():
        assert model.instrument == instrument
        assert model.manifest.preset == f"{instrument}-tiny"
        assert model.z_size == 8
        assert model.tension_vector.shape == (8,)
        assert np.all(np.isfinite(model.tension_vector))
        # The tiny bundles have no fill vector (no labelled drums): zeros, no push.
        assert FILL_ATTRIBUTE not in model.attributes
        np.testing.assert_array_equal(model.fill_vector, np.zeros(8, np.float32))
        assert model.fill_vector.dtype == np.float32
    assert models["bass"].chord_conditioned
    assert not models["guitar"].chord_conditioned


@pytest.mark.parametrize("n", [1, 3, 70])
def test_decode_batches_into_two_bar_quantized_phrases(
    models: dict[str, InstrumentModel], n: int
) -> None:
    rng = np.random.default_rng(n)
    model = models["drums"]
    phrases = model.decode(model.sample_z(n, rng), temperature=0.5)
    assert len(phrases) == n
    for phrase in phrases:
        assert phrase.quantization_info.steps_per_quarter == 4
        assert phrase.total_quantized_steps == 32
        assert all(0 <= note.quantized_start_step < 32 for note in phrase.notes)
        assert all(note.is_drum for note in phrase.notes)


def test_guitar_and_bass_programs(models: dict[str, InstrumentModel]) -> None:
    rng = np.random.default_rng(1)
    guitar = models["guitar"].decode(models["guitar"].sample_z(4, rng))
    bass = models["bass"].decode(models["bass"].sample_z(4, rng), chords=["E5", "G5"])
    assert {n.program for p in guitar for n in p.notes} <= {30}
    assert {n.program for p in bass for n in p.notes} <= {33}
    assert [a.text for a in bass[0].text_annotations] == ["E", "G"]


def test_bass_needs_chords_and_others_refuse_them(models: dict[str, InstrumentModel]) -> None:
    z = np.zeros((1, 8), np.float32)
    with pytest.raises(ValueError, match="needs chords"):
        models["bass"].decode(z)
    with pytest.raises(ValueError, match="not chord-conditioned"):
        models["guitar"].decode(z, chords=["E", "E"])
    with pytest.raises(ValueError, match=r"shape \[n, 8\]"):
        models["guitar"].decode(np.zeros((1, 5)))


def test_encode_phrases_and_decoded_phrases(models: dict[str, InstrumentModel]) -> None:
    song = synthetic_song(np.random.default_rng(0), bars=2, intensity=0.8)
    guitar = models["guitar"]
    z = guitar.encode([instrument_part(song, "guitar")] * 2)
    assert z.shape == (2, 8)
    np.testing.assert_allclose(z[0], z[1], rtol=1e-5)
    bass = models["bass"]
    assert bass.encode([instrument_part(song, "bass")], chords=["E", "A"]).shape == (1, 8)
    # A phrase the model decoded (quantized) can be encoded again (scene save does this).
    drums = models["drums"]
    decoded = drums.decode(drums.sample_z(1, np.random.default_rng(5)))
    if decoded[0].notes:
        assert drums.encode(decoded).shape == (1, 8)


def test_encode_names_a_phrase_without_example(models: dict[str, InstrumentModel]) -> None:
    empty = synthetic_song(np.random.default_rng(0), bars=2)
    del empty.notes[:]
    with pytest.raises(ValueError, match="phrase 0 yields no guitar example"):
        models["guitar"].encode([empty])


def test_magenta_trained_model_restores_the_weights_only_checkpoint(
    tiny_bundles: dict[Instrument, Path], models: dict[str, InstrumentModel]
) -> None:
    from magenta.models.music_vae import TrainedModel

    manifest = models["guitar"].manifest
    config = build_config(manifest.magenta_config, manifest.hparams, manifest.converter)
    trained = TrainedModel(
        config, batch_size=2, checkpoint_dir_or_path=str(tiny_bundles["guitar"] / "model.ckpt")
    )
    assert len(trained.sample(n=2, length=32)) == 2


# -- broken bundles: the error names the file ---------------------------------------------------


def test_corrupt_manifest_is_named(bundle_copy) -> None:
    bundle = bundle_copy("guitar")
    (bundle / "manifest.json").write_text("{not json")
    with pytest.raises(ModelBundleError, match=r"manifest\.json") as info:
        InstrumentModel.load(bundle)
    assert info.value.path == bundle / "manifest.json"


def test_missing_checkpoint_index_is_named(bundle_copy) -> None:
    bundle = bundle_copy("drums")
    (bundle / "model.ckpt.index").unlink()
    with pytest.raises(ModelBundleError) as info:
        InstrumentModel.load(bundle)
    assert info.value.path == bundle / "model.ckpt.index"


def test_corrupt_checkpoint_index_is_named(bundle_copy) -> None:
    bundle = bundle_copy("drums")
    (bundle / "model.ckpt.index").write_bytes(b"garbage" * 10)
    with pytest.raises(ModelBundleError) as info:
        InstrumentModel.load(bundle)
    assert info.value.path == bundle / "model.ckpt.index"


def test_corrupt_checkpoint_data_is_named(bundle_copy) -> None:
    bundle = bundle_copy("drums")
    data = bundle / "model.ckpt.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100])
    with pytest.raises(ModelBundleError) as info:
        InstrumentModel.load(bundle)
    assert info.value.path == data
    assert "checkpoint data" in str(info.value)


def test_corrupt_attributes_are_named(bundle_copy) -> None:
    bundle = bundle_copy("bass")
    (bundle / "attributes.npz").write_bytes(b"PK\x03\x04broken")
    with pytest.raises(ModelBundleError) as info:
        InstrumentModel.load(bundle)
    assert info.value.path == bundle / "attributes.npz"
