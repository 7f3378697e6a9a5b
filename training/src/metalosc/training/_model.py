"""Inference on a trained MusicVAE: the `InstrumentModel` the server and `generate` use.

Two layers:

* :class:`ModelSession` — a Magenta model restored from a checkpoint in its own ``tf.Graph`` and
  ``tf.Session`` (so three instruments live in one process), working on tensors. The graph is
  built like Magenta's ``TrainedModel`` (``config.model.build(..., is_training=False)``, then
  ``model.sample`` / ``model.encode`` on placeholders) with one difference that matters for a
  real-time server: ``TrainedModel`` fixes one batch size, so decoding 1 phrase with a model
  built for 32 costs 32 phrases. Here sample/encode ops are built per power-of-two batch size on
  first use, all sharing the same variables (``AUTO_REUSE``), and a request of n phrases runs in
  the smallest bucket that holds it: one ``session.run`` for up to ``max_batch`` phrases.
* :class:`InstrumentModel` — a bundle (manifest, checkpoint, attribute vectors) loaded into a
  ModelSession, working on NoteSequences and chord symbols.

Neither is thread-safe: callers serialize calls (the server runs one worker thread per model).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from metalosc.protocol import (
    ATTRIBUTES_FILE,
    BundleError,
    BundleManifest,
    Instrument,
    check_bundle_files,
    load_manifest,
)
from metalosc.training._chord_inference import install_transition_cache
from metalosc.training._presets import build_config
from note_seq.protobuf import music_pb2

NoteSequence = music_pb2.NoteSequence

log = structlog.get_logger(__name__)

STEPS_PER_QUARTER = 4
STEPS_PER_BAR = 16
#: GM programs the decoded phrases carry (Distortion Guitar, Electric Bass finger).
PROGRAMS: dict[Instrument, int] = {"guitar": 30, "bass": 33, "drums": 0}
#: Temperature used for "argmax" decoding (evaluation): low enough that sampling from the
#: softmax is the argmax for any realistic logit gap.
GREEDY_TEMPERATURE = 1e-4
DEFAULT_MAX_BATCH = 64
TENSION_KEY = "tension"


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
        self, z: np.ndarray, temperature: float = 1.0, c_input: np.ndarray | None = None
    ) -> np.ndarray:
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

    def _padded(self, tensors: Sequence[np.ndarray], depth: int, length: int) -> np.ndarray:
        out = np.zeros([len(tensors), length, depth], np.float32)
        for i, t in enumerate(tensors):
            t = np.asarray(t, np.float32).reshape(-1, depth)[:length]
            out[i, : len(t)] = t
        return out

    def encode_tensors(
        self,
        inputs: Sequence[np.ndarray],
        lengths: Sequence[int],
        controls: Sequence[np.ndarray] | None = None,
    ) -> np.ndarray:
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
        inputs: Sequence[np.ndarray],
        outputs: Sequence[np.ndarray],
        lengths: Sequence[int],
        controls: Sequence[np.ndarray] | None = None,
    ) -> np.ndarray:
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


# -- chords ----------------------------------------------------------------------------------


_ROOT_ONLY = re.compile(r"^([A-G][#b]?)(?:5|sus2|sus4)$")


def normalize_chord(symbol: str) -> str:
    """A chord symbol the triad encoding accepts. Power chords ("E5"), the staple of metal, have
    no third; they (and sus chords) are read as the major triad on their root, as tab books
    do."""
    symbol = symbol.strip()
    match = _ROOT_ONLY.match(symbol)
    if match:
        return match.group(1)
    return symbol


def chord_controls(encoding: Any, chords: Sequence[str], length: int) -> np.ndarray:
    """[length, num_classes] one-hot chord controls, one chord per bar of 16 steps, encoded
    with the converter's own chord encoding (the one used in training)."""
    import note_seq

    bars = -(-length // STEPS_PER_BAR)
    if len(chords) != bars:
        raise ValueError(f"need one chord per bar ({bars}), got {len(chords)}: {list(chords)}")
    controls = np.zeros([length, encoding.num_classes], np.float32)
    for bar, symbol in enumerate(chords):
        try:
            index = encoding.encode_event(normalize_chord(symbol))
        except (note_seq.ChordSymbolError, note_seq.ChordEncodingError) as e:
            raise ValueError(f"unsupported chord symbol {symbol!r}: {e}") from None
        controls[bar * STEPS_PER_BAR : (bar + 1) * STEPS_PER_BAR, index] = 1.0
    return controls


def _unquantized(seq: NoteSequence) -> NoteSequence:
    """A copy in seconds only: Magenta's converters quantize themselves and refuse a sequence
    that already is (decode returns quantized phrases)."""
    out = copy.deepcopy(seq)
    out.ClearField("quantization_info")
    out.ClearField("total_quantized_steps")
    for note in out.notes:
        note.ClearField("quantized_start_step")
        note.ClearField("quantized_end_step")
    for ann in out.text_annotations:
        ann.ClearField("quantized_step")
    return out


def _with_chords(seq: NoteSequence, chords: Sequence[str], qpm: float) -> NoteSequence:
    out = copy.deepcopy(seq)
    del out.text_annotations[:]
    bar_seconds = 4 * 60.0 / qpm
    for bar, symbol in enumerate(chords):
        ann = out.text_annotations.add()
        ann.time = bar * bar_seconds
        ann.text = normalize_chord(symbol)
        ann.annotation_type = NoteSequence.TextAnnotation.CHORD_SYMBOL
    return out


def infer_chords(
    guitar: NoteSequence, bass: NoteSequence | None = None, bars: int = 2
) -> list[str]:
    """One chord symbol per bar for the first `bars` bars of a phrase, by note_seq's Viterbi
    chord inference over the guitar (and bass, if given) sounding together. Bars it cannot
    name are "N.C." (no chord), which the bass model is trained to accept."""
    import note_seq
    from note_seq import chord_inference

    install_transition_cache()
    merged = NoteSequence()
    qpm = guitar.tempos[0].qpm if guitar.tempos else 120.0
    merged.tempos.add(qpm=qpm)
    merged.time_signatures.add(numerator=4, denominator=4)
    for part in (guitar, bass):
        if part is None:
            continue
        for note in part.notes:
            if not note.is_drum:
                merged.notes.add().CopyFrom(note)
    bar_seconds = 4 * 60.0 / qpm
    merged.total_time = bars * bar_seconds
    chords = [note_seq.NO_CHORD] * bars
    if not merged.notes:
        return chords
    try:
        quantized = note_seq.quantize_note_sequence(merged, STEPS_PER_QUARTER)
        chord_inference.infer_chords_for_sequence(quantized, chords_per_bar=1)
    except (chord_inference.ChordInferenceError, note_seq.QuantizationStatusError) as e:
        log.debug("chords.inference_failed", error=str(e))
        return chords
    for ann in quantized.text_annotations:
        if ann.annotation_type == NoteSequence.TextAnnotation.CHORD_SYMBOL:
            bar = ann.quantized_step // STEPS_PER_BAR
            if 0 <= bar < bars:
                chords[bar] = ann.text
    return chords


# -- the bundle-level model ------------------------------------------------------------------


class InstrumentModel:
    """One instrument's trained model from a bundle directory.

    `decode` and `encode` work on 2-bar phrases (32 steps of 16ths) as NoteSequences in
    quantized time at 120 qpm: notes carry `quantized_start_step`/`quantized_end_step`.
    """

    def __init__(
        self,
        session: ModelSession,
        manifest: BundleManifest,
        attributes: dict[str, np.ndarray],
    ) -> None:
        self._session = session
        self.manifest = manifest
        self.instrument: Instrument = manifest.instrument
        self.z_size: int = session.z_size
        self.attributes = attributes
        self.tension_vector: np.ndarray = attributes[TENSION_KEY].astype(np.float32)
        self.bars = session.length // STEPS_PER_BAR

    @classmethod
    def load(cls, bundle_dir: Path, *, max_batch: int = DEFAULT_MAX_BATCH) -> InstrumentModel:
        """Loads a bundle; BundleError naming the broken file (manifest.json, a checkpoint file,
        attributes.npz) on any problem."""
        bundle_dir = Path(bundle_dir)
        manifest = load_manifest(bundle_dir)
        check_bundle_files(bundle_dir, manifest)
        attributes_path = bundle_dir / ATTRIBUTES_FILE
        with np.load(attributes_path, allow_pickle=False) as archive:
            attributes = {key: np.asarray(archive[key]) for key in archive.files}
        try:
            config = build_config(manifest.magenta_config, manifest.hparams, manifest.converter)
        except ValueError as e:
            raise BundleError(bundle_dir / "manifest.json", str(e)) from None
        if int(config.hparams.z_size) != manifest.z_size:
            raise BundleError(
                bundle_dir / "manifest.json",
                f"z_size {manifest.z_size} does not match hparams z_size {config.hparams.z_size}",
            )
        try:
            session = ModelSession(
                config, str(bundle_dir / manifest.checkpoint), max_batch=max_batch
            )
        except CheckpointError as e:
            raise BundleError(e.path, e.reason) from None
        log.info(
            "model.loaded",
            instrument=manifest.instrument,
            preset=manifest.preset,
            z_size=manifest.z_size,
            bundle=str(bundle_dir),
        )
        return cls(session, manifest, attributes)

    @property
    def session(self) -> ModelSession:
        """The tensor-level model (for evaluation and benchmarks)."""
        return self._session

    @property
    def chord_conditioned(self) -> bool:
        """Whether decode/encode need one chord symbol per bar (the bass model)."""
        return self._session.control_depth > 0

    def sample_z(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """[n, z_size] latent vectors from the prior N(0, I)."""
        return rng.standard_normal((n, self.z_size)).astype(np.float32)

    def _controls(self, chords: Sequence[str] | None) -> np.ndarray | None:
        if not self.chord_conditioned:
            if chords is not None:
                raise ValueError(f"the {self.instrument} model is not chord-conditioned")
            return None
        if chords is None:
            raise ValueError(f"the {self.instrument} model needs chords (one symbol per bar)")
        encoding = self._session.config.data_converter._chord_encoding
        return chord_controls(encoding, chords, self._session.length)

    def decode(
        self, z: np.ndarray, temperature: float = 1.0, chords: Sequence[str] | None = None
    ) -> list[NoteSequence]:
        """Decodes latent vectors into 2-bar phrases in one batched run; `chords` (one per
        bar) condition the whole batch and are required for the chord-conditioned model."""
        import note_seq

        controls = self._controls(chords)
        samples = self._session.decode_tensors(z, temperature, controls)
        seqs = self._session.config.data_converter.from_tensors(samples)
        out = []
        for seq in seqs:
            if chords is not None:
                seq = _with_chords(seq, chords, note_seq.DEFAULT_QUARTERS_PER_MINUTE)
            for note in seq.notes:
                note.is_drum = self.instrument == "drums"
                note.program = PROGRAMS[self.instrument]
                note.instrument = 9 if note.is_drum else 0
            seq.total_time = self.bars * 4 * 60.0 / note_seq.DEFAULT_QUARTERS_PER_MINUTE
            out.append(note_seq.quantize_note_sequence(seq, STEPS_PER_QUARTER))
        return out

    def encode(
        self, seqs: Sequence[NoteSequence], chords: Sequence[str] | None = None
    ) -> np.ndarray:
        """Posterior means [n, z_size] of 2-bar phrases (the first 2-bar example the training
        converter extracts from each); `chords` replace the phrases' own chord annotations."""
        self._controls(chords)  # validates chords against the model
        converter = self._session.config.data_converter
        inputs, lengths, controls = [], [], []
        for index, seq in enumerate(seqs):
            source = seq
            if chords is not None:
                qpm = seq.tempos[0].qpm if seq.tempos else 120.0
                source = _with_chords(seq, chords, qpm)
            tensors = converter.to_tensors(_unquantized(source))
            if not tensors.inputs:
                raise ValueError(
                    f"phrase {index} yields no {self.instrument} example "
                    f"({len(seq.notes)} notes; needs 2 bars of 4/4 the converter accepts)"
                )
            inputs.append(tensors.inputs[0])
            lengths.append(int(tensors.lengths[0]))
            controls.append(tensors.controls[0] if self.chord_conditioned else None)
        return self._session.encode_tensors(
            inputs, lengths, controls if self.chord_conditioned else None
        )

    def close(self) -> None:
        """Frees the TF session."""
        self._session.close()
