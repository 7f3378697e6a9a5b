"""Benchmark 4: ``metalosc serve`` start-up time to ready (models loaded, buffers primed) and the
memory of the whole daemon — the daemon and every process it started (its model workers), i.e. its
process group — measured on the real processes.

    .venv/bin/python bench/startup.py --models models/default --runs 3

Memory, per run, once the daemon is ready, summed over the process group:

* RSS — resident pages of each process, shared pages counted once per process that maps them
  (the workers share TensorFlow's libraries, so the sum overstates what the machine gives up);
* PSS — each shared page divided among the processes sharing it: the sum is what the daemon
  really takes from the machine;
* peak RSS — each process's high-water mark (VmHWM), summed.

The daemon runs in a process group of its own (as under a supervisor), and the run ends with
SIGTERM to the whole group; the exit status is reported (0: one graceful stop).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
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
    to_ready: float
    in_serve: float
    processes: list[ProcessMemory]
    exit_status: int


def one_run(models: Path, extra: list[str]) -> Run:
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
        *extra,
    ]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True
    )
    try:
        assert process.stderr is not None
        reported = float("nan")
        for line in process.stderr:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
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
        return Run(to_ready, reported, processes, status)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("models/default"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("serve_args", nargs="*", help="extra `metalosc serve` flags")
    args = parser.parse_args()
    for k in range(args.runs):
        run = one_run(args.models, args.serve_args)
        rss = sum(p.rss for p in run.processes)
        pss = sum(p.pss for p in run.processes)
        peak = sum(p.peak_rss for p in run.processes)
        print(
            f"run {k + 1}: ready after {run.to_ready:.2f} s (process start to READY; "
            f"{run.in_serve:.2f} s inside serve: load + prime); process group of "
            f"{len(run.processes)}: RSS {rss:.0f} MiB, PSS {pss:.0f} MiB, peak RSS {peak:.0f} MiB; "
            f"exit status after SIGTERM to the group {run.exit_status}"
        )
        for p in run.processes:
            print(
                f"    pid {p.pid:>7} {p.name:<24} RSS {p.rss:6.0f}  PSS {p.pss:6.0f}  "
                f"peak RSS {p.peak_rss:6.0f} MiB"
            )


if __name__ == "__main__":
    main()
