"""The stages of `metalosc-train` over one work directory, and `all`, which runs them in order
and skips those whose outputs are up to date.

Work directory layout (``training/README.md`` describes every stage)::

    WORK/split/<instrument>.tfrecord          split: one NoteSequence per song part
    WORK/data/<instrument>-{train,eval}.tfrecord   convert: windows, held-out split
    WORK/train/<instrument>/                  train: checkpoints, TensorBoard events, run.json
    WORK/eval/evaluation.json                 evaluate
    WORK/bundles/<instrument>/                export: the model bundles

"Up to date" is decided like make, but on content: each stage records a fingerprint of its
inputs (file hashes and the parameters that shape its output) in a `.stamp.json` next to its
outputs, written last; a stage is skipped when the recorded fingerprint equals the current one
and its outputs exist. A stage interrupted before its stamp is written simply runs again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from metalosc.protocol import INSTRUMENTS, Instrument, write_atomic
from metalosc.runtime import PRESET_SETS, ModelSession, Preset, get_preset
from metalosc.training._convert import (
    DATA_DIR,
    ConvertSummary,
    convert_corpus,
    read_evaluation_missing,
    record_path,
)
from metalosc.training._dataset import fingerprint_files, load_examples
from metalosc.training._evaluate import (
    Accuracy,
    evaluate_examples,
    read_evaluation,
    write_evaluation,
)
from metalosc.training._export import export_bundle
from metalosc.training._fill import LabelledExamples, label_windows, labelled_examples
from metalosc.training._midi_io import read_note_sequences
from metalosc.training._split import (
    SPLIT_DIR,
    MidiSource,
    SplitSummary,
    extra_drums_source,
    midi_source,
    split_corpus,
)
from metalosc.training._train import (
    DEFAULT_CHECKPOINT_EVERY,
    DEFAULT_KEEP_CHECKPOINTS,
    TrainResult,
    train,
)

log = structlog.get_logger(__name__)

STAMP_FILE = ".stamp.json"
RUN_FILE = "run.json"
TRAIN_DIR = "train"
EVAL_DIR = "eval"
EVAL_FILE = "evaluation.json"
BUNDLES_DIR = "bundles"
EVAL_EXAMPLES_METRIC = "eval_examples"
"""The manifest metric of a bundle exported without evaluation: 0 held-out examples."""


class StageError(Exception):
    """A stage cannot run: its inputs are missing or inconsistent (the message says which)."""


# -- stamps -----------------------------------------------------------------------------------


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def is_up_to_date(stamp: Path, inputs: Mapping[str, object], outputs: Sequence[Path]) -> bool:
    """Whether `stamp` records exactly `inputs` and every output exists."""
    if not stamp.is_file() or not all(p.exists() for p in outputs):
        return False
    try:
        recorded = json.loads(stamp.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(recorded, dict) and recorded.get("inputs") == _digest(inputs)


def write_stamp(stamp: Path, inputs: Mapping[str, object]) -> None:
    """Records `inputs` (their digest, and the values for humans) in `stamp`, atomically."""
    payload = {"inputs": _digest(inputs), "values": inputs}
    write_atomic(stamp, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


# -- paths and run records ------------------------------------------------------------------


def train_dir(work: Path, instrument: Instrument) -> Path:
    """Where an instrument's checkpoints and summaries go."""
    return Path(work) / TRAIN_DIR / instrument


def bundle_dir(work: Path, instrument: Instrument) -> Path:
    """Where `export` writes an instrument's bundle by default."""
    return Path(work) / BUNDLES_DIR / instrument


def _data_file(work: Path, instrument: Instrument, split: str) -> Path:
    path = record_path(Path(work), instrument, split)
    if not path.is_file():
        raise StageError(f"{path}: missing — run `metalosc-train convert` first")
    return path


def trained_preset(work: Path, instrument: Instrument) -> tuple[Preset, str]:
    """The preset an instrument was trained with and its latest checkpoint."""
    import tensorflow as tf

    run_file = train_dir(work, instrument) / RUN_FILE
    checkpoint = tf.train.latest_checkpoint(str(train_dir(work, instrument)))
    if not run_file.is_file() or checkpoint is None:
        raise StageError(f"{train_dir(work, instrument)}: no trained {instrument} model")
    record = json.loads(run_file.read_text(encoding="utf-8"))
    return get_preset(record["preset"]), checkpoint


# -- stages -------------------------------------------------------------------------------------


