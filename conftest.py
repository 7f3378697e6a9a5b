"""Fixtures shared by every test suite of the workspace.

The tiny model bundles are real MusicVAE checkpoints made by the training package's own
tiny-bundle maker. Training them takes ~30 s, so they are made once per pytest session, here,
for the training, server and end-to-end suites alike.
"""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _ordinary_scheduling(monkeypatch: pytest.MonkeyPatch) -> None:
    """Daemons started by tests run their event loop under ordinary scheduling: a test that
    runs ``serve`` in pytest's own thread must not leave it at real-time priority if it fails
    midway. The tests of real-time scheduling ask for it explicitly."""
    monkeypatch.setenv("METALOSC_REALTIME_PRIORITY", "0")


@pytest.fixture(scope="session")
def tiny_bundle_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three tiny bundles (guitar, bass, drums), side by side in one models directory."""
    from metalosc.training import make_tiny_bundles

    return dict(make_tiny_bundles(tmp_path_factory.mktemp("tiny-bundles"), seed=0, steps=20))
