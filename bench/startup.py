"""Benchmark 4: ``metalosc serve`` start-up time to READY (models loaded, buffers primed) and the
memory of the whole daemon — the daemon and every process it started (its model workers), i.e. its
process group — per model backend, measured on the real processes. It says first whether the
environment's bytecode is compiled: a start that compiles every module from source (no ``.pyc``
files and ``PYTHONDONTWRITEBYTECODE`` set) takes more than twice as long.

    .venv/bin/python bench/startup.py --models models/default --runs 3
    .venv/bin/python bench/startup.py --backend onnx --runs 5 -- --realtime-priority 0

Memory, per run, read from ``/proc`` once READY is logged, summed over the process group:

* RSS (``VmRSS``) — resident pages of each process, shared pages counted once per process that
  maps them (the workers share their libraries, so the sum overstates what the machine gives up);
* PSS (``Pss`` of ``smaps_rollup``) — each shared page divided among the processes sharing it: the
  sum is what the daemon really takes from the machine;
* peak RSS (``VmHWM``) — each process's high-water mark, summed.

Both backends are measured in the same run, alternating, so their figures compare on the same
machine load. The daemon runs in a process group of its own (as under a supervisor), and each run
ends with SIGTERM to the whole group; the exit status is reported (0: one graceful stop), and so
is every stderr line before READY that is not a structured (JSON) log record (0: a quiet start).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessMemory:
    """One process's memory, MiB: resident, proportional and peak resident."""

    pid: int
    name: str
    rss: float
    pss: float
    peak_rss: float


def group_pids(pgid: int) -> list[int]:
    """The processes whose process group is ``pgid``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[2]) == pgid:
            pids.append(int(entry.name))
    return sorted(pids)


def _kib(text: str, key: str) -> float:
    for line in text.splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def process_memory(pid: int) -> ProcessMemory | None:
    """RSS and PSS (``smaps_rollup``) and peak RSS (``VmHWM``) of ``pid``; ``None`` if gone."""
    base = Path(f"/proc/{pid}")
    try:
        rollup = (base / "smaps_rollup").read_text()
        status = (base / "status").read_text()
        cmdline = (base / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    command = " ".join(w.decode(errors="replace") for w in cmdline if w)
    if "multiprocessing.spawn" in command:
        name = "model worker"
    elif "multiprocessing" in command:
        name = "multiprocessing helper"
    elif " serve" in command:
        name = "daemon"
    else:
        name = command[:24]
    return ProcessMemory(
        pid, name, _kib(rollup, "Rss:"), _kib(rollup, "Pss:"), _kib(status, "VmHWM:")
    )


def group_memory(pgid: int) -> list[ProcessMemory]:
    """The memory of every process in process group ``pgid``."""
    return [m for pid in group_pids(pgid) if (m := process_memory(pid)) is not None]


@dataclass(frozen=True)
class Run:
    backend: str
    to_ready_s: float  # process start to the READY log line
    in_serve_s: float  # what serve itself reports: load + warm-up + priming
    processes: list[ProcessMemory]  # the process group at READY
    raw_lines: int  # stderr lines before READY that are not JSON log records
    exit_status: int  # after SIGTERM to the whole group

    @property
    def rss_mib(self) -> float:
        return sum(p.rss for p in self.processes)

    @property
    def pss_mib(self) -> float:
        return sum(p.pss for p in self.processes)

    @property
    def peak_rss_mib(self) -> float:
        return sum(p.peak_rss for p in self.processes)


def one_run(models: Path, backend: str, extra: list[str]) -> Run:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [
        str(Path(sys.executable).with_name("metalosc")),
        "serve",
        "--models",
        str(models),
        "--port",
        "0",
        "--metrics-port",
        "0",
        "--log-format",
        "json",
        "--model-backend",
        backend,
        *extra,
    ]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    try:
        assert process.stderr is not None
        reported = float("nan")
        raw_lines = 0
        for line in process.stderr:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                raw_lines += 1
                continue
            if record.get("event") == "ready":
                reported = float(record.get("startup_s", "nan"))
                break
        else:
            raise SystemExit(f"metalosc serve exited before ready (rc={process.wait()})")
        to_ready = time.perf_counter() - started
        processes = group_memory(process.pid)
        os.killpg(process.pid, signal.SIGTERM)  # the whole group, as a supervisor does
        status = process.wait(timeout=60)
        return Run(backend, to_ready, reported, processes, raw_lines, status)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


BYTECODE_SAMPLE = ("metalosc.server._app", "metalosc.runtime", "pydantic", "numpy", "trio")
"""Modules the daemon imports whose compiled bytecode (``__pycache__/*.pyc``) is looked for."""


def bytecode_report() -> str:
    """Whether the daemon's imports will read compiled bytecode or compile their source at every
    start: without ``.pyc`` files, and with ``PYTHONDONTWRITEBYTECODE`` set (as in containers and
    CI) so that none are written, every start compiles every module it imports."""
    import importlib.util

    cached = []
    for name in BYTECODE_SAMPLE:
        spec = importlib.util.find_spec(name)
        cached.append(bool(spec and spec.cached and Path(spec.cached).exists()))
    writes = "not written" if sys.flags.dont_write_bytecode else "written on first import"
    return (
        f"bytecode: compiled for {sum(cached)} of {len(cached)} sampled modules ({writes}); "
        "`uv sync --compile-bytecode` compiles an environment"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("models/default"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--backend", action="append", choices=["onnx", "tf"], help="repeatable (default: both)"
    )
    parser.add_argument("serve_args", nargs="*", help="extra `metalosc serve` flags (after --)")
    args = parser.parse_args()
    backends = args.backend or ["onnx", "tf"]
    print(bytecode_report(), flush=True)
    runs: list[Run] = []
    for k in range(args.runs):
        for backend in backends:
            run = one_run(args.models, backend, args.serve_args)
            runs.append(run)
            print(
                f"run {k + 1} {backend:4}: READY after {run.to_ready_s:.2f} s "
                f"({run.in_serve_s:.2f} s inside serve: load + prime); process group of "
                f"{len(run.processes)}: RSS {run.rss_mib:.0f} MiB, PSS {run.pss_mib:.0f} MiB, "
                f"peak RSS {run.peak_rss_mib:.0f} MiB; {run.raw_lines} raw stderr lines before "
                f"READY; exit status after SIGTERM to the group {run.exit_status}",
                flush=True,
            )
            for p in run.processes:
                print(
                    f"    pid {p.pid:>7} {p.name:<24} RSS {p.rss:6.0f}  PSS {p.pss:6.0f}  "
                    f"peak RSS {p.peak_rss:6.0f} MiB",
                    flush=True,
                )
    print("\nmedians (process group):")
    for backend in backends:
        mine = [r for r in runs if r.backend == backend]
        print(
            f"  {backend:4}: READY {statistics.median(r.to_ready_s for r in mine):.2f} s, "
            f"RSS {statistics.median(r.rss_mib for r in mine):.0f} MiB, "
            f"PSS {statistics.median(r.pss_mib for r in mine):.0f} MiB, "
            f"peak RSS {statistics.median(r.peak_rss_mib for r in mine):.0f} MiB"
        )


if __name__ == "__main__":
    main()
