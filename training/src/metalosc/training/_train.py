"""Fine-tune (or train from scratch) one instrument's MusicVAE.

The loop is Magenta's ``music_vae_train.train`` (same model.train/optimizer, same gradient
clipping, same summaries) run in a ``MonitoredTrainingSession`` with our own hooks, because the
stock loop has neither a progress bar nor a step-based checkpoint interval:

* **resume** — the session restores the latest checkpoint in `train_dir`, so rerunning with the
  same `--steps` after an interruption continues from that checkpoint's global step;
* **warm start** (`init_from`) — only when `train_dir` has no checkpoint yet, every *model*
  variable is restored from a published MusicVAE checkpoint (a `.tar` as Google ships them, a
  directory, or a prefix); global_step and optimizer slots start fresh;
* **checkpoints** — every `checkpoint_every` steps and at the end, keeping the last
  `keep_checkpoints`. TF's Saver writes the data into a temp dir, renames it into place, and only
  then atomically rewrites the `checkpoint` state file, so a crash mid-save never makes a
  half-written checkpoint the latest (tested in test_training_train.py); a process killed
  mid-save, or a disk that fills up (the run stops with TF's "No space left on device" error),
  leaves the last good checkpoint latest and whole, and a rerun resumes from it (tested in
  test_training_survives.py);
* **TensorBoard** summaries (loss, r_loss, KL, beta, learning rate — Magenta's own) in
  `train_dir`; a tqdm bar with loss and ETA.
"""

from __future__ import annotations

import contextlib
import tarfile
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from metalosc.runtime import Preset
from metalosc.training._dataset import Examples, make_dataset
from tqdm import tqdm

log = structlog.get_logger(__name__)

DEFAULT_CHECKPOINT_EVERY = 500
DEFAULT_KEEP_CHECKPOINTS = 5


class InitCheckpointError(ValueError):
    """`--init-from` names something that is not a compatible MusicVAE checkpoint."""


@dataclass(frozen=True)
class TrainResult:
    """What one `train` call did."""

    train_dir: Path
    start_step: int
    global_step: int
    seconds: float
    final_loss: float | None
    checkpoint: str | None

    @property
    def steps_run(self) -> int:
        """Steps taken by this call (0 when the target was already reached)."""
        return self.global_step - self.start_step

    #: Seconds of the training loop after its first step (graph building, restoring and the
    #: first step's one-off costs excluded): the steady-state speed measure.
    steady_seconds: float = 0.0

    @property
    def steps_per_second(self) -> float:
        """Steady-state training speed of this call (all steps when only one ran)."""
        if self.steps_run > 1 and self.steady_seconds > 0:
            return (self.steps_run - 1) / self.steady_seconds
        return self.steps_run / self.seconds if self.seconds > 0 else 0.0


@contextlib.contextmanager
def published_checkpoint(path: Path) -> Iterator[str]:
    """The checkpoint prefix inside `path`: a `.tar` (extracted to a temp dir for the duration),
    a directory (its latest checkpoint, or its only `*.index`), or a prefix itself."""
    import tensorflow as tf

    path = Path(path)
    if path.is_file() and tarfile.is_tarfile(path):
        with tempfile.TemporaryDirectory(prefix="metalosc-init-") as tmp:
            with tarfile.open(path) as tar:
                tar.extractall(tmp, filter="data")
            with published_checkpoint(Path(tmp)) as prefix:
                yield prefix
        return
    if path.is_dir():
        latest = tf.train.latest_checkpoint(str(path))
        if latest:
            yield latest
            return
        indexes = sorted(path.rglob("*.index"))
        if len(indexes) != 1:
            raise InitCheckpointError(
                f"{path}: expected one checkpoint (*.index) inside, found {len(indexes)}"
            )
        yield str(indexes[0])[: -len(".index")]
        return
    if Path(str(path) + ".index").is_file():
        yield str(path)
        return
    raise InitCheckpointError(f"{path}: not a checkpoint .tar, directory or prefix")


def model_variables(tf: Any, global_step: Any) -> list[Any]:
    """The model's own variables (weights), without global_step or optimizer slots: call it
    after building the model and before creating the optimizer's update op."""
    return [v for v in tf.compat.v1.global_variables() if v.op.name != global_step.op.name]


