"""Fixtures shared by every test suite of the workspace.

The tiny model bundles are real MusicVAE checkpoints made by the training package's own
tiny-bundle maker. Training them takes ~30 s, so they are made once per pytest session, here,
for the training, server and end-to-end suites alike.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_bundle_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three tiny bundles (guitar, bass, drums), side by side in one models directory."""
    from metalosc.training import make_tiny_bundles

    return dict(make_tiny_bundles(tmp_path_factory.mktemp("tiny-bundles"), seed=0, steps=20))