def train_stage(
    work: Path,
    instrument: Instrument,
    preset: Preset,
    *,
    steps: int,
    batch_size: int | None = None,
    init_from: Path | None = None,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    keep_checkpoints: int = DEFAULT_KEEP_CHECKPOINTS,
    progress: bool = True,
) -> TrainResult:
    """Trains `instrument` on WORK/data/<instrument>-train.tfrecord (resuming if possible)."""
    if preset.instrument != instrument:
        raise StageError(f"preset {preset.name!r} is for {preset.instrument}, not {instrument}")
    directory = train_dir(work, instrument)
    run_file = directory / RUN_FILE
    if run_file.is_file():
        previous = json.loads(run_file.read_text(encoding="utf-8")).get("preset")
        if previous != preset.name:
            raise StageError(
                f"{directory} holds a {previous!r} model; cannot continue it as {preset.name!r} "
                "(remove the directory to start over)"
            )
    examples = load_examples(_data_file(work, instrument, "train"), preset.build_config())
    directory.mkdir(parents=True, exist_ok=True)
    write_atomic(run_file, json.dumps({"preset": preset.name}) + "\n")
    return train(
        directory,
        preset,
        examples,
        steps=steps,
        batch_size=batch_size,
        init_from=init_from,
        checkpoint_every=checkpoint_every,
        keep_checkpoints=keep_checkpoints,
        progress=progress,
    )


def _write_eval_summary(directory: Path, checkpoint: str, accuracy: Accuracy) -> None:
    """TensorBoard scalars of an evaluation at the checkpoint's global step, next to training's
    (point TensorBoard at WORK/ to see both)."""
    import tensorflow as tf

    v1 = tf.compat.v1
    step = int(tf.train.load_variable(checkpoint, "global_step"))
    summary = v1.Summary(
        value=[
            v1.Summary.Value(tag="metrics/accuracy", simple_value=accuracy.teacher_forced_accuracy),
            v1.Summary.Value(
                tag="metrics/sampled_accuracy", simple_value=accuracy.sampled_accuracy
            ),
        ]
    )
    writer = v1.summary.FileWriter(str(directory))
    try:
        writer.add_summary(summary, step)
    finally:
        writer.close()


NO_EVALUATION_EXAMPLES = "no evaluation examples (the corpus is too small to hold a song out)"


def evaluate_stage(
    work: Path,
    instruments: Sequence[Instrument] = INSTRUMENTS,
    *,
    max_examples: int = 1024,
    missing: dict[str, str] | None = None,
) -> dict[str, Accuracy]:
    """Held-out accuracy of each trained instrument; writes WORK/eval/evaluation.json.

    An instrument without evaluation examples (a corpus too small to hold one of its songs
    out) is not evaluated: it is left out of the result, written as null, logged, and added to
    ``missing`` (instrument -> why) when a dict is given. The bundles are still usable.
    """
    results: dict[str, Accuracy] = {}
    not_evaluated: dict[str, str] = {}
    for instrument in instruments:
        preset, checkpoint = trained_preset(work, instrument)
        examples = load_examples(_data_file(work, instrument, "eval"), preset.build_config())
        if len(examples) == 0:
            not_evaluated[instrument] = NO_EVALUATION_EXAMPLES
            log.warning("evaluate.missing", instrument=instrument, reason=NO_EVALUATION_EXAMPLES)
            continue
        session = ModelSession(preset.build_config(), checkpoint)
        try:
            results[instrument] = evaluate_examples(session, examples, max_examples=max_examples)
        finally:
            session.close()
        _write_eval_summary(Path(work) / EVAL_DIR / instrument, checkpoint, results[instrument])
        log.info("evaluate.done", instrument=instrument, **vars(results[instrument]))
    write_evaluation(Path(work) / EVAL_DIR / EVAL_FILE, results, list(not_evaluated))
    if missing is not None:
        missing.update(not_evaluated)
    return results