def _check_compatible(tf: Any, prefix: str, variables: Sequence[Any]) -> None:
    available = dict(tf.train.list_variables(prefix))
    missing = [v.op.name for v in variables if v.op.name not in available]
    if missing:
        raise InitCheckpointError(
            f"{prefix}: lacks {len(missing)} model variables (wrong preset?), "
            f"e.g. {', '.join(missing[:3])}"
        )
    wrong = [
        f"{v.op.name} {available[v.op.name]} vs {v.shape.as_list()}"
        for v in variables
        if list(available[v.op.name]) != v.shape.as_list()
    ]
    if wrong:
        raise InitCheckpointError(
            f"{prefix}: shape mismatch (wrong preset?): {'; '.join(wrong[:3])}"
        )


class _ProgressHook:
    """tqdm bar over global steps, showing the loss; ETA from tqdm's rate."""

    def __init__(self, tf: Any, last_step: int, loss: Any, global_step: Any, enabled: bool):
        self._tf = tf
        self._last_step = last_step
        self._loss = loss
        self._global_step = global_step
        self._enabled = enabled
        self._bar: tqdm | None = None
        self.start_step = 0
        self.step = 0
        self.loss: float | None = None
        self.first_step_done: float | None = None
        self.last_step_done: float | None = None

    def as_hook(self) -> Any:
        """This object as a tf SessionRunHook."""
        outer = self
        base = self._tf.compat.v1.train.SessionRunHook

        class Hook(base):  # type: ignore[misc, valid-type]
            def after_create_session(self, session: Any, coord: Any) -> None:
                outer.start_step = outer.step = int(session.run(outer._global_step))
                outer._bar = tqdm(
                    total=outer._last_step,
                    initial=outer.start_step,
                    desc="train",
                    unit="step",
                    disable=not outer._enabled,
                )

            def before_run(self, run_context: Any) -> Any:
                return outer._tf.compat.v1.train.SessionRunArgs({"loss": outer._loss})

            def after_run(self, run_context: Any, run_values: Any) -> None:
                # Read the step after the update: the fetched value may precede or follow it.
                step = int(run_context.session.run(outer._global_step))
                outer.loss = float(run_values.results["loss"])
                if outer._bar is not None:
                    outer._bar.update(step - outer.step)
                    outer._bar.set_postfix(loss=f"{outer.loss:.3f}")
                outer.step = step
                outer.last_step_done = time.perf_counter()
                if outer.first_step_done is None:
                    outer.first_step_done = outer.last_step_done

            def end(self, session: Any) -> None:
                if outer._bar is not None:
                    outer._bar.close()

        return Hook()


