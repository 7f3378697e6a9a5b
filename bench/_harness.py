"""Shared pieces of the benchmarks: an in-process daemon, a decode load, percentiles, and
running a benchmark once per model-execution mode, each in a fresh process, side by side."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import trio
from metalosc.protocol import INSTRUMENTS
from metalosc.server import DecodeRequest, RunningServer, Settings, configure_logging, serve
from metalosc.server._cli import GIL_SWITCH_INTERVAL_S

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
configure_logging("console", os.environ.get("BENCH_LOG_LEVEL", "warning"))
# as `metalosc serve` runs (BENCH_SWITCH_INTERVAL=0.005 measures CPython's default instead)
sys.setswitchinterval(float(os.environ.get("BENCH_SWITCH_INTERVAL", GIL_SWITCH_INTERVAL_S)))


async def start_server(nursery: trio.Nursery, models: Path, **settings: object) -> RunningServer:
    """``serve`` on a free loopback port with ``settings``; returns once ready."""
    config = Settings(models=models, port=0, log_format="json", **settings)  # type: ignore[arg-type]
    running: RunningServer = await nursery.start(partial(serve, config))
    return running


async def decode_forever(server: RunningServer, batch: int = 16) -> None:
    """Keep all three models decoding, batch after batch, in their own workers."""

    async def one(instrument: str) -> None:
        runner = server.runners[instrument]  # type: ignore[index]
        chords = ["Em", "G"] if instrument == "bass" else None
        while True:
            z = server.generator.draw(instrument, batch)  # type: ignore[arg-type]
            await runner.decode(DecodeRequest.of(z, 1.0, chords, range(batch)))

    async with trio.open_nursery() as nursery:
        for instrument in INSTRUMENTS:
            nursery.start_soon(one, instrument)


def percentiles(values: Sequence[float], ps: Sequence[float] = (50, 90, 99, 99.9)) -> str:
    if not values:
        return "no samples"
    arr = np.asarray(values)
    parts = [f"p{p:g}={np.percentile(arr, p) * 1e3:.3f} ms" for p in ps]
    return (
        f"n={len(arr)} min={arr.min() * 1e3:.3f} ms "
        + " ".join(parts)
        + (f" max={arr.max() * 1e3:.3f} ms")
    )


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


MODES = ("process", "thread")
RESULT_PREFIX = "BENCH_RESULT "


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def emit_result(result: dict[str, Any]) -> None:
    """Hand a mode's figures to the parent run (``run_modes``)."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)


def run_modes(
    script: str, argv: Sequence[str], modes: Sequence[str], option: str = "--model-execution"
) -> dict[str, dict[str, Any]]:
    """Run ``script`` once per mode (the value of ``option``), back to back, each in a fresh
    interpreter (so the thread mode's TensorFlow never sits in the process mode's daemon, nor
    the TF backend's in the ONNX one's); their output is shown as it comes, their figures
    returned."""
    results: dict[str, dict[str, Any]] = {}
    for mode in modes:
        print(f"== {option.lstrip('-').replace('-', '_')}={mode} ({load_average()})", flush=True)
        command = [sys.executable, script, *argv, option, mode]
        proc = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=True)
        for line in proc.stdout.splitlines():
            if line.startswith(RESULT_PREFIX):
                results[mode] = json.loads(line[len(RESULT_PREFIX) :])
            else:
                print(line)
    return results


def side_by_side(results: dict[str, dict[str, Any]], rows: Sequence[tuple[str, str]]) -> None:
    """Print ``rows`` (label, key) of every mode, and thread/process where both ran."""
    modes = list(results)
    ratio = "process" in results and "thread" in results
    header = (
        f"{'':28}"
        + "".join(f"{m:>14}" for m in modes)
        + (f"{'thread/process':>16}" if ratio else "")
    )
    print(header)
    for label, key in rows:
        values = [results[m][key] for m in modes]
        line = f"{label:28}" + "".join(f"{v:14.3f}" for v in values)
        if ratio:
            p, t = results["process"][key], results["thread"][key]
            line += f"{(t / p if p else float('nan')):16.2f}"
        print(line)
