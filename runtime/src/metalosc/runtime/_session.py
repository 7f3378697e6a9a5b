"""A MusicVAE restored from a checkpoint, working on tensors: the TensorFlow layer of the runtime.

:class:`ModelSession` holds a Magenta model in its own ``tf.Graph`` and ``tf.Session`` (so three
instruments live in one process). The graph is built like Magenta's ``TrainedModel``
(``config.model.build(..., is_training=False)``, then ``model.sample`` / ``model.encode`` on
placeholders) with one difference that matters for a real-time server: ``TrainedModel`` fixes one
batch size, so decoding 1 phrase with a model built for 32 costs 32 phrases. Here sample/encode
ops are built per power-of-two batch size on first use, all sharing the same variables
(``AUTO_REUSE``), and a request of n phrases runs in the smallest bucket that holds it: one
``session.run`` for up to ``max_batch`` phrases.

Not thread-safe: callers serialize calls (the daemon runs one model per worker).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["DEFAULT_MAX_BATCH", "GREEDY_TEMPERATURE", "CheckpointError", "ModelSession"]

#: Temperature used for "argmax" decoding (evaluation): low enough that sampling from the
#: softmax is the argmax for any realistic logit gap.
GREEDY_TEMPERATURE = 1e-4
DEFAULT_MAX_BATCH = 64


class CheckpointError(Exception):
    """A checkpoint that cannot be restored into the model; `path` is the broken file."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _buckets(max_batch: int) -> list[int]:
    sizes, size = [], 1
    while size < max_batch:
        sizes.append(size)
        size *= 2
    sizes.append(max_batch)
    return sizes


def _restore_error(tf: Any, checkpoint: str, error: Exception) -> CheckpointError:
    """Names the checkpoint file that is broken: the index if TF cannot read it, else the data."""
    index = Path(checkpoint + ".index")
    try:
        tf.compat.v1.train.NewCheckpointReader(checkpoint)
    except Exception as e:
        return CheckpointError(index, f"unreadable checkpoint index: {_first_line(e)}")
    data = sorted(index.parent.glob(index.name[: -len(".index")] + ".data-*"))
    path = data[0] if len(data) == 1 else index.parent / (index.name[: -len(".index")] + ".data")
    return CheckpointError(path, f"unreadable checkpoint data: {_first_line(error)}")


