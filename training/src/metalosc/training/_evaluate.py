"""Reconstruction accuracy on the held-out split: the MusicVAE paper's measure.

Per-step token accuracy of the decoder's argmax output against the input phrase, two ways:

* **teacher-forced** — z is the posterior mean of the input and the decoder is fed the true
  previous token at every step (what Magenta's `metrics/accuracy` reports in eval);
* **sampled** — z is the posterior mean, and the decoder runs autoregressively on its own
  argmax outputs, as it does when generating.

Chord-conditioned models get each example's own chord controls (decoding shares one control
sequence per batch, so sampled decoding runs once per distinct chord progression).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog
from metalosc.protocol import INSTRUMENTS, write_atomic
from metalosc.runtime import GREEDY_TEMPERATURE, ModelSession
from metalosc.training._dataset import Examples
from numpy.typing import NDArray

if TYPE_CHECKING:
    from rich.table import Table

log = structlog.get_logger(__name__)

#: Examples evaluated per instrument (a deterministic sample when there are more).
DEFAULT_MAX_EXAMPLES = 1024


@dataclass(frozen=True)
class Accuracy:
    """One instrument's evaluation."""

    examples: int
    steps: int
    teacher_forced_accuracy: float
    sampled_accuracy: float


def _step_accuracy(
    predictions: NDArray[np.integer[Any]],
    targets: NDArray[np.integer[Any]],
    lengths: NDArray[np.integer[Any]],
) -> float:
    mask = np.arange(targets.shape[1])[None, :] < lengths[:, None]
    total = int(mask.sum())
    return float(((predictions == targets) & mask).sum() / total) if total else 0.0


def evaluate_examples(
    session: ModelSession,
    examples: Examples,
    *,
    max_examples: int = DEFAULT_MAX_EXAMPLES,
    seed: int = 0,
) -> Accuracy:
    """Teacher-forced and sampled per-step accuracy of `session` on `examples`."""
    if len(examples) == 0:
        raise ValueError("no evaluation examples")
    if len(examples) > max_examples:
        rng = np.random.default_rng(seed)
        examples = examples.subset(np.sort(rng.choice(len(examples), max_examples, replace=False)))
    inputs = list(examples.inputs.dense())
    outputs = examples.outputs.dense()
    controls = list(examples.controls.dense()) if session.control_depth else None
    lengths = np.minimum(examples.lengths, session.length)
    targets = outputs.argmax(axis=-1)

    teacher = session.teacher_forced_predictions(inputs, list(outputs), lengths.tolist(), controls)
    mu = session.encode_tensors(inputs, lengths.tolist(), controls)
    sampled = np.zeros_like(targets)
    if controls is None:
        sampled = session.decode_tensors(mu, GREEDY_TEMPERATURE).argmax(axis=-1)
    else:
        groups: dict[bytes, list[int]] = {}
        for i, c in enumerate(controls):
            groups.setdefault(np.ascontiguousarray(c).tobytes(), []).append(i)
        for indices in groups.values():
            c_input = controls[indices[0]]
            decoded = session.decode_tensors(mu[indices], GREEDY_TEMPERATURE, c_input)
            sampled[indices] = decoded.argmax(axis=-1)
    return Accuracy(
        examples=len(examples),
        steps=int(lengths.sum()),
        teacher_forced_accuracy=_step_accuracy(teacher, targets, lengths),
        sampled_accuracy=_step_accuracy(sampled, targets, lengths),
    )


def evaluation_json(results: Mapping[str, Accuracy], missing: Sequence[str] = ()) -> dict[str, Any]:
    """{instrument: {examples, steps, teacher_forced_accuracy, sampled_accuracy}}, and null for
    each instrument in ``missing`` (nothing held out to evaluate it on)."""
    out: dict[str, Any] = {name: asdict(acc) for name, acc in results.items()}
    out.update({name: None for name in missing if name not in results})
    return out


def write_evaluation(
    path: Path, results: Mapping[str, Accuracy], missing: Sequence[str] = ()
) -> None:
    """Writes the evaluation JSON atomically (``missing`` as in :func:`evaluation_json`)."""
    write_atomic(path, json.dumps(evaluation_json(results, missing), indent=2) + "\n")


def read_evaluation(path: Path) -> dict[str, Accuracy]:
    """Reads an evaluation JSON written by :func:`write_evaluation`; instruments whose
    evaluation is missing are not in the result."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return {name: Accuracy(**values) for name, values in data.items() if values is not None}


def render_evaluation(
    results: Mapping[str, Accuracy], missing: Mapping[str, str] | None = None
) -> Table:
    """A rich table of the evaluation; ``missing`` names the instruments not evaluated, and
    why."""
    from rich.table import Table

    missing = missing or {}
    table = Table(title="evaluate (held-out reconstruction accuracy)")
    for column in ("instrument", "examples", "steps", "teacher-forced", "sampled"):
        table.add_column(column, justify="left" if column == "instrument" else "right")
    for name in [i for i in INSTRUMENTS if i in results or i in missing]:
        acc = results.get(name)
        if acc is None:
            table.add_row(name, "0", "-", "missing", "missing")
            continue
        table.add_row(
            name,
            str(acc.examples),
            str(acc.steps),
            f"{acc.teacher_forced_accuracy:.3f}",
            f"{acc.sampled_accuracy:.3f}",
        )
    if missing:
        table.caption = "; ".join(f"no evaluation of {n}: {why}" for n, why in missing.items())
    return table
