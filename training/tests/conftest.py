"""Shared fixtures of the training tests.

Rules of this suite: everything that builds or runs a TensorFlow model is marked
``@pytest.mark.slow`` and uses the ``*-tiny`` presets (a few thousand weights) on generated
music; nothing reads the real corpus; every file a test writes lives under ``tmp_path``.
The tiny bundles are made once per session (about 20-30 s) and copied where a test damages them.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from metalosc.protocol import Instrument


@pytest.fixture(scope="session")
def tiny_bundles(tiny_bundle_paths: dict[Instrument, Path]) -> dict[Instrument, Path]:
    """Real bundles of the three tiny presets (made once per session by the root conftest)."""
    return tiny_bundle_paths


@pytest.fixture
def bundle_copy(tiny_bundles: dict[Instrument, Path], tmp_path: Path):
    """A function copying one instrument's tiny bundle into tmp_path (to damage it)."""

    def copy(instrument: Instrument) -> Path:
        target = tmp_path / f"bundle-{instrument}"
        shutil.copytree(tiny_bundles[instrument], target)
        return target

    return copy
