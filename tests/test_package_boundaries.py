"""The packages' boundaries, as the architecture document draws them.

The daemon (``metalosc.server``) stands on ``metalosc.runtime`` and ``metalosc.protocol`` and never
on the offline pipeline (``metalosc.training``): it neither lists it as a dependency nor imports
it, and importing the daemon pulls in no machine-learning framework (its event-loop process never
runs a model). The runtime and the protocol import neither the daemon nor the pipeline.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]


def _imported_modules(package_dir: Path) -> set[str]:
    found: set[str] = set()
    for path in package_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                found |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("server", ("metalosc.training",)),
        ("runtime", ("metalosc.training", "metalosc.server")),
        ("protocol", ("metalosc.training", "metalosc.server", "metalosc.runtime")),
    ],
)
def test_a_package_imports_nothing_above_it(package: str, forbidden: tuple[str, ...]) -> None:
    modules = _imported_modules(ROOT / package / "src")
    assert not {m for m in modules if m.startswith(forbidden)}


def test_the_server_does_not_depend_on_the_training_package() -> None:
    project = tomllib.loads((ROOT / "server" / "pyproject.toml").read_text(encoding="utf-8"))
    dependencies = project["project"]["dependencies"]
    assert not [d for d in dependencies if d.startswith("metalosc-training")]
    assert [d for d in dependencies if d.startswith("metalosc-runtime")]


def test_importing_the_daemon_loads_no_pipeline_and_no_model_framework() -> None:
    probe = (
        "import sys, metalosc.server, metalosc.server.testing; "
        "print(' '.join(m for m in ('metalosc.training', 'tensorflow', 'magenta', 'note_seq') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == ""
