"""The reliability suite's quick versions: fuzz, flood and amplification against the live daemon.

Rules: the same stages ``metalosc-reliability`` runs (``./dev reliability``), each against its own
``metalosc serve`` on the shipped default bundles, smaller: every row of the table must meet its
bound. Traffic goes to loopback and to network namespaces the amplification stage makes itself
(root and iproute2: a missing ``ip`` fails the test with the command that installs it).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from metalosc.reliability import Row, amplification_stage, flood_stage, fuzz_stage, print_table

MODELS = Path(__file__).resolve().parents[1] / "models" / "default"


def _all_ok(rows: list[Row], capsys: pytest.CaptureFixture[str]) -> None:
    print_table(rows)
    failed = [row for row in rows if not row.ok]
    assert not failed, "\n".join(f"{r.measured}: {r.figure} (bound {r.bound})" for r in failed)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_fuzz(capsys: pytest.CaptureFixture[str]) -> None:
    _all_ok(fuzz_stage(MODELS, packets=10_000, seeds=100), capsys)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_flood(capsys: pytest.CaptureFixture[str]) -> None:
    _all_ok(flood_stage(MODELS, peers=4, seconds=8.0), capsys)


@pytest.mark.slow
@pytest.mark.requires_tools("ip")
@pytest.mark.timeout(300)
def test_quick_amplification_from_strangers_on_other_hosts_and_loopback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _all_ok(amplification_stage(MODELS, hostile=100), capsys)