def export_stage(
    work: Path,
    instrument: Instrument,
    out: Path | None = None,
    metrics: Mapping[str, float] | None = None,
) -> Path:
    """Exports an instrument's latest checkpoint as a bundle (default WORK/bundles/<i>)."""
    preset, checkpoint = trained_preset(work, instrument)
    train_file = _data_file(work, instrument, "train")
    if metrics is None:
        eval_file = Path(work) / EVAL_DIR / EVAL_FILE
        accuracy = read_evaluation(eval_file).get(instrument) if eval_file.is_file() else None
        metrics = (
            {
                "teacher_forced_accuracy": accuracy.teacher_forced_accuracy,
                "sampled_accuracy": accuracy.sampled_accuracy,
            }
            if accuracy
            else {EVAL_EXAMPLES_METRIC: 0.0}  # marked: no evaluation, rather than unknown
        )
    examples = load_examples(train_file, preset.build_config())
    return export_bundle(
        checkpoint,
        preset,
        examples,
        Path(out) if out else bundle_dir(work, instrument),
        data_fingerprint=fingerprint_files([train_file]),
        metrics=metrics,
        fill=labelled_drum_examples(work, preset) if instrument == "drums" else None,
    )


def labelled_drum_examples(work: Path, preset: Preset) -> LabelledExamples | None:
    """The fill- and beat-labelled drum examples of the work directory, or None without labels.

    The labels are the Groove MIDI Dataset's, read from each window's ``filename`` (the split
    stage's relative path, which names the file a beat or a fill); the train and eval windows
    both count: the fill vector describes the model's latent space, it does not train it.
    Without ``--extra-drums`` (or with a drum corpus that is not Groove) nothing is labelled.
    """
    windows = label_windows(
        window
        for split in ("train", "eval")
        for window in read_note_sequences(_data_file(work, "drums", split))
    )
    if len(windows) == 0:
        log.info("export.no_fill_labels", work=str(work))
        return None
    return labelled_examples(windows, preset.build_config())


# -- all ------------------------------------------------------------------------------------------


def _missing_text(missing: Mapping[str, str]) -> str:
    names = ", ".join(f"{name} ({why})" for name, why in missing.items())
    return f"too small to evaluate {names}: training goes on, the bundles say so"


StageResult = SplitSummary | ConvertSummary | TrainResult | dict[str, Accuracy] | Path | None
"""What `run_all` hands `on_stage` after a stage: the split or convert summary, a model's
:class:`TrainResult`, the evaluation, or the bundle's path (None for a skipped split, convert or
train)."""


@dataclass
class AllReport:
    """What `all` did: per stage "ran" or "up to date", and the results it has."""

    stages: dict[str, str] = field(default_factory=dict)
    split: SplitSummary | None = None
    convert: ConvertSummary | None = None
    train: dict[str, TrainResult] = field(default_factory=dict)
    evaluation: dict[str, Accuracy] = field(default_factory=dict)
    evaluation_missing: dict[str, str] = field(default_factory=dict)
    """Instruments that cannot be evaluated (said before training) and why."""
    bundles: dict[str, Path] = field(default_factory=dict)


def _sources(input_dir: Path, extra_drums: Path | None) -> list[MidiSource]:
    sources = [midi_source(Path(input_dir))]
    if extra_drums is not None:
        sources.append(extra_drums_source(Path(extra_drums)))
    return sources


