"""`quality`: evidence that three bundles make music that answers tension and plays together.

:func:`run_quality` loads the bundles and takes the measurements in turn, each reusing the code
the product runs and each in its own module:

* **tension calibration** (:mod:`~metalosc.training._tension`): does decoded intensity follow the
  requested tension, per instrument;
* **band cohesion** (:mod:`~metalosc.training._cohesion`): does the bass play the guitar's
  chords, against random baselines;
* **scores** (:mod:`~metalosc.training._excerpts`, :mod:`~metalosc.training._musescore`): a few
  8-bar band excerpts from calm to intense as MIDI, rendered to PNG pages when MuseScore 3 is
  installed.

It writes ``quality.json`` (:mod:`~metalosc.training._quality_report`, which also renders the
table the CLI prints). A new measurement is a module of its own, a step in :func:`run_quality`
and a field of :class:`~metalosc.training._quality_report.QualityReport`.

Everything numpy draws (latents, the tension grid, random chords and pitches) comes from the
seed, and the models' graphs are seeded too; but Magenta samples notes with tfp inside a TF
while-loop whose stateful random ops are not repeatable run to run, so at temperature 1 the
numbers move by sampling noise from run to run (even near-greedy temperatures tie on the
nearly flat logits of an untrained model). With ``backend="onnx"`` (the bundles' ONNX decoders)
ONNX Runtime's sampling is seeded too, and a run repeats exactly.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import structlog
from metalosc.protocol import Instrument
from metalosc.runtime import InstrumentModel
from metalosc.training._cohesion import measure_cohesion
from metalosc.training._excerpts import write_excerpts
from metalosc.training._generate import load_bundles
from metalosc.training._musescore import render_scores
from metalosc.training._quality_report import REPORT_FILE, QualityReport, write_report
from metalosc.training._tension import MIN_PHRASES, calibrate_tension

__all__ = ["MIN_PHRASES", "REPORT_FILE", "QualityReport", "run_quality", "seed_sampling"]

log = structlog.get_logger(__name__)


def seed_sampling(models: Mapping[Instrument, Any], seed: int) -> None:
    """Seeds the TF models' graphs: TensorFlow derives a fixed seed for every random op built
    after the graph gets one, and :class:`InstrumentModel` builds most decode ops lazily (per
    batch size). Call right after loading. This removes the seed lottery, not all variation:
    tfp's sampling inside Magenta's decode loop still depends on thread timing (module
    docstring). ONNX models are seeded before loading instead (:func:`run_quality`)."""
    for model in models.values():
        if isinstance(model, InstrumentModel):
            model.session.graph.seed = seed


@contextlib.contextmanager
def _timed(seconds: dict[str, float], step: str) -> Iterator[None]:
    """Records the seconds the block takes as ``seconds[step]``."""
    mark = time.perf_counter()
    try:
        yield
    finally:
        seconds[step] = time.perf_counter() - mark


def run_quality(
    bundles_dir: Path,
    out_dir: Path,
    *,
    phrases: int = 200,
    seed: int = 0,
    render: bool = True,
    excerpts: int = 3,
    temperature: float = 1.0,
    backend: Literal["tf", "onnx"] = "tf",
) -> QualityReport:
    """Measures the bundles in `bundles_dir/<instrument>` and writes `out_dir/quality.json`,
    the excerpt MIDI files and (with `render`) their PNG score pages. `backend` decodes with the
    TF checkpoints or the bundles' ONNX decoders (what the daemon serves).

    Each measurement draws its numpy randomness from its own stream, ``default_rng([seed, k])``;
    a new measurement takes the next ``k``, so the others' latents stay the same.
    """
    if phrases < MIN_PHRASES:
        raise ValueError(f"phrases must be >= {MIN_PHRASES} for a rank correlation, got {phrases}")
    if excerpts < 1:
        raise ValueError(f"excerpts must be >= 1, got {excerpts}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    with _timed(seconds, "load"):
        if backend == "onnx":
            import onnxruntime

            # ONNX Runtime seeds each sampling op from its global seed when the session is
            # created: the decodes are then the same run after run (one thread each).
            onnxruntime.set_seed(seed)
        models = load_bundles(Path(bundles_dir), backend)
    try:
        seed_sampling(models, seed)
        with _timed(seconds, "tension"):
            tension = calibrate_tension(
                models,
                phrases=phrases,
                temperature=temperature,
                rng=np.random.default_rng([seed, 1]),
            )
        with _timed(seconds, "cohesion"):
            cohesion = measure_cohesion(
                models,
                phrases=phrases,
                temperature=temperature,
                seed=seed,
                rng=np.random.default_rng([seed, 2]),
            )
        with _timed(seconds, "excerpts"):
            midis = write_excerpts(
                models, out_dir, count=excerpts, temperature=temperature, seed=seed
            )
    finally:
        for model in models.values():
            model.close()
    with _timed(seconds, "render"):
        pages, status = render_scores(midis, out_dir) if render else ([], "disabled")
    seconds["total"] = time.perf_counter() - started
    report = QualityReport(
        bundles_dir=Path(bundles_dir),
        seed=seed,
        temperature=temperature,
        tension=tension,
        cohesion=cohesion,
        excerpts=midis,
        scores=pages,
        render=status,
        seconds=seconds,
    )
    write_report(out_dir / REPORT_FILE, report)
    log.info("quality.done", out=str(out_dir), seconds=round(seconds["total"], 1))
    return report
