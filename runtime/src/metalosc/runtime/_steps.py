"""Decoder output → notes without Magenta or note_seq: what a TF-free model worker decodes into.

A MusicVAE decoder emits one one-hot event per 16th-note step; Magenta's data converters
(``OneHotMelodyConverter.from_tensors``, ``DrumsConverter.from_tensors``) turn those events into
NoteSequences, and :class:`~metalosc.runtime.InstrumentModel` then sets the band's program and
channel and quantizes them. That module chain imports TensorFlow, and note_seq's package import
alone costs seconds and ~130 MB per process, so :func:`sequences_from_samples` restates the
conversion on the encoding the bundle's manifest records
(:class:`~metalosc.protocol.MelodyEncoding`, :class:`~metalosc.protocol.DrumsEncoding`) and
returns :class:`StepSequence`\\ s: frozen, NoteSequence-shaped records with the fields the
runtime's measures, :func:`notes_from_sequence` and the training code read (a decoded phrase is
never mutated). ``training/tests`` hold it equal
to Magenta's converter plus ``InstrumentModel``'s post-processing on the same one-hot tensors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np
from metalosc.protocol import DrumsEncoding, Instrument, MelodyEncoding
from numpy.typing import NDArray

from ._gm import DRUM_CHANNEL, PROGRAMS
from ._meter import DEFAULT_QPM, STEPS_PER_BAR, bar_seconds

__all__ = [
    "QuantizationInfo",
    "StepNote",
    "StepSequence",
    "Tempo",
    "sequences_from_samples",
]


class StepNote(NamedTuple):
    """One decoded note, as a NoteSequence note: MIDI pitch and velocity, start and end in seconds
    (at the sequence's tempo) and in quantized steps, drum flag, GM program and MIDI channel.

    A named tuple: a drum batch of 16 phrases makes ~750 of them per decode, and a frozen
    dataclass's ``__init__`` cost more than the conversion around it."""

    pitch: int
    velocity: int
    start_time: float
    end_time: float
    quantized_start_step: int
    quantized_end_step: int
    is_drum: bool
    program: int
    instrument: int


@dataclass(frozen=True)
class Tempo:
    """A tempo mark: quarter notes per minute from `time` seconds on."""

    qpm: float
    time: float = 0.0


@dataclass(frozen=True)
class QuantizationInfo:
    """Quantization of a sequence: steps per quarter note (0: not quantized)."""

    steps_per_quarter: int


@dataclass(frozen=True)
class StepSequence:
    """A decoded, quantized phrase shaped like a ``note_seq.NoteSequence`` (read-only): notes in
    step order, one tempo, its quantization, length in seconds and in steps."""

    notes: tuple[StepNote, ...]
    tempos: tuple[Tempo, ...]
    quantization_info: QuantizationInfo
    total_time: float
    total_quantized_steps: int
    text_annotations: tuple[Any, ...] = field(default=())

    def to_note_sequence(self) -> Any:
        """The same phrase as a quantized ``note_seq.NoteSequence`` (imports note_seq: for the
        training side and tests, never a model worker)."""
        from note_seq.protobuf import music_pb2

        seq = music_pb2.NoteSequence()
        for tempo in self.tempos:
            seq.tempos.add(qpm=tempo.qpm, time=tempo.time)
        seq.time_signatures.add(numerator=4, denominator=4)
        seq.quantization_info.steps_per_quarter = self.quantization_info.steps_per_quarter
        for note in self.notes:
            seq.notes.add(
                pitch=note.pitch,
                velocity=note.velocity,
                start_time=note.start_time,
                end_time=note.end_time,
                quantized_start_step=note.quantized_start_step,
                quantized_end_step=note.quantized_end_step,
                is_drum=note.is_drum,
                program=note.program,
                instrument=note.instrument,
            )
        seq.total_time = self.total_time
        seq.total_quantized_steps = self.total_quantized_steps
        return seq


def _quantized_step(seconds: float, steps_per_second: float) -> int:
    """note_seq's ``quantize_to_step`` with its default cutoff (round half up, towards zero)."""
    return int(seconds * steps_per_second + 0.5)


def _melody_notes(
    events: NDArray[np.int64], encoding: MelodyEncoding, seconds_per_step: float
) -> list[tuple[int, float, float]]:
    """(pitch, start s, end s) of a melody's events: 0 holds, 1 ends the note, 2+k starts
    pitch min_pitch + k (ending the note before); the phrase's end ends a held note."""
    notes: list[tuple[int, float, float]] = []
    current: tuple[int, float] | None = None
    for step, event in enumerate(events.tolist()):
        if event >= 2:
            if current is not None:
                notes.append((current[0], current[1], step * seconds_per_step))
            current = (encoding.min_pitch + event - 2, step * seconds_per_step)
        elif event == 1 and current is not None:
            notes.append((current[0], current[1], step * seconds_per_step))
            current = None
    if current is not None:
        notes.append((current[0], current[1], len(events) * seconds_per_step))
    return notes


@lru_cache(maxsize=8)
def _drum_pitches(pitch_classes: tuple[tuple[int, ...], ...]) -> tuple[tuple[int, ...], ...]:
    """For every drum event ``e`` (``0 <= e < 2**classes``), the pitches it sounds: the first
    pitch of each class whose bit is set, in the order Magenta's frozenset iterates them (the
    same frozenset, built the same way, iterates the same way)."""
    return tuple(
        tuple(frozenset(pitch_classes[i][0] for i in range(len(pitch_classes)) if e >> i & 1))
        for e in range(1 << len(pitch_classes))
    )


def _drum_notes(
    events: NDArray[np.int64], encoding: DrumsEncoding, seconds_per_step: float
) -> list[tuple[int, float, float]]:
    """(pitch, start s, end s) of a drum track's events: bit i of an event sounds class i as the
    first pitch of its class, for one step; a step's hits are listed as Magenta's frozenset
    iterates them."""
    pitches = _drum_pitches(tuple(tuple(c) for c in encoding.pitch_classes))
    return [
        (pitch, step * seconds_per_step, (step + 1) * seconds_per_step)
        for step, event in enumerate(events.tolist())
        for pitch in pitches[event]
    ]


def sequences_from_samples(
    samples: NDArray[Any], encoding: MelodyEncoding | DrumsEncoding, instrument: Instrument
) -> list[StepSequence]:
    """Decoder samples ``[n, steps, depth]`` (one-hot, or any scores: the argmax of each step is
    its event) → n quantized 2-bar phrases at 120 qpm, carrying ``instrument``'s GM program and
    channel, velocity and timing as Magenta's converters write them.

    Raises ``ValueError`` for samples that are not ``[n, steps, depth]``."""
    samples = np.asarray(samples)
    if samples.ndim != 3:
        raise ValueError(f"samples must be [n, steps, depth], got {list(samples.shape)}")
    steps_per_quarter = encoding.steps_per_quarter
    qpm = DEFAULT_QPM
    seconds_per_step = 60.0 / qpm / steps_per_quarter
    steps_per_second = steps_per_quarter * qpm / 60.0
    bars = samples.shape[1] // STEPS_PER_BAR
    total_time = bars * bar_seconds()
    total_steps = _quantized_step(total_time, steps_per_second)
    is_drum = instrument == "drums"
    program = PROGRAMS[instrument]
    channel = DRUM_CHANNEL if is_drum else 0
    velocity = encoding.velocity
    out = []
    for events in np.argmax(samples, axis=-1):
        if isinstance(encoding, DrumsEncoding):
            raw = _drum_notes(events, encoding, seconds_per_step)
        else:
            raw = _melody_notes(events, encoding, seconds_per_step)
        notes = []
        end_steps = total_steps
        for pitch, start, end in raw:
            start_step = _quantized_step(start, steps_per_second)
            end_step = _quantized_step(end, steps_per_second)
            if end_step == start_step:
                end_step += 1
            if end_step > end_steps:
                end_steps = end_step
            notes.append(
                StepNote(
                    pitch, velocity, start, end, start_step, end_step, is_drum, program, channel
                )
            )
        out.append(
            StepSequence(
                notes=tuple(notes),
                tempos=(Tempo(qpm),),
                quantization_info=QuantizationInfo(steps_per_quarter),
                total_time=total_time,
                total_quantized_steps=end_steps,
            )
        )
    return out
