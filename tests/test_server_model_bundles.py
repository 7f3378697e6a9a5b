"""A broken model bundle stops the daemon before it starts, naming the broken file.

Rules: each test copies the session's tiny bundles and breaks one file; the daemon is run through
its real entry points (``load_models``, ``serve``, ``metalosc serve``'s ``main``).
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest
import structlog
from metalosc.protocol import ModelBundleError
from metalosc.server import Settings, load_models, serve
from metalosc.server._cli import main

pytestmark = pytest.mark.slow


@pytest.fixture
def models(tiny_bundles: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "models"
    shutil.copytree(tiny_bundles, copy)
    return copy


def test_corrupt_manifest_is_named(models: Path) -> None:
    (models / "bass" / "manifest.json").write_text("{ not json")
    with pytest.raises(ModelBundleError, match=r"bass.*manifest\.json"):
        load_models(models)


def test_missing_checkpoint_file_is_named(models: Path) -> None:
    [index] = (models / "drums").glob("*.index")
    index.unlink()
    with pytest.raises(ModelBundleError, match=re.escape(index.name)):
        load_models(models)


async def test_serve_refuses_to_start(models: Path) -> None:
    (models / "guitar" / "attributes.npz").write_bytes(b"garbage")
    with pytest.raises(ModelBundleError, match=r"attributes\.npz"):
        await serve(Settings(models=models, port=0))


def test_metalosc_serve_exits_non_zero_naming_the_file(
    models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (models / "guitar" / "manifest.json").write_text('{"schema_version": 99}')
    switch_interval = sys.getswitchinterval()
    try:
        code = main(["serve", "--models", str(models), "--port", "0", "--log-format", "json"])
    finally:  # main configures the process; undo it for the tests that follow
        structlog.reset_defaults()
        sys.setswitchinterval(switch_interval)
    assert code == 65  # EX_DATAERR: the bundle is there but corrupt
    err = capsys.readouterr().err
    assert "cannot load model bundle" in err
    assert "manifest.json" in err


async def test_workers_decode_the_onnx_decoders_without_tensorflow(
    tiny_bundle_paths: dict[str, Path],
) -> None:
    """The production factories on bundles with ONNX decoders: no worker imports TensorFlow,
    Magenta or note_seq, and they decode (the bass on chords)."""
    import numpy as np
    import trio
    from metalosc.server import DecodeRequest, bundle_factories, start_process_executors

    models = tiny_bundle_paths["guitar"].parent
    with trio.fail_after(120):
        executors = await start_process_executors(bundle_factories(models))
    try:
        for instrument, executor in executors.items():
            assert not {"tensorflow", "magenta", "note_seq"} & set(executor.modules), instrument
            assert "onnxruntime" in executor.modules
            chords = ("C", "G") if instrument == "bass" else None
            z = np.zeros((3, executor.info.z_size))
            request = DecodeRequest.of(z, 1.0, chords, [1, 2, 3], infer_chords=chords is None)
            assert [p.id for p in await executor.decode(request)] == [1, 2, 3]
    finally:
        for executor in executors.values():
            executor.close()


async def test_a_bundle_without_a_decoder_is_served_through_tensorflow(
    tiny_bundle_paths: dict[str, Path], tmp_path: Path
) -> None:
    """The TF fallback: a schema-1 bundle (no ONNX decoder) loads its checkpoint in the worker;
    ``model_backend = "onnx"`` refuses it, naming its manifest."""
    import json
    import shutil

    import trio
    from metalosc.protocol import ModelBundleError
    from metalosc.server import BundleModelFactory, ProcessExecutor, bundle_factories

    for instrument, bundle in tiny_bundle_paths.items():
        shutil.copytree(bundle, tmp_path / instrument)
    manifest = tmp_path / "drums" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["schema_version"] = 1
    del data["decoder"]
    manifest.write_text(json.dumps(data))
    with pytest.raises(ModelBundleError, match="lists no ONNX decoder") as caught:
        bundle_factories(tmp_path, "onnx")
    assert caught.value.path == manifest
    factory = BundleModelFactory(tmp_path / "drums")
    executor = await trio.to_thread.run_sync(ProcessExecutor, factory, "drums")
    try:
        assert "tensorflow" in executor.modules
        assert executor.info.instrument == "drums"
    finally:
        executor.close()


def test_a_bundle_needing_tensorflow_is_refused_where_it_is_not_installed(
    tiny_bundle_paths: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A serving-only environment has no TensorFlow: a bundle without an ONNX decoder (or the
    ``tf`` backend) is refused before any worker starts, naming the bundle's manifest."""
    import json

    from metalosc.protocol import ModelBundleError
    from metalosc.server import _worker, bundle_factories

    for instrument, bundle in tiny_bundle_paths.items():
        shutil.copytree(bundle, tmp_path / instrument)
    monkeypatch.setattr(_worker, "_tensorflow_installed", lambda: False)
    assert set(bundle_factories(tmp_path)) == {"guitar", "bass", "drums"}
    with pytest.raises(ModelBundleError, match="needs TensorFlow") as caught:
        bundle_factories(tmp_path, "tf")
    assert caught.value.path == tmp_path / "guitar" / "manifest.json"
    manifest = tmp_path / "bass" / "manifest.json"
    data = json.loads(manifest.read_text())
    data["schema_version"] = 1
    del data["decoder"]
    manifest.write_text(json.dumps(data))
    with pytest.raises(ModelBundleError, match="install metalosc-server\\[tf\\]") as caught:
        bundle_factories(tmp_path)
    assert caught.value.path == manifest
