"""Benchmark 4: ``metalosc serve`` start-up time to READY (models loaded, buffers primed) and the
memory of the whole process group (the daemon and its model workers), per model backend.

Memory is read once READY is logged, from ``/proc``: RSS (``VmRSS``) and PSS (``Pss`` of
``smaps_rollup``, which splits shared pages between the processes that map them, so the group's
PSS sum is what the group really costs) of the daemon and every descendant, and each process's
peak RSS (``VmHWM``). Both backends are measured in the same run, alternating, so their figures
compare on the same machine load:

    .venv/bin/python bench/startup.py --models models/default --runs 3
    .venv/bin/python bench/startup.py --backend onnx --runs 5 -- --realtime-priority 0
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


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _pss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (the daemon, its workers, multiprocessing helpers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


@dataclass(frozen=True)
class Run:
    backend: str
    to_ready_s: float  # process start to the READY log line
    in_serve_s: float  # what serve itself reports: load + warm-up + priming
    processes: int
    rss_mib: float  # the group's RSS at READY
    pss_mib: float  # the group's PSS at READY
    peak_rss_mib: float  # sum of each process's peak RSS


def one_run(models: Path, backend: str, extra: list[str]) -> Run:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    command = [
        str(Path(sys.executable).with_name("metalosc")),
        "serve",
        "--models",
        str(models),
        "--port",
        "0",
        "--log-format",
        "json",
        "--model-backend",
        backend,
        *extra,
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
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
        pids = descendants(process.pid)
        rss = sum(_status_kib(p, "VmRSS") for p in pids) / 1024
        pss = sum(_pss_kib(p) for p in pids) / 1024
        peak = sum(_status_kib(p, "VmHWM") for p in pids) / 1024
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        return Run(backend, to_ready, reported, len(pids), rss, pss, peak)
    finally:
        if process.poll() is None:
            process.kill()


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
    runs: list[Run] = []
    for k in range(args.runs):
        for backend in backends:
            run = one_run(args.models, backend, args.serve_args)
            runs.append(run)
            print(
                f"run {k + 1} {backend:4}: READY after {run.to_ready_s:.2f} s "
                f"({run.in_serve_s:.2f} s inside serve), {run.processes} processes: "
                f"RSS {run.rss_mib:.0f} MiB, PSS {run.pss_mib:.0f} MiB, "
                f"peak RSS {run.peak_rss_mib:.0f} MiB",
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
