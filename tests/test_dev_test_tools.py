"""`./dev test` installs what the suites need: its TEST_TOOLS list and the root conftest's
TOOL_PACKAGES (which names the package in a missing tool's failure) are the same pairs."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def tool_packages() -> dict[str, str]:
    """The root conftest's TOOL_PACKAGES (the root is not a package, so loaded by path)."""
    spec = importlib.util.spec_from_file_location("metalosc_root_conftest", ROOT / "conftest.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return dict(module.TOOL_PACKAGES)


def test_dev_installs_every_tool_the_tests_name() -> None:
    script = (ROOT / "dev").read_text(encoding="utf-8")
    match = re.search(r"^TEST_TOOLS=\((.*?)\)", script, re.S | re.M)
    assert match is not None, "TEST_TOOLS=(...) in ./dev"
    entries = shlex.split(match.group(1), comments=True)
    pairs = dict(entry.split(":", 1) for entry in entries)
    assert len(pairs) == len(entries), "each tool once"
    assert pairs == tool_packages()
