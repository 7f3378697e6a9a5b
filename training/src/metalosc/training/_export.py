"""Export a trained instrument model as the model bundle the server loads.

A bundle is a directory: `manifest.json` (written with `metalosc.protocol.write_manifest`), a
weights-only checkpoint `model.ckpt.*` (the model's variables and global_step — global_step
only so that Magenta's own `TrainedModel` can restore it too — but no optimizer slots, a third
of a training checkpoint), and `attributes.npz` with the latent **tension** vector (and, for
drums exported with fill-labelled examples, the **fill** vector: see
:mod:`metalosc.training._fill`).

The tension vector follows the MusicVAE paper's attribute vectors: every training example is
scored with :func:`metalosc.runtime.intensity` (on the phrase as the model sees it:
the converter's own decoding of the example), encoded to its posterior mean, and the vector is
the mean z of the most intense quarter minus the mean z of the calmest quarter. Adding a
multiple of it to z moves a phrase towards "more intense".

The bundle is written into a temp directory next to the target and renamed into place, so a
reader never sees a half-written bundle.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import structlog
from metalosc.protocol import (
    ATTRIBUTES_FILE,
    FILL_ATTRIBUTE,
    TENSION_ATTRIBUTE,
    Instrument,
    ModelManifest,
    write_manifest,
)
from metalosc.runtime import ModelSession, Preset, intensity
from metalosc.training._dataset import (
    MAX_ATTRIBUTE_EXAMPLES,
    Examples,
    posterior_means,
    sample_examples,
)
from metalosc.training._fill import (
    MIN_FILL_EXAMPLES,
    FillResponse,
    FillVector,
    LabelledExamples,
    fill_response,
    fill_vector,
)
from metalosc.training._onnx import export_onnx_decoder
from numpy.typing import NDArray

log = structlog.get_logger(__name__)

CHECKPOINT_NAME = "model.ckpt"


@dataclass(frozen=True)
class TensionVector:
    """The tension attribute vector and what it was computed from."""

    vector: NDArray[np.float32]  # [z_size]
    examples: int
    low_intensity: float  # mean intensity of the calm quarter
    high_intensity: float  # mean intensity of the intense quarter


def example_intensities(
    session: ModelSession, examples: Examples, instrument: Instrument
) -> NDArray[np.float64]:
    """Intensity of each example, scored on the converter's decoding of its output tensor."""
    seqs = session.config.data_converter.from_tensors(examples.outputs.dense())
    return np.asarray([intensity(seq, instrument) for seq in seqs], np.float64)


def tension_vector(
    session: ModelSession,
    examples: Examples,
    instrument: Instrument,
    *,
    max_examples: int = MAX_ATTRIBUTE_EXAMPLES,
    seed: int = 0,
) -> TensionVector:
    """Mean z of the top intensity quartile minus mean z of the bottom quartile."""
    if len(examples) < 4:
        raise ValueError(f"need at least 4 examples for a tension vector, got {len(examples)}")
    examples = sample_examples(examples, max_examples, seed)
    scores = example_intensities(session, examples, instrument)
    mu = posterior_means(session, examples)
    order = np.argsort(scores, kind="stable")
    quarter = max(1, len(order) // 4)
    low, high = order[:quarter], order[-quarter:]
    vector = mu[high].mean(axis=0) - mu[low].mean(axis=0)
    return TensionVector(
        vector=vector.astype(np.float32),
        examples=len(examples),
        low_intensity=float(scores[low].mean()),
        high_intensity=float(scores[high].mean()),
    )


def write_weights(session: ModelSession, prefix: Path, global_step: int) -> None:
    """Saves the session's model variables (+ global_step) as a checkpoint at `prefix`."""
    tf = session._tf
    v1 = tf.compat.v1
    with session.graph.as_default():
        step = session.config.model.global_step
        session.session.run(step.assign(global_step))
        saver = v1.train.Saver(v1.global_variables())
        saver.save(session.session, str(prefix), write_meta_graph=False, write_state=False)


def export_fill_vector(
    session: ModelSession, labelled: LabelledExamples | None, *, seed: int = 0
) -> tuple[FillVector, FillResponse] | None:
    """The fill vector of `labelled` and its response, or None (logged) when there are no labels
    or fewer than :data:`MIN_FILL_EXAMPLES` examples of a class: the bundle then has none."""
    if labelled is None or (len(labelled.fill) == 0 and len(labelled.beat) == 0):
        return None
    if min(len(labelled.fill), len(labelled.beat)) < MIN_FILL_EXAMPLES:
        log.warning(
            "export.no_fill_vector",
            reason=f"fewer than {MIN_FILL_EXAMPLES} examples of a class",
            fill_examples=len(labelled.fill),
            beat_examples=len(labelled.beat),
        )
        return None
    vector = fill_vector(session, labelled.fill, labelled.beat, seed=seed)
    return vector, fill_response(session, vector.vector, seed=seed)


def _replace_dir(tmp: Path, target: Path) -> None:
    """Moves the finished bundle `tmp` to `target`, replacing an older bundle there."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export_bundle(
    checkpoint: str,
    preset: Preset,
    examples: Examples,
    out_dir: Path,
    *,
    data_fingerprint: str,
    metrics: Mapping[str, float],
    fill: LabelledExamples | None = None,
    seed: int = 0,
) -> Path:
    """Writes the bundle of `checkpoint` (a training checkpoint of `preset`) to `out_dir`;
    `examples` are the training examples the tension vector is computed from; `fill`, labelled
    drum examples, adds the fill vector (when there are enough of both classes) and its figures
    to the metrics."""
    import tensorflow as tf

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    global_step = int(tf.train.load_variable(checkpoint, "global_step"))
    session = ModelSession(preset.build_config(), checkpoint)
    try:
        tension = tension_vector(session, examples, preset.instrument, seed=seed)
        fill_result = export_fill_vector(session, fill, seed=seed)
        attributes = {TENSION_ATTRIBUTE: tension.vector}
        fill_metrics: dict[str, float] = {}
        if fill_result is not None:
            attributes[FILL_ATTRIBUTE] = fill_result[0].vector
            fill_metrics = {**fill_result[0].metrics(), **fill_result[1].metrics()}
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=out_dir.parent))
        try:
            write_weights(session, tmp / CHECKPOINT_NAME, global_step)
            with (tmp / ATTRIBUTES_FILE).open("wb") as f:
                np.savez(f, **attributes)
            manifest = ModelManifest(
                instrument=preset.instrument,
                preset=preset.name,
                magenta_config=preset.magenta_config,
                hparams=dict(preset.hparams),
                converter=dict(preset.converter),
                checkpoint=CHECKPOINT_NAME,
                data_fingerprint=data_fingerprint,
                metrics={**metrics, **fill_metrics, "global_step": float(global_step)},
                created_at=dt.datetime.now(dt.timezone.utc),
                z_size=session.z_size,
            )
            decoder = export_onnx_decoder(tmp, manifest)
            write_manifest(tmp, manifest.model_copy(update={"decoder": decoder}))
            tmp.chmod(0o755)
            _replace_dir(tmp, out_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    finally:
        session.close()
    log.info(
        "export.done",
        instrument=preset.instrument,
        bundle=str(out_dir),
        global_step=global_step,
        tension_examples=tension.examples,
        tension_norm=float(np.linalg.norm(tension.vector)),
        intensity_low=round(tension.low_intensity, 3),
        intensity_high=round(tension.high_intensity, 3),
        **fill_metrics,
    )
    return out_dir