def train(
    train_dir: Path,
    preset: Preset,
    examples: Examples,
    *,
    steps: int,
    batch_size: int | None = None,
    init_from: Path | None = None,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    keep_checkpoints: int = DEFAULT_KEEP_CHECKPOINTS,
    summary_every: int = 50,
    seed: int = 0,
    progress: bool = True,
    hooks: Sequence[Any] = (),
) -> TrainResult:
    """Trains `preset` on `examples` until global step `steps`; see the module docstring.

    `hooks` are extra ``tf.compat.v1.train.SessionRunHook`` objects (tests use them to look at
    the weights before the first update, or to interrupt a run).
    """
    import tensorflow as tf

    tf.compat.v1.disable_v2_behavior()
    v1 = tf.compat.v1
    if steps < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    if checkpoint_every < 1:
        raise ValueError(f"checkpoint_every must be >= 1, got {checkpoint_every}")
    train_dir = Path(train_dir)
    train_dir.mkdir(parents=True, exist_ok=True)
    config = preset.build_config()
    if batch_size is not None:
        config.hparams.batch_size = batch_size
    batch = int(config.hparams.batch_size)
    latest = tf.train.latest_checkpoint(str(train_dir))
    resuming = latest is not None
    started = time.perf_counter()
    if latest is not None:
        done = int(tf.train.load_variable(latest, "global_step"))
        if done >= steps:
            # MonitoredTrainingSession would still run one step before StopAtStepHook stops.
            log.info("train.up_to_date", preset=preset.name, global_step=done, steps=steps)
            return TrainResult(train_dir, done, done, 0.0, None, latest)

    with contextlib.ExitStack() as stack:
        init_prefix = None
        if init_from is not None and not resuming:
            init_prefix = stack.enter_context(published_checkpoint(init_from))
        graph = tf.Graph()
        stack.enter_context(graph.as_default())
        v1.set_random_seed(seed)
        model = config.model
        model.build(config.hparams, config.data_converter.output_depth, is_training=True)
        dataset = make_dataset(examples, batch, seed=seed)
        x, y, c, n = v1.data.make_one_shot_iterator(dataset).get_next()
        x.set_shape([batch, None, config.data_converter.input_depth])
        y.set_shape([batch, None, config.data_converter.output_depth])
        n.set_shape([batch])
        if config.data_converter.control_depth:
            c.set_shape([batch, None, config.data_converter.control_depth])
        else:
            c = None
        optimizer = model.train(
            input_sequence=x, output_sequence=y, sequence_length=n, control_sequence=c
        )
        weights = model_variables(tf, model.global_step)
        grads, var_list = list(zip(*optimizer.compute_gradients(model.loss), strict=True))
        global_norm = tf.linalg.global_norm(grads)
        v1.summary.scalar("global_norm", global_norm)
        hp = config.hparams
        if hp.clip_mode == "value":
            clipped = [tf.clip_by_value(g, -hp.grad_clip, hp.grad_clip) for g in grads]
        elif hp.clip_mode == "global_norm":
            clipped = tf.cond(
                global_norm < hp.grad_norm_clip_to_zero,
                lambda: tf.clip_by_global_norm(grads, hp.grad_clip, use_norm=global_norm)[0],
                lambda: [tf.zeros(tf.shape(g)) for g in grads],
            )
        else:
            raise ValueError(f"unknown clip_mode {hp.clip_mode!r}")
        train_op = optimizer.apply_gradients(
            list(zip(clipped, var_list, strict=True)),
            global_step=model.global_step,
            name="train_step",
        )

        init_fn = None
        if init_prefix is not None:
            _check_compatible(tf, init_prefix, weights)
            init_saver = v1.train.Saver(weights)

            def init_fn(scaffold: Any, session: Any) -> None:
                init_saver.restore(session, init_prefix)
                log.info("train.warm_started", checkpoint=str(init_from), variables=len(weights))

        scaffold = v1.train.Scaffold(
            init_fn=init_fn,
            saver=v1.train.Saver(max_to_keep=keep_checkpoints, keep_checkpoint_every_n_hours=1e6),
        )
        progress_hook = _ProgressHook(tf, steps, model.loss, model.global_step, progress)
        all_hooks = [
            v1.train.StopAtStepHook(last_step=steps),
            progress_hook.as_hook(),
            *hooks,
        ]
        with v1.train.MonitoredTrainingSession(
            checkpoint_dir=str(train_dir),
            scaffold=scaffold,
            hooks=all_hooks,
            save_checkpoint_steps=checkpoint_every,
            save_checkpoint_secs=None,
            save_summaries_steps=summary_every,
            log_step_count_steps=None,
        ) as session:
            while not session.should_stop():
                session.run(train_op)
    seconds = time.perf_counter() - started
    result = TrainResult(
        train_dir=train_dir,
        start_step=progress_hook.start_step,
        global_step=progress_hook.step,
        seconds=seconds,
        final_loss=progress_hook.loss,
        checkpoint=tf.train.latest_checkpoint(str(train_dir)),
        steady_seconds=(
            progress_hook.last_step_done - progress_hook.first_step_done
            if progress_hook.first_step_done is not None
            and progress_hook.last_step_done is not None
            else 0.0
        ),
    )
    log.info(
        "train.done",
        preset=preset.name,
        start_step=result.start_step,
        global_step=result.global_step,
        steps_per_second=round(result.steps_per_second, 3),
        loss=result.final_loss,
        checkpoint=result.checkpoint,
    )
    return result
