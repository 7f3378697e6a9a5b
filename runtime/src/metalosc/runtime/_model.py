"""One instrument's trained MusicVAE loaded from its model bundle, working on NoteSequences.

:class:`InstrumentModel` is what training's ``generate``/``quality``/``export`` and the daemon's
TensorFlow backend use: a bundle (manifest, weights-only checkpoint, attribute vectors) loaded into
a :class:`~metalosc.runtime.ModelSession`, decoding latents into quantized 2-bar NoteSequences and
encoding phrases back into latents, with chord symbols for the chord-conditioned bass.
``attributes`` holds every array of the bundle's attributes.npz; ``tension_vector`` and
``fill_vector`` name the latent directions a player steers along (``fill_vector`` is zeros when
the bundle has none).
Not thread-safe: callers serialize calls.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog
from metalosc.protocol import (
    ModelBundleError,
    ModelManifest,
    check_model_bundle,
    load_manifest,
)
from numpy.typing import NDArray

from ._bundle_model import BundleModel, load_attributes
from ._chords import normalize_chord
from ._gm import DRUM_CHANNEL, PROGRAMS
from ._meter import DEFAULT_QPM, STEPS_PER_QUARTER, bar_seconds
from ._presets import build_config
from ._session import DEFAULT_MAX_BATCH, CheckpointError, ModelSession

__all__ = ["InstrumentModel"]

log = structlog.get_logger(__name__)

NoteSequence = Any
"""``note_seq.NoteSequence`` (protobuf): imported lazily, note_seq takes seconds to import."""


class InstrumentModel(BundleModel):
    """One instrument's trained model from a bundle directory.

    `decode` and `encode` work on 2-bar phrases (32 steps of 16ths) as NoteSequences in
    quantized time at 120 qpm: notes carry `quantized_start_step`/`quantized_end_step`.
    """

    def __init__(
        self,
        session: ModelSession,
        manifest: ModelManifest,
        attributes: dict[str, NDArray[Any]],
    ) -> None:
        self._session = session
        super().__init__(
            manifest,
            attributes,
            z_size=session.z_size,
            steps=session.length,
            control_depth=session.control_depth,
            chord_encoding=getattr(session.config.data_converter, "_chord_encoding", None),
        )

    @classmethod
    def load(cls, bundle_dir: Path, *, max_batch: int = DEFAULT_MAX_BATCH) -> InstrumentModel:
        """Loads a bundle; ``ModelBundleError`` naming the broken file (manifest.json, a
        checkpoint file, attributes.npz) on any problem."""
        bundle_dir = Path(bundle_dir)
        manifest = load_manifest(bundle_dir)
        check_model_bundle(bundle_dir, manifest)
        attributes = load_attributes(bundle_dir)
        try:
            config = build_config(manifest.magenta_config, manifest.hparams, manifest.converter)
        except ValueError as e:
            raise ModelBundleError(bundle_dir / "manifest.json", str(e)) from None
        if int(config.hparams.z_size) != manifest.z_size:
            raise ModelBundleError(
                bundle_dir / "manifest.json",
                f"z_size {manifest.z_size} does not match hparams z_size {config.hparams.z_size}",
            )
        try:
            session = ModelSession(
                config, str(bundle_dir / manifest.checkpoint), max_batch=max_batch
            )
        except CheckpointError as e:
            raise ModelBundleError(e.path, e.reason) from None
        log.info(
            "model.loaded",
            instrument=manifest.instrument,
            preset=manifest.preset,
            z_size=manifest.z_size,
            bundle=str(bundle_dir),
            backend="tf",
        )
        return cls(session, manifest, attributes)

    @property
    def session(self) -> ModelSession:
        """The tensor-level model (for evaluation and benchmarks)."""
        return self._session

    def decode(
        self, z: NDArray[Any], temperature: float = 1.0, chords: Sequence[str] | None = None
    ) -> list[NoteSequence]:
        """Decodes latent vectors into 2-bar phrases in one batched run; `chords` (one per
        bar) condition the whole batch and are required for the chord-conditioned model."""
        controls = self._controls(chords)
        samples = self._session.decode_tensors(z, temperature, controls)
        return self.sequences(samples, chords)

    def sequences(
        self, samples: NDArray[Any], chords: Sequence[str] | None = None
    ) -> list[NoteSequence]:
        """Decoder samples ``[n, steps, output_depth]`` (one-hot) as :meth:`decode` returns them:
        Magenta's converter's NoteSequences with the band's program and channel, annotated with
        ``chords``, quantized."""
        import note_seq

        seqs = self._session.config.data_converter.from_tensors(samples)
        out = []
        for seq in seqs:
            if chords is not None:
                seq = _with_chords(seq, chords, DEFAULT_QPM)
            for note in seq.notes:
                note.is_drum = self.instrument == "drums"
                note.program = PROGRAMS[self.instrument]
                note.instrument = DRUM_CHANNEL if note.is_drum else 0
            seq.total_time = self.bars * bar_seconds()
            out.append(note_seq.quantize_note_sequence(seq, STEPS_PER_QUARTER))
        return out

    def encode(
        self, seqs: Sequence[NoteSequence], chords: Sequence[str] | None = None
    ) -> NDArray[Any]:
        """Posterior means [n, z_size] of 2-bar phrases (the first 2-bar example the training
        converter extracts from each); `chords` replace the phrases' own chord annotations."""
        self._controls(chords)  # validates chords against the model
        converter = self._session.config.data_converter
        inputs: list[NDArray[Any]] = []
        lengths: list[int] = []
        controls: list[NDArray[Any]] = []
        for index, seq in enumerate(seqs):
            source = seq
            if chords is not None:
                qpm = seq.tempos[0].qpm if seq.tempos else DEFAULT_QPM
                source = _with_chords(seq, chords, qpm)
            tensors = converter.to_tensors(_unquantized(source))
            if not tensors.inputs:
                raise ValueError(
                    f"phrase {index} yields no {self.instrument} example "
                    f"({len(seq.notes)} notes; needs 2 bars of 4/4 the converter accepts)"
                )
            inputs.append(tensors.inputs[0])
            lengths.append(int(tensors.lengths[0]))
            if self.chord_conditioned:
                controls.append(tensors.controls[0])
        return self._session.encode_tensors(
            inputs, lengths, controls if self.chord_conditioned else None
        )

    def close(self) -> None:
        """Frees the TF session."""
        self._session.close()


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
    """A copy of ``seq`` annotated with one chord symbol per bar (what the chord-conditioned
    converter reads as controls)."""
    from note_seq.protobuf.music_pb2 import NoteSequence as ProtoNoteSequence

    out = copy.deepcopy(seq)
    del out.text_annotations[:]
    for bar, symbol in enumerate(chords):
        ann = out.text_annotations.add()
        ann.time = bar * bar_seconds(qpm)
        ann.text = normalize_chord(symbol)
        ann.annotation_type = ProtoNoteSequence.TextAnnotation.CHORD_SYMBOL
    return out
