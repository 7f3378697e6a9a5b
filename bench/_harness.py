"""Shared pieces of the benchmarks: an in-process daemon, a decode load, percentiles."""

from __future__ import annotations

import os
import resource
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import trio
from metalosc.protocol import INSTRUMENTS
from metalosc.server import RunningServer, Settings, configure_logging, serve
from metalosc.server._cli import GIL_SWITCH_INTERVAL_S

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
configure_logging("console", os.environ.get("BENCH_LOG_LEVEL", "warning"))
# as `metalosc serve` runs (BENCH_SWITCH_INTERVAL=0.005 measures CPython's default instead)
sys.setswitchinterval(float(os.environ.get("BENCH_SWITCH_INTERVAL", GIL_SWITCH_INTERVAL_S)))


async def start_server(nursery: trio.Nursery, models: Path, **settings: object) -> RunningServer:
    """``serve`` on a free loopback port with ``settings``; returns once ready."""
    config = Settings(models=models, port=0, log_format="json", **settings)  # type: ignore[arg-type]
    running: RunningServer = await nursery.start(
        lambda task_status: serve(config, task_status=task_status)
    )
    return running


async def decode_forever(server: RunningServer, batch: int = 16) -> None:
    """Keep all three models decoding, batch after batch, on their own worker threads."""

    async def one(instrument: str) -> None:
        runner = server.runners[instrument]  # type: ignore[index]
        chords = ["Em", "G"] if instrument == "bass" else None
        while True:
            z = server.generator.sample(instrument, batch)  # type: ignore[arg-type]
            await runner.decode(z, 1.0, chords, list(range(batch)))

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
