"""How the daemon is deployed: the systemd unit's hardening, and the unit, the container image and
the README saying the same thing.

No Docker engine or base image can be fetched where CI runs, so the image is never built here:
these tests hold the Dockerfile to the unit and the README instead (same console script, same
arguments, same install command, same working directory), and the unit is rated by systemd's
own offline analyzer.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "systemd" / "metalosc.service"
DOCKERFILE = ROOT / "Dockerfile"
README = ROOT / "README.md"
EXPOSURE_BOUND = 1.5
"""``systemd-analyze security`` rates a unit from 0 (locked down) to 10 (exposed)."""


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
    return settings


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def dockerfile(instruction: str) -> list[str]:
    return [rest for word, rest in dockerfile_instructions() if word == instruction]


@pytest.mark.requires_tools("systemd-analyze")
def test_the_unit_is_hardened_to_an_exposure_of_at_most_1_5() -> None:
    result = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", "--no-pager", str(UNIT)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    match = re.search(r"Overall exposure level for metalosc\.service: (\d+\.\d+)", result.stdout)
    assert match is not None, result.stdout + result.stderr
    exposure = float(match.group(1))
    open_items = [line for line in result.stdout.splitlines() if line.startswith("✗")]
    assert exposure <= EXPOSURE_BOUND, "\n".join(open_items)


def test_the_unit_keeps_what_the_daemon_needs() -> None:
    """Hardening that would break the daemon, as measured (the unit's comments say how)."""
    unit = unit_settings()
    assert unit["RestrictRealtime"] == ["no"]  # SCHED_FIFO event loop
    assert "MemoryDenyWriteExecute" not in unit  # TensorFlow's oneDNN compiles kernels
    assert "ProcSubset" not in unit  # /proc/cpuinfo: TensorFlow, ONNX Runtime's cpuinfo
    denied = " ".join(unit["SystemCallFilter"])
    assert "@resources" not in denied  # setpriority, sched_setscheduler, mbind
    assert int(unit["LimitRTPRIO"][0]) >= 10
    assert unit["ExecReload"] == ["/bin/kill -HUP $MAINPID"]


def test_the_image_runs_what_the_unit_runs_as_a_non_root_user() -> None:
    unit = unit_settings()
    exec_start = shlex.split(unit["ExecStart"][0])
    (entrypoint,) = dockerfile("ENTRYPOINT")
    assert json.loads(entrypoint) == exec_start
    (workdir,) = dockerfile("WORKDIR")
    assert workdir == unit["WorkingDirectory"][0]
    # the console script exists, and is the one the health check runs too
    scripts = tomllib.loads((ROOT / "server" / "pyproject.toml").read_text())["project"]["scripts"]
    assert Path(exec_start[0]).name in scripts
    assert exec_start[0] == f"{workdir}/.venv/bin/{Path(exec_start[0]).name}"
    (healthcheck,) = dockerfile("HEALTHCHECK")
    options, _, command = healthcheck.partition("CMD ")
    health = json.loads(command)
    assert health[:2] == [exec_start[0], "ping"]
    # it pings where the daemon listens: the settings file the daemon reads
    assert health[health.index("--config") + 1] == exec_start[exec_start.index("--config") + 1]
    assert "--start-period=" in options
    (user,) = dockerfile("USER")
    uid = user.split(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0


def test_the_install_command_is_the_same_in_the_image_and_the_readme() -> None:
    syncs = [run for run in dockerfile("RUN") if "uv sync" in run]
    final = syncs[-1]
    install = re.search(r"uv sync [^&;]*", final)
    assert install is not None
    command = install.group(0).strip()
    # the serving-only environment: the server's dependencies, no TensorFlow, no dev tools, and
    # bytecode compiled (the service's user cannot write it, and a start compiling every module
    # from source takes more than twice as long)
    assert command == "uv sync --frozen --no-dev --compile-bytecode --package metalosc-server"
    compile_sources = re.search(r"\.venv/bin/python -m compileall [^&;\\]*", final)
    assert compile_sources is not None
    readme = README.read_text()
    service = readme[readme.index("## Running it as a service") :]
    assert f"`{command}`" in service
    assert f"`{compile_sources.group(0).strip()}`" in service
    assert "/opt/metalosc" in service
    header = DOCKERFILE.read_text().splitlines()[:3]
    for line in header:
        for docker in re.findall(r"(docker (?:build|run) [^(]*?)\s*(?:\(|$)", line):
            assert docker.strip() in readme, docker
