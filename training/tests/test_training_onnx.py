"""The bundles' ONNX decoders against the TF path they were converted from.

Equivalence is tested here, where both runtimes exist: the TF-free conversion of decoder samples
into notes against Magenta's converter (and ``InstrumentModel``'s post-processing) on identical
one-hot tensors; ORT and TF decodes of the same latents at the greedy temperature, on the shipped
bundles (trained models: the tiny ones' nearly flat logits tie even near temperature 0); and the
export command's files and manifest, and what a broken decoder is refused with.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from metalosc.protocol import (
    INSTRUMENTS,
    MANIFEST_SCHEMA_VERSION,
    Instrument,
    ModelBundleError,
    load_manifest,
)
from metalosc.runtime import (
    GREEDY_TEMPERATURE,
    InstrumentModel,
    OnnxInstrumentModel,
    infer_chords,
    load_instrument_model,
    notes_from_sequence,
    sequences_from_samples,
)
from metalosc.training._onnx import DECODER_FILE, add_onnx_decoder

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = ROOT / "models" / "default"
_NOTE_FIELDS = (
    "pitch",
    "velocity",
    "start_time",
    "end_time",
    "quantized_start_step",
    "quantized_end_step",
    "is_drum",
    "program",
    "instrument",
)


def _notes(seq: Any) -> list[tuple[Any, ...]]:
    return sorted(tuple(getattr(n, f) for f in _NOTE_FIELDS) for n in seq.notes)


def _one_hot(rng: np.random.Generator, n: int, steps: int, depth: int) -> Any:
    samples = np.zeros([n, steps, depth], np.float32)
    events = rng.integers(0, depth, size=(n, steps))
    # Plenty of "hold" and "off" events too, so notes of every length occur.
    events[rng.random((n, steps)) < 0.4] = 0
    events[rng.random((n, steps)) < 0.1] = 1
    np.put_along_axis(samples, events[..., None], 1.0, axis=-1)
    return samples


@pytest.fixture(scope="module")
def tf_models(tiny_bundles: dict[Instrument, Path]) -> Iterator[dict[Instrument, InstrumentModel]]:
    models = {i: InstrumentModel.load(tiny_bundles[i]) for i in INSTRUMENTS}
    yield models
    for model in models.values():
        model.close()


@pytest.mark.parametrize("instrument", INSTRUMENTS)
def test_samples_become_the_notes_magentas_converter_makes(
    tf_models: dict[Instrument, InstrumentModel], instrument: Instrument
) -> None:
    model = tf_models[instrument]
    decoder = model.manifest.decoder
    assert decoder is not None
    session = model.session
    samples = _one_hot(np.random.default_rng(3), 64, session.length, session.output_depth)
    chords = ["E", "Am"] if model.chord_conditioned else None
    theirs = model.sequences(samples, chords)
    ours = sequences_from_samples(samples, decoder.encoding, instrument)
    assert sum(len(s.notes) for s in ours) > 64
    for a, b in zip(ours, theirs, strict=True):
        assert _notes(a) == _notes(b)
        assert notes_from_sequence(a) == notes_from_sequence(b)
        assert (a.total_time, a.total_quantized_steps) == (b.total_time, b.total_quantized_steps)
        assert a.quantization_info.steps_per_quarter == b.quantization_info.steps_per_quarter
        assert [t.qpm for t in a.tempos] == [t.qpm for t in b.tempos]
        assert _notes(a.to_note_sequence()) == _notes(b)


@pytest.mark.parametrize("instrument", INSTRUMENTS)
def test_ort_and_tf_decode_the_same_notes_at_the_greedy_temperature(
    instrument: Instrument,
) -> None:
    onnx_model = OnnxInstrumentModel.load(DEFAULTS / instrument)
    tf_model = InstrumentModel.load(DEFAULTS / instrument)
    try:
        z = np.random.default_rng(11).standard_normal((24, tf_model.z_size)).astype(np.float32)
        chords = ["E", "C"] if tf_model.chord_conditioned else None
        controls = tf_model._controls(chords)
        ort_samples = onnx_model.decoder.decode_tensors(z, GREEDY_TEMPERATURE, controls)
        tf_samples = tf_model.session.decode_tensors(z, GREEDY_TEMPERATURE, controls)
        np.testing.assert_array_equal(ort_samples, tf_samples)
        ours = onnx_model.decode(z, GREEDY_TEMPERATURE, chords)
        theirs = tf_model.decode(z, GREEDY_TEMPERATURE, chords)
        assert [notes_from_sequence(s) for s in ours] == [notes_from_sequence(s) for s in theirs]
        if instrument == "guitar":
            assert [infer_chords(s) for s in ours] == [infer_chords(s) for s in theirs]
        np.testing.assert_array_equal(onnx_model.fill_vector, tf_model.fill_vector)
        np.testing.assert_array_equal(onnx_model.tension_vector, tf_model.tension_vector)
    finally:
        onnx_model.close()
        tf_model.close()


def test_the_onnx_decoder_takes_any_batch_and_refuses_bad_input(
    tiny_bundles: dict[Instrument, Path],
) -> None:
    model = OnnxInstrumentModel.load(tiny_bundles["bass"])
    rng = np.random.default_rng(0)
    for n in (0, 1, 3, 70):
        phrases = model.decode(model.sample_z(n, rng), 1.0, ["C", "G"])
        assert len(phrases) == n
    with pytest.raises(ValueError, match="needs chords"):
        model.decode(model.sample_z(1, rng))
    with pytest.raises(ValueError, match="unsupported chord symbol"):
        model.decode(model.sample_z(1, rng), 1.0, ["Csus7", "C"])
    with pytest.raises(ValueError, match="temperature"):
        model.decode(model.sample_z(1, rng), 0.0, ["C", "C"])
    drums = OnnxInstrumentModel.load(tiny_bundles["drums"])
    with pytest.raises(ValueError, match="not chord-conditioned"):
        drums.decode(drums.sample_z(1, rng), 1.0, ["C", "C"])


def test_export_writes_the_decoder_and_lists_it(tiny_bundles: dict[Instrument, Path]) -> None:
    for instrument, bundle in tiny_bundles.items():
        manifest = load_manifest(bundle)
        assert manifest.schema_version == MANIFEST_SCHEMA_VERSION == 2
        assert manifest.decoder is not None
        assert (bundle / manifest.decoder.file).is_file()
        assert manifest.decoder.opset == 17
        names = [i.name for i in manifest.decoder.inputs]
        assert names == (
            ["z", "temperature", "controls"] if instrument == "bass" else ["z", "temperature"]
        )
        assert manifest.decoder.output.shape[0] == "n"
        assert isinstance(load_instrument_model(bundle), OnnxInstrumentModel)
        # the first layer's product is factored: z's part is computed once, before the loop
        graph = onnx.load(str(bundle / manifest.decoder.file)).graph
        assert "factored_first_layer/z_product" in {o for n in graph.node for o in n.output}
        # and the loop no longer adds LSTMBlockCell's zero peepholes
        [loop] = [n for n in graph.node if n.op_type == "Loop"]
        body = next(a.g for a in loop.attribute if a.name == "body")
        zeros = {
            c.name
            for c in [*graph.initializer, *body.initializer]
            if not onnx.numpy_helper.to_array(c).any()
        }
        assert not [n for n in body.node if n.op_type == "Mul" and zeros.intersection(n.input)]


def _as_version_1(bundle: Path) -> None:
    data = json.loads((bundle / "manifest.json").read_text())
    data["schema_version"] = 1
    del data["decoder"]
    (bundle / "manifest.json").write_text(json.dumps(data))
    (bundle / DECODER_FILE).unlink()


def test_an_older_bundle_loads_through_tf_and_the_command_adds_its_decoder(
    bundle_copy: Any,
) -> None:
    bundle = bundle_copy("bass")
    _as_version_1(bundle)
    model = load_instrument_model(bundle)
    assert isinstance(model, InstrumentModel)
    model.close()
    with pytest.raises(ModelBundleError, match="lists no ONNX decoder") as caught:
        OnnxInstrumentModel.load(bundle)
    assert caught.value.path == bundle / "manifest.json"
    manifest = add_onnx_decoder(bundle)
    assert manifest.decoder is not None
    assert manifest.schema_version == 2
    assert load_manifest(bundle) == manifest
    assert isinstance(load_instrument_model(bundle), OnnxInstrumentModel)
    assert not [p for p in bundle.iterdir() if p.name.startswith(".")]


def test_a_broken_decoder_is_refused_naming_the_file(bundle_copy: Any) -> None:
    bundle = bundle_copy("guitar")
    (bundle / DECODER_FILE).write_bytes(b"not an onnx model")
    with pytest.raises(ModelBundleError, match="unreadable ONNX decoder") as caught:
        load_instrument_model(bundle)
    assert caught.value.path == bundle / DECODER_FILE
    (bundle / DECODER_FILE).unlink()
    with pytest.raises(ModelBundleError, match="missing ONNX decoder") as caught:
        load_instrument_model(bundle)
    assert caught.value.path == bundle / DECODER_FILE


def test_a_decoder_that_does_not_match_its_manifest_is_refused(
    bundle_copy: Any, tiny_bundles: dict[Instrument, Path]
) -> None:
    bundle = bundle_copy("guitar")
    shutil.copy(tiny_bundles["bass"] / DECODER_FILE, bundle / DECODER_FILE)
    with pytest.raises(ModelBundleError, match="does not match manifest") as caught:
        OnnxInstrumentModel.load(bundle)
    assert caught.value.path == bundle / DECODER_FILE
