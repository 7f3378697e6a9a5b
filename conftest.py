"""Fixtures and checks shared by every test suite of the workspace.

The tiny model bundles are real MusicVAE checkpoints made by the training package's own
tiny-bundle maker. Training them takes ~30 s, so they are made once per pytest session, here,
for the training, server and end-to-end suites alike.

Tests that talk to an outside program (liblo's oscsend/oscdump, Mono's mcs/mono, MuseScore) say so
with ``@pytest.mark.requires_tools(...)``. A missing program *fails* such a test, naming the
command that installs it: a run that quietly skipped the interop, end-to-end and C# suites would
look green while testing a good deal less. Where that is really wanted (a machine that cannot have
them), ``METALOSC_ALLOW_MISSING_TOOLS=1`` or ``pytest --allow-missing-tools`` turns those failures
into skips that give the same reason.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Generator
from pathlib import Path

import pytest

ALLOW_MISSING_TOOLS = "METALOSC_ALLOW_MISSING_TOOLS"

#: The outside programs the suites use, and the Debian package that installs each one.
TOOL_PACKAGES = {
    "oscsend": "liblo-tools",
    "oscdump": "liblo-tools",
    "mcs": "mono-mcs",
    "mono": "mono-mcs",
    "mscore3": "musescore3",
    "ip": "iproute2",
    "unshare": "util-linux",
}

_TOOL_WORD = re.compile(r"\b(" + "|".join(map(re.escape, TOOL_PACKAGES)) + r")\b")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--allow-missing-tools",
        action="store_true",
        help="skip, rather than fail, the tests whose outside programs are missing "
        f"(as {ALLOW_MISSING_TOOLS}=1 does)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requires_tools(*programs): needs these outside programs; a missing one fails the test "
        f"with its install command, or skips it under {ALLOW_MISSING_TOOLS}=1",
    )


def _missing_allowed(config: pytest.Config) -> bool:
    return bool(config.getoption("--allow-missing-tools")) or os.environ.get(
        ALLOW_MISSING_TOOLS, ""
    ) not in ("", "0")


def install_hint(tools: list[str]) -> str:
    packages = sorted({TOOL_PACKAGES.get(tool, tool) for tool in tools})
    return f"sudo apt-get install {' '.join(packages)}"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture runs: fail (or, allowed, skip) a test whose programs are missing."""
    tools = [tool for mark in item.iter_markers("requires_tools") for tool in mark.args]
    missing = sorted({tool for tool in tools if shutil.which(tool) is None})
    if not missing:
        return
    reason = f"{' and '.join(missing)} not installed: {install_hint(missing)}"
    if _missing_allowed(item.config):
        pytest.skip(f"{reason} ({ALLOW_MISSING_TOOLS}=1)")
    pytest.fail(
        f"{reason}\n(or run with {ALLOW_MISSING_TOOLS}=1 to skip the tests that need it)",
        pytrace=False,
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    """The safety net behind the marker: a skip whose reason names one of the outside programs
    (a ``skipif(shutil.which(...) is None)`` written without the marker) fails the same way,
    unless missing programs are allowed."""
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or _missing_allowed(item.config) or hasattr(report, "wasxfail"):
        return
    reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else ""
    named = _TOOL_WORD.findall(reason)
    if named:
        report.outcome = "failed"
        report.longrepr = (
            f"skipped for a missing outside program, which this suite treats as a failure: "
            f"{reason}\ninstall it ({install_hint(named)}) or run with {ALLOW_MISSING_TOOLS}=1"
        )


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