def _first_line(error: Exception) -> str:
    text = str(getattr(error, "message", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class ModelSession:
    """A MusicVAE restored from `checkpoint` (a prefix), with batched tensor-level encode,
    decode and teacher-forced prediction. Owns its graph and session (and `config`, which must
    be fresh: building mutates it); `close()` frees them."""

    def __init__(self, config: Any, checkpoint: str, *, max_batch: int = DEFAULT_MAX_BATCH):
        import tensorflow as tf

        tf.compat.v1.disable_v2_behavior()
        self._tf = tf
        self.config = config
        self.max_batch = max_batch
        self._buckets = _buckets(max_batch)
        converter = config.data_converter
        converter.set_mode("infer")
        self.z_size: int = int(config.hparams.z_size)
        self.length: int = int(config.hparams.max_seq_len)
        self.input_depth: int = int(converter.input_depth)
        self.output_depth: int = int(converter.output_depth)
        self.control_depth: int = int(converter.control_depth)
        self._decode_ops: dict[int, tuple[Any, Any]] = {}
        self._encode_ops: dict[int, tuple[Any, Any, Any, Any]] = {}
        self._teacher_ops: dict[int, tuple[Any, Any, Any, Any, Any]] = {}
        # Inference never uses scheduled sampling, and the teacher-forced path must feed the
        # true previous token: Magenta would otherwise switch an inverse_sigmoid schedule to
        # "always sample" outside training (lstm_utils.get_sampling_probability).
        config.hparams.sampling_schedule = "constant"
        config.hparams.sampling_rate = 0
        self.graph = tf.Graph()
        v1 = tf.compat.v1
        with self.graph.as_default():
            config.model.build(config.hparams, self.output_depth, is_training=False)
            self._temperature = v1.placeholder(tf.float32, shape=(), name="temperature")
            self._c_input = (
                v1.placeholder(tf.float32, shape=[None, self.control_depth], name="c_input")
                if self.control_depth
                else None
            )
            # Building one decode and one encode op creates every model variable.
            self._decode_op(1)
            self._encode_op(1)
            variables = [
                v for v in v1.global_variables() if v.op.name != config.model.global_step.op.name
            ]
            saver = v1.train.Saver(variables)
            self.session = v1.Session(graph=self.graph)
            try:
                saver.restore(self.session, checkpoint)
            except (tf.errors.OpError, ValueError) as e:
                self.session.close()
                raise _restore_error(tf, checkpoint, e) from None

    # -- graph pieces, built lazily per batch bucket and sharing variables ------------------

    def _reuse(self) -> Any:
        v1 = self._tf.compat.v1
        return v1.variable_scope(v1.get_variable_scope(), reuse=v1.AUTO_REUSE)

    def _decode_op(self, n: int) -> tuple[Any, Any]:
        if n not in self._decode_ops:
            tf, v1 = self._tf, self._tf.compat.v1
            with self.graph.as_default(), self._reuse():
                z = v1.placeholder(tf.float32, shape=[n, self.z_size], name=f"z_{n}")
                samples, _ = self.config.model.sample(
                    n,
                    max_length=self.length,
                    z=z,
                    c_input=self._c_input,
                    temperature=self._temperature,
                )
            self._decode_ops[n] = (z, samples)
        return self._decode_ops[n]

    def _encode_op(self, n: int) -> tuple[Any, Any, Any, Any]:
        if n not in self._encode_ops:
            tf, v1 = self._tf, self._tf.compat.v1
            with self.graph.as_default(), self._reuse():
                inputs = v1.placeholder(tf.float32, [n, None, self.input_depth])
                controls = v1.placeholder(tf.float32, [n, None, self.control_depth])
                lengths = v1.placeholder(tf.int32, [n])
                q_z = self.config.model.encode(
                    inputs, lengths, controls if self.control_depth else None
                )
            self._encode_ops[n] = (inputs, controls, lengths, q_z.loc)
        return self._encode_ops[n]

    def _teacher_op(self, n: int) -> tuple[Any, Any, Any, Any, Any]:
        if n not in self._teacher_ops:
            tf, v1 = self._tf, self._tf.compat.v1
            with self.graph.as_default(), self._reuse():
                inputs = v1.placeholder(tf.float32, [n, self.length, self.input_depth])
                outputs = v1.placeholder(tf.float32, [n, self.length, self.output_depth])
                controls = v1.placeholder(tf.float32, [n, self.length, self.control_depth])
                lengths = v1.placeholder(tf.int32, [n])
                c = controls if self.control_depth else None
                mu = self.config.model.encode(inputs, lengths, c).loc
                x_input = tf.pad(outputs[:, :-1], [(0, 0), (1, 0), (0, 0)])
                _, _, results = self.config.model.decoder.reconstruction_loss(
                    x_input, outputs, lengths, mu, c
                )
                predictions = tf.argmax(results.rnn_output, axis=-1)
            self._teacher_ops[n] = (inputs, outputs, controls, lengths, predictions)
        return self._teacher_ops[n]

    def _chunks(self, n: int) -> list[tuple[int, int, int]]:
        """(start, stop, bucket) slices covering n items, each run as one batch."""
        out = []
        for start in range(0, n, self.max_batch):
            stop = min(n, start + self.max_batch)
            bucket = next(b for b in self._buckets if b >= stop - start)
            out.append((start, stop, bucket))
        return out

    # -- tensor-level API ------------------------------------------------------------------

    def decode_tensors(
        self, z: NDArray[Any], temperature: float = 1.0, c_input: NDArray[Any] | None = None
    ) -> NDArray[Any]:
        """Samples [n, length, output_depth] one-hot outputs from latent vectors z [n, z_size];
        `c_input` [length, control_depth] conditions the whole batch (chord models)."""
        z = np.asarray(z, dtype=np.float32)
        if z.ndim != 2 or z.shape[1] != self.z_size:
            raise ValueError(f"z must have shape [n, {self.z_size}], got {list(z.shape)}")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if self._c_input is not None and c_input is None:
            raise ValueError("this model is chord-conditioned: chord controls are required")
        results = []
        for start, stop, bucket in self._chunks(len(z)):
            z_ph, samples = self._decode_op(bucket)
            batch = np.zeros([bucket, self.z_size], np.float32)
            batch[: stop - start] = z[start:stop]
            feed = {z_ph: batch, self._temperature: temperature}
            if self._c_input is not None:
                feed[self._c_input] = c_input
            results.append(self.session.run(samples, feed)[: stop - start])
        if not results:
            return np.zeros([0, self.length, self.output_depth], np.float32)
        return np.concatenate(results)

    def _padded(self, tensors: Sequence[NDArray[Any]], depth: int, length: int) -> NDArray[Any]:
        out = np.zeros([len(tensors), length, depth], np.float32)
        for i, t in enumerate(tensors):
            t = np.asarray(t, np.float32).reshape(-1, depth)[:length]
            out[i, : len(t)] = t
        return out

    def encode_tensors(
        self,
        inputs: Sequence[NDArray[Any]],
        lengths: Sequence[int],
        controls: Sequence[NDArray[Any]] | None = None,
    ) -> NDArray[Any]:
        """Posterior means [n, z_size] of converter input tensors."""
        n = len(inputs)
        mus = []
        for start, stop, bucket in self._chunks(n):
            in_ph, c_ph, len_ph, mu = self._encode_op(bucket)
            count = stop - start
            length = max(len(np.asarray(t)) for t in inputs[start:stop])
            x = np.zeros([bucket, length, self.input_depth], np.float32)
            x[:count] = self._padded(inputs[start:stop], self.input_depth, length)
            c = np.zeros([bucket, length, self.control_depth], np.float32)
            if controls is not None and self.control_depth:
                c[:count] = self._padded(controls[start:stop], self.control_depth, length)
            lens = np.zeros([bucket], np.int32)
            lens[:count] = lengths[start:stop]
            # Padding rows get length 1 so the encoder's RNNs see no empty sequence.
            lens[count:] = 1
            mus.append(self.session.run(mu, {in_ph: x, c_ph: c, len_ph: lens})[:count])
        return np.concatenate(mus) if mus else np.zeros([0, self.z_size], np.float32)

    def teacher_forced_predictions(
        self,
        inputs: Sequence[NDArray[Any]],
        outputs: Sequence[NDArray[Any]],
        lengths: Sequence[int],
        controls: Sequence[NDArray[Any]] | None = None,
    ) -> NDArray[Any]:
        """Argmax decoder tokens [n, length] with the true previous token fed at every step and
        z = the posterior mean: the MusicVAE paper's teacher-forced reconstruction."""
        preds = []
        for start, stop, bucket in self._chunks(len(inputs)):
            in_ph, out_ph, c_ph, len_ph, pred = self._teacher_op(bucket)
            count = stop - start
            x = np.zeros([bucket, self.length, self.input_depth], np.float32)
            x[:count] = self._padded(inputs[start:stop], self.input_depth, self.length)
            y = np.zeros([bucket, self.length, self.output_depth], np.float32)
            y[:count] = self._padded(outputs[start:stop], self.output_depth, self.length)
            c = np.zeros([bucket, self.length, self.control_depth], np.float32)
            if controls is not None and self.control_depth:
                c[:count] = self._padded(controls[start:stop], self.control_depth, self.length)
            lens = np.ones([bucket], np.int32)
            lens[:count] = np.minimum(np.asarray(lengths[start:stop]), self.length)
            feed = {in_ph: x, out_ph: y, c_ph: c, len_ph: lens}
            preds.append(self.session.run(pred, feed)[:count])
        return np.concatenate(preds) if preds else np.zeros([0, self.length], np.int64)

    def close(self) -> None:
        """Frees the session (and with it the weights)."""
        self.session.close()
