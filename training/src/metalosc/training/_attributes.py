"""`metalosc-train attributes`: (re)compute a finished drums bundle's fill vector in place.

A bundle holds only weights, not the training checkpoint or the work directory it came from, so
this works from the bundle alone plus the labelled data (the Groove MIDI Dataset): the bundle's
own model encodes the labelled windows (:func:`metalosc.training._fill.fill_vector`), the prior
response is measured (:func:`metalosc.training._fill.fill_response`), and

* ``attributes.npz`` is rewritten with the new ``fill`` array and every other array exactly as it
  was (the tension vector stays bit-identical): written to a temp file in the bundle directory,
  fsynced, then renamed over the old one (:func:`write_attributes`);
* ``manifest.json``'s metrics get the figures (``fill_examples``, ``beat_examples``,
  ``fill_vector_norm``, ``fill_tom_share_k<k>``; earlier fill figures are replaced), written with
  :func:`metalosc.protocol.write_manifest`, atomic too.

Everything is computed and validated before the first write. The two files are replaced one
after the other (attributes first), so a crash between the two leaves the new vector with the old
figures: a valid bundle either way. A running daemon picks the new vector up on its next reload.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from metalosc.protocol import (
    ATTRIBUTES_FILE,
    FILL_ATTRIBUTE,
    ModelManifest,
    atomic_output,
    load_manifest,
    write_manifest,
)
from metalosc.runtime import InstrumentModel, build_config
from metalosc.training._fill import (
    FILL_RESPONSE_SAMPLES,
    FillResponse,
    FillVector,
    LabelledWindows,
    fill_response,
    fill_vector,
    is_fill_metric,
    labelled_examples,
)
from numpy.typing import NDArray

log = structlog.get_logger(__name__)


def read_attributes(bundle_dir: Path) -> dict[str, NDArray[Any]]:
    """Every array of a bundle's attributes.npz, as stored."""
    with np.load(Path(bundle_dir) / ATTRIBUTES_FILE, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def write_attributes(bundle_dir: Path, arrays: Mapping[str, NDArray[Any]]) -> Path:
    """Replaces `bundle_dir`/attributes.npz with `arrays` atomically: written to a temp file in
    the same directory, fsynced, then ``os.replace``d over the old file. A failure at any point
    leaves the old file as it was and no temp file behind."""
    target = Path(bundle_dir) / ATTRIBUTES_FILE
    with atomic_output(target) as tmp, tmp.open("wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    return target


@dataclass(frozen=True)
class FillUpdate:
    """What :func:`update_fill_vector` wrote."""

    bundle: Path
    vector: FillVector
    response: FillResponse | None
    metrics: dict[str, float]  # the manifest's metrics after the update


def update_fill_vector(
    bundle_dir: Path,
    windows: LabelledWindows,
    *,
    samples: int = FILL_RESPONSE_SAMPLES,
    seed: int = 0,
) -> FillUpdate:
    """(Re)computes the fill vector of the drums bundle in `bundle_dir` from labelled `windows`
    with the bundle's own weights, and rewrites its attributes.npz and manifest metrics (see the
    module docstring). `samples` prior latents measure the response (0: not measured).

    Raises ModelBundleError for a broken bundle and ValueError for a bundle that is not drums
    or too few labelled examples; nothing is written then.
    """
    bundle_dir = Path(bundle_dir)
    manifest = load_manifest(bundle_dir)
    if manifest.instrument != "drums":
        raise ValueError(
            f"{bundle_dir}: a {manifest.instrument} bundle; the fill vector is a drums attribute"
        )
    model = InstrumentModel.load(bundle_dir)
    try:
        config = build_config(manifest.magenta_config, manifest.hparams, manifest.converter)
        examples = labelled_examples(windows, config)
        vector = fill_vector(model.session, examples.fill, examples.beat, seed=seed)
        response = (
            fill_response(model.session, vector.vector, samples=samples, seed=seed)
            if samples > 0
            else None
        )
    finally:
        model.close()
    if vector.vector.shape != (manifest.z_size,) or not np.all(np.isfinite(vector.vector)):
        raise ValueError(f"{bundle_dir}: the fill vector came out non-finite or misshapen")
    metrics = {k: v for k, v in manifest.metrics.items() if not is_fill_metric(k)}
    metrics.update(vector.metrics())
    if response is not None:
        metrics.update(response.metrics())
    updated = ModelManifest.model_validate({**manifest.model_dump(), "metrics": metrics})
    attributes = read_attributes(bundle_dir)
    attributes[FILL_ATTRIBUTE] = vector.vector
    write_attributes(bundle_dir, attributes)
    write_manifest(bundle_dir, updated)
    log.info("attributes.fill_written", bundle=str(bundle_dir), **vector.metrics())
    return FillUpdate(bundle_dir, vector, response, metrics)
