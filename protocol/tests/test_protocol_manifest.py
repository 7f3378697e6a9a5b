"""Model-bundle manifests: a valid bundle round-trips, every broken one names its broken file."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from metalosc.protocol import (
    ATTRIBUTES_FILE,
    FILL_ATTRIBUTE,
    MANIFEST_FILE,
    ModelBundleError,
    ModelManifest,
    check_model_bundle,
    load_manifest,
    write_manifest,
)
from pydantic import ValidationError

Z = 8


def manifest(**overrides: object) -> ModelManifest:
    fields: dict[str, object] = {
        "instrument": "bass",
        "preset": "bass-tiny",
        "magenta_config": "cat-mel_2bar_med_chords",
        "hparams": {"z_size": Z, "enc_rnn_size": [16], "learning_rate": 0.001, "flag": True},
        "converter": {"valid_programs": [32, 33, 34], "max_tensors_per_notesequence": None},
        "checkpoint": "train/model.ckpt-2000",
        "data_fingerprint": "sha256:abc123",
        "metrics": {"accuracy": 0.75, "loss": 1.25},
        "created_at": datetime(2026, 11, 25, 7, 0, tzinfo=timezone.utc),
        "z_size": Z,
    }
    fields.update(overrides)
    return ModelManifest.model_validate(fields)


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """A complete bundle: manifest, a two-shard checkpoint, attributes."""
    write_manifest(tmp_path, manifest())
    (tmp_path / "train").mkdir()
    (tmp_path / "train/model.ckpt-2000.index").write_bytes(b"index")
    (tmp_path / "train/model.ckpt-2000.data-00000-of-00002").write_bytes(b"shard0")
    (tmp_path / "train/model.ckpt-2000.data-00001-of-00002").write_bytes(b"shard1")
    np.savez(tmp_path / ATTRIBUTES_FILE, tension=np.linspace(-1, 1, Z).astype(np.float32))
    return tmp_path


def edit_manifest(bundle_dir: Path, **changes: object) -> None:
    path = bundle_dir / MANIFEST_FILE
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_manifest_round_trip(bundle: Path) -> None:
    loaded = load_manifest(bundle)
    assert loaded == manifest()
    assert loaded.hparams["flag"] is True
    assert loaded.hparams["enc_rnn_size"] == [16]
    assert loaded.schema_version == 2
    check_model_bundle(bundle, loaded)


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path: Path) -> None:
    write_manifest(tmp_path / "new", manifest())
    write_manifest(tmp_path / "new", manifest(preset="bass-default"))
    assert [p.name for p in (tmp_path / "new").iterdir()] == [MANIFEST_FILE]
    assert (tmp_path / "new" / MANIFEST_FILE).stat().st_mode & 0o777 == 0o644
    assert load_manifest(tmp_path / "new").preset == "bass-default"


def test_manifest_json_is_readable_by_people(bundle: Path) -> None:
    text = (bundle / MANIFEST_FILE).read_text()
    assert text.endswith("\n")
    assert '\n  "instrument": "bass",\n' in text
    assert '"created_at": "2026-11-25T07:00:00Z"' in text


def expect_error(bundle_dir: Path, path: Path, reason: str) -> None:
    with pytest.raises(ModelBundleError) as caught:
        check_model_bundle(bundle_dir, load_manifest(bundle_dir))
    assert caught.value.path == path
    assert reason in caught.value.reason
    assert str(path) in str(caught.value)


def test_missing_bundle_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelBundleError, match="bundle directory does not exist") as caught:
        load_manifest(tmp_path / "nope")
    assert caught.value.path == tmp_path / "nope"


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ModelBundleError) as caught:
        load_manifest(tmp_path)
    assert caught.value.path == tmp_path / MANIFEST_FILE
    assert caught.value.reason == "missing"
    assert str(caught.value) == f"{tmp_path / MANIFEST_FILE}: missing"


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('{"instrument": "bass",\n  oops}', "invalid JSON at line 2, column 3"),
        ("", "invalid JSON at line 1, column 1"),
        ("[1, 2]", "expected a JSON object, got list"),
        (b"\xff\xfe{}", "unreadable"),
    ],
)
def test_invalid_manifest_file(bundle: Path, content: str | bytes, reason: str) -> None:
    path = bundle / MANIFEST_FILE
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    with pytest.raises(ModelBundleError) as caught:
        load_manifest(bundle)
    assert caught.value.path == path
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"schema_version": 3}, "unsupported schema_version 3 (expected 1 or 2)"),
        ({"schema_version": None}, "unsupported schema_version None"),
        ({"instrument": "piano"}, "field 'instrument'"),
        ({"z_size": 0}, "field 'z_size'"),
        ({"hparams": {"batch_size": {"nested": 1}}}, "field 'hparams.batch_size"),
        ({"metrics": {"accuracy": "high"}}, "field 'metrics.accuracy'"),
        ({"created_at": "2026-11-25T07:00:00"}, "field 'created_at'"),  # no timezone
        ({"checkpoint": "/abs/model.ckpt"}, "field 'checkpoint'"),
        ({"checkpoint": "../other/model.ckpt"}, "inside the bundle directory"),
        ({"unexpected": 1}, "field 'unexpected': Extra inputs are not permitted"),
    ],
)
def test_schema_violation_names_the_field(
    bundle: Path, changes: dict[str, object], reason: str
) -> None:
    edit_manifest(bundle, **changes)
    with pytest.raises(ModelBundleError) as caught:
        load_manifest(bundle)
    assert caught.value.path == bundle / MANIFEST_FILE
    assert reason in caught.value.reason


def test_missing_field_is_named(bundle: Path) -> None:
    path = bundle / MANIFEST_FILE
    data = json.loads(path.read_text())
    del data["checkpoint"]
    path.write_text(json.dumps(data))
    with pytest.raises(ModelBundleError, match="field 'checkpoint': Field required"):
        load_manifest(bundle)


def test_missing_checkpoint_index(bundle: Path) -> None:
    (bundle / "train/model.ckpt-2000.index").unlink()
    expect_error(bundle, bundle / "train/model.ckpt-2000.index", "missing checkpoint index")


def test_missing_checkpoint_data(bundle: Path) -> None:
    for shard in (bundle / "train").glob("*.data-*"):
        shard.unlink()
    expect_error(
        bundle, bundle / "train/model.ckpt-2000.data-00000-of-00001", "missing checkpoint data"
    )


def test_missing_one_checkpoint_shard(bundle: Path) -> None:
    shard = bundle / "train/model.ckpt-2000.data-00000-of-00002"
    shard.unlink()
    expect_error(bundle, shard, "missing checkpoint data shard")


def test_missing_attributes(bundle: Path) -> None:
    (bundle / ATTRIBUTES_FILE).unlink()
    expect_error(bundle, bundle / ATTRIBUTES_FILE, "missing")


def test_corrupt_attributes(bundle: Path) -> None:
    (bundle / ATTRIBUTES_FILE).write_bytes(b"PK\x03\x04 definitely not a zip")
    expect_error(bundle, bundle / ATTRIBUTES_FILE, "unreadable")


def test_pickled_attributes_are_refused(bundle: Path) -> None:
    np.savez(bundle / ATTRIBUTES_FILE, tension=np.array([{"a": 1}], dtype=object))
    expect_error(bundle, bundle / ATTRIBUTES_FILE, "unreadable")


@pytest.mark.parametrize(
    ("arrays", "reason"),
    [
        ({"intensity": np.zeros(Z)}, "no 'tension' array"),
        ({"tension": np.zeros(Z + 1)}, f"expected float ({Z},)"),
        ({"tension": np.zeros((2, Z))}, "to match z_size"),
        ({"tension": np.arange(Z)}, "expected float"),
        ({"tension": np.full(Z, np.nan)}, "non-finite"),
        ({"tension": np.zeros(Z), FILL_ATTRIBUTE: np.zeros(Z + 1)}, "'fill' is float64 (9,)"),
        ({"tension": np.zeros(Z), FILL_ATTRIBUTE: np.arange(Z)}, "expected float"),
        ({"tension": np.zeros(Z), FILL_ATTRIBUTE: np.full(Z, np.inf)}, "'fill' has non-finite"),
    ],
)
def test_bad_attribute_arrays(
    bundle: Path, arrays: dict[str, npt.NDArray[Any]], reason: str
) -> None:
    np.savez(bundle / ATTRIBUTES_FILE, **arrays)
    expect_error(bundle, bundle / ATTRIBUTES_FILE, reason)


def test_fill_and_other_extra_attributes_are_optional(bundle: Path) -> None:
    """A bundle without a fill vector is valid; with one (or any other key), too."""
    tension = np.linspace(-1, 1, Z).astype(np.float32)
    check_model_bundle(bundle, load_manifest(bundle))
    np.savez(
        bundle / ATTRIBUTES_FILE,
        tension=tension,
        **{FILL_ATTRIBUTE: np.ones(Z, np.float32), "anything": np.zeros((3, 3), np.int8)},
    )
    check_model_bundle(bundle, load_manifest(bundle))


def test_manifest_values_are_validated_in_python() -> None:
    with pytest.raises(ValidationError):
        manifest(created_at=datetime(2026, 11, 25))  # naive: ambiguous across machines
    with pytest.raises(ValidationError):
        manifest(metrics={"loss": float("nan")})  # JSON cannot carry it back


def _decoder(**overrides: object) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "file": "decoder.onnx",
        "opset": 17,
        "inputs": [
            {"name": "z", "dtype": "float32", "shape": ["n", Z]},
            {"name": "temperature", "dtype": "float32", "shape": []},
            {"name": "controls", "dtype": "float32", "shape": [32, 49]},
        ],
        "outputs": [{"name": "samples", "dtype": "float32", "shape": ["n", 32, 49]}],
        "encoding": {
            "kind": "melody",
            "min_pitch": 21,
            "max_pitch": 67,
            "velocity": 80,
            "steps_per_quarter": 4,
            "chords": "triad",
        },
    }
    spec.update(overrides)
    return spec


def test_a_version_2_manifest_lists_its_onnx_decoder(bundle: Path) -> None:
    edit_manifest(bundle, decoder=_decoder())
    (bundle / "decoder.onnx").write_bytes(b"onnx")
    loaded = load_manifest(bundle)
    assert loaded.decoder is not None
    assert loaded.decoder.output.shape == ["n", 32, 49]
    assert loaded.decoder.input("controls") is not None
    assert loaded.decoder.encoding.kind == "melody"
    check_model_bundle(bundle, loaded)
    (bundle / "decoder.onnx").unlink()
    with pytest.raises(ModelBundleError, match="missing ONNX decoder") as caught:
        check_model_bundle(bundle, loaded)
    assert caught.value.path == bundle / "decoder.onnx"


def test_a_version_1_manifest_loads_without_a_decoder(bundle: Path) -> None:
    edit_manifest(bundle, schema_version=1)
    loaded = load_manifest(bundle)
    assert (loaded.schema_version, loaded.decoder) == (1, None)
    edit_manifest(bundle, decoder=_decoder())
    with pytest.raises(ModelBundleError, match="a decoder needs schema_version 2") as caught:
        load_manifest(bundle)
    assert caught.value.path == bundle / MANIFEST_FILE


@pytest.mark.parametrize(
    ("decoder", "reason"),
    [
        (_decoder(file="../decoder.onnx"), "inside the bundle directory"),
        (_decoder(outputs=[]), "decoder.outputs"),
        (_decoder(encoding={"kind": "piano"}), "decoder.encoding"),
    ],
)
def test_a_bad_decoder_entry_names_the_manifest(bundle: Path, decoder: Any, reason: str) -> None:
    edit_manifest(bundle, decoder=decoder)
    with pytest.raises(ModelBundleError, match=reason) as caught:
        load_manifest(bundle)
    assert caught.value.path == bundle / MANIFEST_FILE