def run_all(
    input_dir: Path,
    work: Path,
    *,
    extra_drums: Path | None = None,
    preset_set: str = "default",
    steps: int | None = None,
    batch_size: int | None = None,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    progress: bool = True,
    on_stage: Callable[[str, str, StageResult], None] = lambda stage, status, result: None,
) -> AllReport:
    """split, convert, train ×3, evaluate, export — each skipped when up to date.

    Each model trains to `steps`, or to its preset's own steps when `steps` is None.
    `on_stage(stage, status, result)` is called after each stage ("ran"/"up to date"), so the
    CLI can print summaries as they come.
    """
    work = Path(work)
    if preset_set not in PRESET_SETS:
        raise StageError(f"unknown preset set {preset_set!r}; known: {', '.join(PRESET_SETS)}")
    presets = {i: get_preset(PRESET_SETS[preset_set][i]) for i in INSTRUMENTS}
    report = AllReport()

    def done(stage: str, ran: bool, result: StageResult) -> None:
        report.stages[stage] = "ran" if ran else "up to date"
        log.info("all.stage", stage=stage, status=report.stages[stage])
        on_stage(stage, report.stages[stage], result)

    # split
    sources = _sources(input_dir, extra_drums)
    split_inputs = {
        "files": {
            f"{s.collection}/{p.relative_to(s.root).as_posix()}": fingerprint_files([p])
            for s in sources
            for p in s.files
        },
        "instruments": {s.collection: list(s.instruments) for s in sources},
    }
    split_dir = work / SPLIT_DIR
    split_outputs = [split_dir / f"{i}.tfrecord" for i in INSTRUMENTS]
    split_ran = not is_up_to_date(split_dir / STAMP_FILE, split_inputs, split_outputs)
    if split_ran:
        report.split = split_corpus(sources, work, progress=progress)
        write_stamp(split_dir / STAMP_FILE, split_inputs)
    done("split", split_ran, report.split)

    # convert
    data_dir = work / DATA_DIR
    convert_inputs = {"split": fingerprint_files(split_outputs)}
    data_outputs = [record_path(work, i, s) for i in INSTRUMENTS for s in ("train", "eval")]
    convert_ran = not is_up_to_date(data_dir / STAMP_FILE, convert_inputs, data_outputs)
    if convert_ran:
        report.convert = convert_corpus(work, progress=progress)
        write_stamp(data_dir / STAMP_FILE, convert_inputs)
    done("convert", convert_ran, report.convert)

    # Said now, not after training: what the corpus is too small to evaluate.
    report.evaluation_missing = (
        dict(report.convert.evaluation_missing)
        if report.convert is not None
        else read_evaluation_missing(work)
    )
    if report.evaluation_missing:
        log.warning("all.evaluation_missing", instruments=report.evaluation_missing)
        on_stage("evaluation", _missing_text(report.evaluation_missing), None)

    # train x3
    checkpoints: dict[str, str] = {}
    for instrument in INSTRUMENTS:
        preset = presets[instrument]
        target_steps = preset.steps if steps is None else steps
        directory = train_dir(work, instrument)
        inputs = {
            "data": fingerprint_files([record_path(work, instrument, "train")]),
            "preset": preset.name,
            "steps": target_steps,
            "batch_size": batch_size,
        }
        ran = not is_up_to_date(directory / STAMP_FILE, inputs, [directory / RUN_FILE])
        if not ran:
            try:
                trained_preset(work, instrument)
            except StageError:
                ran = True
        if ran:
            report.train[instrument] = train_stage(
                work,
                instrument,
                preset,
                steps=target_steps,
                batch_size=batch_size,
                checkpoint_every=checkpoint_every,
                progress=progress,
            )
            write_stamp(directory / STAMP_FILE, inputs)
        checkpoints[instrument] = trained_preset(work, instrument)[1]
        done(f"train {instrument}", ran, report.train.get(instrument))

    # evaluate
    eval_dir = work / EVAL_DIR
    checkpoint_prints = {i: fingerprint_files([Path(c + ".index")]) for i, c in checkpoints.items()}
    eval_inputs = {
        "checkpoints": checkpoint_prints,
        "data": {i: fingerprint_files([record_path(work, i, "eval")]) for i in INSTRUMENTS},
    }
    eval_ran = not is_up_to_date(eval_dir / STAMP_FILE, eval_inputs, [eval_dir / EVAL_FILE])
    if eval_ran:
        report.evaluation = evaluate_stage(work, missing=report.evaluation_missing)
        write_stamp(eval_dir / STAMP_FILE, eval_inputs)
    else:
        report.evaluation = read_evaluation(eval_dir / EVAL_FILE)
        for instrument in INSTRUMENTS:
            if instrument not in report.evaluation:
                report.evaluation_missing.setdefault(instrument, NO_EVALUATION_EXAMPLES)
    done("evaluate", eval_ran, report.evaluation)

    # export
    for instrument in INSTRUMENTS:
        target = bundle_dir(work, instrument)
        stamp = work / BUNDLES_DIR / f".{instrument}{STAMP_FILE}"
        export_inputs: dict[str, object] = {
            "checkpoint": checkpoint_prints[instrument],
            "data": fingerprint_files([record_path(work, instrument, "train")]),
            "metrics": (
                vars(report.evaluation[instrument]) if instrument in report.evaluation else None
            ),
        }
        if instrument == "drums":
            # The fill vector's labelled windows are the train and eval records (the train
            # file is in "data" already). A stamp from before the fill vector lacks the key,
            # so the next `all` exports the drums once more and adds it.
            export_inputs["fill_labels"] = fingerprint_files([record_path(work, "drums", "eval")])
        ran = not is_up_to_date(stamp, export_inputs, [target / "manifest.json"])
        if ran:
            export_stage(work, instrument)
            write_stamp(stamp, export_inputs)
        report.bundles[instrument] = target
        done(f"export {instrument}", ran, target)
    return report
