"""Benchmark 5: decode throughput per instrument, ONNX Runtime against TensorFlow, same run.

Each bundle is loaded on both backends in this process, each limited to one thread as in a
model worker, and decoded at the daemon's batch sizes (``batch_size`` 16 for guitar and drums,
``bass_candidates`` 6 for the bass, on two chords). Two figures per backend:

* *decode*: ``model.decode`` (latents → events → notes: the model call and the conversion into
  phrases, Magenta's converter on TF, the runtime's on ONNX), phrases/s;
* *worker*: what a worker does per request (``decode_phrases``: decode, notes, features,
  intensity, and the guitar's chord inference or the bass's chord fit), phrases/s.

Rounds alternate between the backends (ONNX, TF, ONNX, TF, ...) so both see the same machine
load; the median round is reported, with the ONNX/TF ratio.

    .venv/bin/python bench/decode_throughput.py --models models/default --seconds 5 --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from metalosc.protocol import INSTRUMENTS
from metalosc.runtime import BASS_CANDIDATES, InstrumentModel, OnnxInstrumentModel
from metalosc.server import DecodeRequest, configure_logging, decode_phrases, model_analysis

BATCH = {"guitar": 16, "drums": 16, "bass": BASS_CANDIDATES}
CHORDS = ("E", "G")


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("models/default"))
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instruments", nargs="*", default=list(INSTRUMENTS))
    args = parser.parse_args()
    configure_logging("console", "warning")

    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    analysis = model_analysis()
    rng = np.random.default_rng(0)
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    header = f"{'instrument':<8}{'batch':>6}  {'':8}{'ONNX ph/s':>11}{'TF ph/s':>11}{'ratio':>8}"
    print(header)
    for instrument in args.instruments:
        bundle = args.models / instrument
        models: dict[str, Any] = {
            "onnx": OnnxInstrumentModel.load(bundle, threads=1),
            "tf": InstrumentModel.load(bundle),
        }
        n = BATCH[instrument]
        chords = CHORDS if instrument == "bass" else None
        z = rng.standard_normal((n, models["onnx"].z_size))
        request = DecodeRequest.of(z, 1.0, chords, range(n), infer_chords=instrument == "guitar")
        latents = z.astype(np.float32)
        results: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for backend, model in models.items():
                calls: dict[str, Callable[[], int]] = {
                    "decode": partial(_decode, model, latents, chords),
                    "worker": partial(_worker, model, analysis, request),
                }
                for what, call in calls.items():
                    results.setdefault((what, backend), []).append(rate(call, args.seconds))
        for what in ("decode", "worker"):
            onnx = statistics.median(results[(what, "onnx")])
            tf_rate = statistics.median(results[(what, "tf")])
            print(
                f"{instrument:<8}{n:>6}  {what:8}{onnx:>11.1f}{tf_rate:>11.1f}"
                f"{onnx / tf_rate:>7.2f}x",
                flush=True,
            )
        for model in models.values():
            model.close()
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
