"""The training loop: warm start from a published checkpoint, resume, checkpoint rotation,
and that a crash while saving never makes a half-written checkpoint the latest."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
from metalosc.runtime import PRESETS
from metalosc.training import extract_examples, train
from metalosc.training._synthetic import instrument_part, synthetic_corpus
from metalosc.training._train import InitCheckpointError, published_checkpoint

pytestmark = pytest.mark.slow

PRESET = PRESETS["drums-tiny"]


@pytest.fixture(scope="module")
def examples():
    songs = synthetic_corpus(6, seed=2, bars=6)
    return extract_examples([instrument_part(s, "drums") for s in songs], PRESET.build_config())


def _make_published(directory: Path, seed: int = 7) -> dict[str, np.ndarray]:
    """A "Google" checkpoint of the tiny preset: random weights, global_step 12345, and a name
    like the published ones; returns the saved model weights by name."""
    import tensorflow as tf

    tf.compat.v1.disable_v2_behavior()
    v1 = tf.compat.v1
    config = PRESET.build_config()
    directory.mkdir(parents=True)
    with tf.Graph().as_default():
        v1.set_random_seed(seed)
        model = config.model
        model.build(config.hparams, config.data_converter.output_depth, is_training=False)
        z = v1.placeholder(tf.float32, [1, config.hparams.z_size])
        model.sample(1, max_length=32, z=z, temperature=1.0)
        x = v1.placeholder(tf.float32, [1, 32, config.data_converter.input_depth])
        model.encode(x, v1.placeholder(tf.int32, [1]))
        with v1.Session() as session:
            session.run(v1.global_variables_initializer())
            session.run(model.global_step.assign(12345))
            # Perturb every weight so it differs from any fresh initialisation.
            for v in v1.trainable_variables():
                session.run(v.assign_add(tf.random.normal(tf.shape(v), seed=seed)))
            v1.train.Saver().save(
                session, str(directory / "cat-drums_2bar_small.ckpt"), write_meta_graph=False
            )
            return {v.op.name: session.run(v) for v in v1.trainable_variables()}


class _WeightsAtStart:
    """A hook recording the trainable weights and global step before the first update."""

    def __new__(cls):
        import tensorflow as tf

        class Hook(tf.compat.v1.train.SessionRunHook):
            weights: dict[str, np.ndarray]
            step: int

            def after_create_session(self, session, coord):
                v1 = tf.compat.v1
                variables = v1.trainable_variables()
                values = session.run(variables)
                self.weights = {v.op.name: val for v, val in zip(variables, values, strict=True)}
                self.step = int(session.run(v1.train.get_global_step()))

        return Hook()


@pytest.mark.parametrize("form", ["directory", "tar"])
def test_init_from_starts_from_the_published_weights(tmp_path: Path, examples, form: str) -> None:
    published = tmp_path / "cat-drums_2bar_small"
    saved = _make_published(published)
    source = published
    if form == "tar":
        source = tmp_path / "cat-drums_2bar_small.tar"
        with tarfile.open(source, "w") as tar:
            for f in sorted(published.iterdir()):
                if f.name != "checkpoint":  # Google's tars hold only the .index/.data files
                    tar.add(f, arcname=f.name)
    hook = _WeightsAtStart()
    result = train(
        tmp_path / "run", PRESET, examples, steps=2, init_from=source, progress=False, hooks=[hook]
    )
    assert set(hook.weights) == set(saved)
    for name, value in saved.items():
        np.testing.assert_array_equal(hook.weights[name], value, err_msg=name)
    assert hook.step == 0  # global_step is not taken from the published checkpoint
    assert result.global_step == 2


def test_init_from_rejects_a_checkpoint_of_another_model(tmp_path: Path, examples) -> None:
    _make_published(tmp_path / "published")
    with pytest.raises(InitCheckpointError, match="wrong preset"):
        train(
            tmp_path / "run",
            PRESETS["guitar-tiny"],
            extract_examples(
                [instrument_part(s, "guitar") for s in synthetic_corpus(2, bars=4)],
                PRESETS["guitar-tiny"].build_config(),
            ),
            steps=1,
            init_from=tmp_path / "published",
            progress=False,
        )


def test_published_checkpoint_names_what_is_wrong(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with (
        pytest.raises(InitCheckpointError, match="found 0"),
        published_checkpoint(tmp_path / "empty"),
    ):
        pass
    with (
        pytest.raises(InitCheckpointError, match="not a checkpoint"),
        published_checkpoint(tmp_path / "nothing.tar"),
    ):
        pass


class _Interrupt:
    """A hook that raises KeyboardInterrupt once global step `at` is reached (a Ctrl-C)."""

    def __new__(cls, at: int):
        import tensorflow as tf

        class Hook(tf.compat.v1.train.SessionRunHook):
            def after_run(self, run_context, run_values):
                step = run_context.session.run(tf.compat.v1.train.get_global_step())
                if step >= at:
                    raise KeyboardInterrupt

        return Hook()


def test_rerun_resumes_from_the_latest_checkpoint(tmp_path: Path, examples) -> None:
    import tensorflow as tf

    run = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train(
            run,
            PRESET,
            examples,
            steps=10,
            checkpoint_every=2,
            progress=False,
            hooks=[_Interrupt(at=5)],
        )
    assert tf.train.latest_checkpoint(str(run)).endswith("model.ckpt-4")
    result = train(run, PRESET, examples, steps=6, checkpoint_every=2, progress=False)
    assert (result.start_step, result.global_step, result.steps_run) == (4, 6, 2)
    assert result.checkpoint.endswith("model.ckpt-6")
    again = train(run, PRESET, examples, steps=6, progress=False)
    assert again.steps_run == 0


def test_keeps_the_last_k_checkpoints_and_writes_summaries(tmp_path: Path, examples) -> None:
    run = tmp_path / "run"
    train(
        run,
        PRESET,
        examples,
        steps=5,
        checkpoint_every=1,
        keep_checkpoints=2,
        summary_every=1,
        progress=False,
    )
    assert sorted(p.name for p in run.glob("*.index")) == [
        "model.ckpt-4.index",
        "model.ckpt-5.index",
    ]
    events = list(run.glob("events.out.tfevents.*"))
    assert events
    import tensorflow as tf

    tags = {
        value.tag
        for path in events
        for event in tf.compat.v1.train.summary_iterator(str(path))
        for value in event.summary.value
    }
    assert {"loss", "losses/kl_loss", "losses/r_loss"} <= tags


def test_crash_while_saving_never_makes_a_broken_checkpoint_latest(
    tmp_path: Path, examples, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TF's Saver writes `<prefix>_temp/`, renames the files into place, and only then rewrites
    the `checkpoint` state file atomically. Simulate dying after the data files of step 4 are
    written but before the state update: the latest checkpoint is still step 2, and it loads."""
    import tensorflow as tf
    from tensorflow.python.checkpoint import checkpoint_management

    run = tmp_path / "run"
    train(run, PRESET, examples, steps=2, checkpoint_every=2, progress=False)
    real_update = checkpoint_management.update_checkpoint_state_internal

    def dying_update(save_dir, model_checkpoint_path, *args, **kwargs):
        if model_checkpoint_path.endswith("ckpt-4"):
            raise SystemExit("killed between data files and state update")
        return real_update(save_dir, model_checkpoint_path, *args, **kwargs)

    monkeypatch.setattr(checkpoint_management, "update_checkpoint_state_internal", dying_update)
    with pytest.raises(SystemExit):
        train(run, PRESET, examples, steps=4, checkpoint_every=2, progress=False)
    monkeypatch.undo()
    assert (run / "model.ckpt-4.index").is_file()  # the data was written ...
    latest = tf.train.latest_checkpoint(str(run))
    assert latest.endswith("model.ckpt-2")  # ... but never became the latest
    reader = tf.compat.v1.train.NewCheckpointReader(latest)
    assert reader.get_tensor("global_step") == 2
    resumed = train(run, PRESET, examples, steps=4, checkpoint_every=2, progress=False)
    assert (resumed.start_step, resumed.global_step) == (2, 4)
