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
from typing import Any

import pytest
import structlog

ALLOW_MISSING_TOOLS = "METALOSC_ALLOW_MISSING_TOOLS"

#: The outside programs the suites use — or, as an absolute path, a file a package installs
#: (a soundfont, a library) — and the Debian package that installs each one. ./dev's TEST_TOOLS
#: lists the same.
TOOL_PACKAGES = {
    "oscsend": "liblo-tools",
    "oscdump": "liblo-tools",
    "mcs": "mono-mcs",
    "mono": "mono-mcs",
    "mscore3": "musescore3",
    "nunit-console": "nunit-console",
    "/usr/lib/pkgconfig/nunit.pc": "libnunit-cil-dev",
    "fluidsynth": "fluidsynth",
    "/usr/share/sounds/sf2/FluidR3_GM.sf2": "fluid-soundfont-gm",
    "systemd-analyze": "systemd",
    "ip": "iproute2",
    "unshare": "util-linux",
}

_PROGRAMS = sorted((t for t in TOOL_PACKAGES if not t.startswith("/")), key=len, reverse=True)
_TOOL_WORD = re.compile(r"\b(" + "|".join(map(re.escape, _PROGRAMS)) + r")\b")


def tool_missing(tool: str) -> bool:
    """Whether a program (looked up on PATH) or a file (an absolute path) is missing."""
    return not Path(tool).is_file() if tool.startswith("/") else shutil.which(tool) is None


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
        "requires_tools(*programs): needs these outside programs (or files, by absolute path); "
        "a missing one fails the test "
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
    missing = sorted({tool for tool in tools if tool_missing(tool)})
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


@pytest.fixture(autouse=True)
def _private_daemon(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Daemons started by tests keep their state (saved scenes) in the test's own directory,
    never the user's, and do not advertise themselves on the network. The tests of scenes and
    of discovery ask for what they test explicitly."""
    monkeypatch.setenv("METALOSC_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("METALOSC_ZEROCONF", "0")


@pytest.fixture(autouse=True)
def _metrics_on_any_free_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """Daemons started by tests (in this process or as subprocesses, which inherit the
    environment) serve their metrics on a free port: tests run side by side, and so may other
    daemons on the machine, on the default port."""
    monkeypatch.setenv("METALOSC_METRICS_PORT", "0")


@pytest.fixture(autouse=True)
def _logging_of_its_own(monkeypatch: pytest.MonkeyPatch) -> Generator[None, None, None]:
    """Each test starts and ends with structlog's configuration as it found it, and nothing a
    test configures caches loggers: a command's ``main`` run inside a test points structlog at
    that test's captured stderr, which is closed once the test ends, and a module logger cached
    then would write to the closed stream in every later test."""
    saved = structlog.get_config()
    configure = structlog.configure

    def configure_uncached(**settings: Any) -> None:
        configure(**{**settings, "cache_logger_on_first_use": False})

    monkeypatch.setattr(structlog, "configure", configure_uncached)
    yield
    configure(**saved)


@pytest.fixture(scope="session")
def tiny_bundle_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three tiny bundles (guitar, bass, drums), side by side in one models directory."""
    from metalosc.training import make_tiny_bundles

    return dict(make_tiny_bundles(tmp_path_factory.mktemp("tiny-bundles"), seed=0, steps=20))
