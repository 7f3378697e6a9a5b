"""Shared fixtures of the cross-package tests.

``tiny_bundles``: the three tiny model bundles (guitar, bass, drums), made once per test session
by the training package's own tiny-bundle maker — real MusicVAE checkpoints, small enough to train
in seconds — so the daemon is always tested on what the pipeline really produces.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_bundles(tiny_bundle_paths: dict[str, Path]) -> Path:
    """A models directory with ``guitar/``, ``bass/`` and ``drums/`` bundles."""
    (out,) = {path.parent for path in tiny_bundle_paths.values()}
    return out


@pytest.fixture
def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
