"""Benchmark 4: ``metalosc serve`` start-up time to ready (models loaded, buffers primed) and
peak resident memory, measured on the real process.

    .venv/bin/python bench/startup.py --models models/default --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def peak_rss_mib(pid: int) -> float:
    """VmHWM: the process's peak resident set size so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def one_run(models: Path, extra: list[str]) -> tuple[float, float, float]:
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
        rss = peak_rss_mib(process.pid)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        return to_ready, reported, rss
    finally:
        if process.poll() is None:
            process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("models/default"))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("serve_args", nargs="*", help="extra `metalosc serve` flags")
    args = parser.parse_args()
    for k in range(args.runs):
        to_ready, in_serve, rss = one_run(args.models, args.serve_args)
        print(
            f"run {k + 1}: ready after {to_ready:.2f} s (process start to READY; "
            f"{in_serve:.2f} s inside serve: load + prime), peak RSS {rss:.0f} MiB"
        )


if __name__ == "__main__":
    main()
