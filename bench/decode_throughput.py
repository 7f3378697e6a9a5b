"""Benchmark 5: decode throughput per instrument, ONNX Runtime against TensorFlow, same run.

Each backend runs in a process of its own, as it does in a model worker, limited to one thread,
and decodes each bundle at the daemon's batch sizes (``batch_size`` 16 for guitar and drums,
``bass_candidates`` 6 for the bass, on two chords). One process per backend because a worker
never holds both: importing TensorFlow into a process slows ONNX Runtime there by 15-25%
(``import tensorflow`` alone took the drums from ~1,700 to ~1,400 phrases/s on this project's
machine), which would charge TensorFlow's presence to the ONNX figure. Two figures per backend:

* *decode*: ``model.decode`` (latents → events → notes: the model call and the conversion into
  phrases, Magenta's converter on TF, the runtime's on ONNX), phrases/s;
* *worker*: what a worker does per request (``decode_phrases``: decode, notes, features,
  intensity, and the guitar's chord inference or the bass's chord fit), phrases/s.

Rounds alternate between the backends (ONNX, TF, ONNX, TF, ...; the other process waits on its
pipe meanwhile) so both see the same machine load; the median round is reported, with the
ONNX/TF ratio.

    .venv/bin/python bench/decode_throughput.py --models models/default --seconds 5 --rounds 3
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from metalosc.protocol import INSTRUMENTS
from metalosc.runtime import BASS_CANDIDATES, InstrumentModel, OnnxInstrumentModel
from metalosc.server import DecodeRequest, configure_logging, decode_phrases, model_analysis

BATCH = {"guitar": 16, "drums": 16, "bass": BASS_CANDIDATES}
CHORDS = ("E", "G")
BACKENDS = ("onnx", "tf")


def _decode(model: Any, z: Any, chords: Any) -> int:
    return len(model.decode(z, 1.0, chords))


def _worker(model: Any, analysis: Any, request: DecodeRequest) -> int:
    return len(decode_phrases(model, analysis, request))


def rate(call: Callable[[], int], seconds: float) -> float:
    """Phrases per second of ``call`` (which returns how many it made), after one warm-up."""
    call()
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        done += call()
    return done / (time.perf_counter() - started)


def measure(backend: str, models_dir: Path, conn: Connection) -> None:
    """Child process: load each bundle asked for on ``backend`` (one thread), then answer
    ``(instrument, what, seconds)`` with phrases/s until sent ``None``."""
    configure_logging("console", "warning")
    if backend == "tf":
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    analysis = model_analysis()
    rng = np.random.default_rng(0)
    calls: dict[tuple[str, str], Callable[[], int]] = {}
    while (job := conn.recv()) is not None:
        instrument, what, seconds = job
        if (instrument, what) not in calls:
            bundle = models_dir / instrument
            model: Any = (
                OnnxInstrumentModel.load(bundle, threads=1)
                if backend == "onnx"
                else InstrumentModel.load(bundle)
            )
            n = BATCH[instrument]
            chords = CHORDS if instrument == "bass" else None
            z = rng.standard_normal((n, model.z_size))
            infer = instrument == "guitar"
            request = DecodeRequest.of(z, 1.0, chords, range(n), infer_chords=infer)
            calls[(instrument, "decode")] = partial(_decode, model, z.astype(np.float32), chords)
            calls[(instrument, "worker")] = partial(_worker, model, analysis, request)
        if backend == "onnx" and "tensorflow" in sys.modules:
            raise RuntimeError("the ONNX process imported TensorFlow: it would measure both")
        conn.send(rate(calls[(instrument, what)], seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("models/default"))
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instruments", nargs="*", default=list(INSTRUMENTS))
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    pipes: dict[str, Connection] = {}
    processes = []
    for backend in BACKENDS:
        parent, child = context.Pipe()
        process = context.Process(target=measure, args=(backend, args.models, child))
        process.start()
        pipes[backend] = parent
        processes.append(process)
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    header = f"{'instrument':<8}{'batch':>6}  {'':8}{'ONNX ph/s':>11}{'TF ph/s':>11}{'ratio':>8}"
    print(header)
    try:
        for instrument in args.instruments:
            results: dict[tuple[str, str], list[float]] = {}
            for _ in range(args.rounds):
                for backend, pipe in pipes.items():
                    for what in ("decode", "worker"):
                        pipe.send((instrument, what, args.seconds))
                        results.setdefault((what, backend), []).append(pipe.recv())
            for what in ("decode", "worker"):
                onnx = statistics.median(results[(what, "onnx")])
                tf_rate = statistics.median(results[(what, "tf")])
                print(
                    f"{instrument:<8}{BATCH[instrument]:>6}  {what:8}{onnx:>11.1f}{tf_rate:>11.1f}"
                    f"{onnx / tf_rate:>7.2f}x",
                    flush=True,
                )
    finally:
        for pipe in pipes.values():
            pipe.send(None)
        for process in processes:
            process.join()
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
