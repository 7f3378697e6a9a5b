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
    assert code == 1
    err = capsys.readouterr().err
    assert "cannot load model bundle" in err
    assert "manifest.json" in err
