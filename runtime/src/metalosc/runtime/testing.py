"""Hand-made NoteSequences for tests: the phrases whose every expected number can be counted.

Public test support (as ``trio.testing`` is for trio): the runtime's own tests, the training
tests and the daemon's tests build their phrases with these instead of each restating them.
Times are in beats (quarter notes) for :class:`Note`, so fixtures read like music;
:func:`quantized` and :func:`timed` take 16th-note steps and seconds, as a decoded phrase carries
them. Importing this module is cheap: note_seq is imported when a sequence is first built.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._meter import BEATS_PER_BAR, DEFAULT_QPM, PHRASE_BARS, STEPS_PER_QUARTER

__all__ = [
    "Note",
    "bass_line",
    "drum_beat",
    "note_sequence",
    "power_chord_riff",
    "quantized",
    "timed",
]

NoteSequence = Any
"""``note_seq.NoteSequence`` (protobuf, untyped): imported lazily, note_seq takes seconds."""

#: note_seq's default resolution (``STANDARD_PPQ``), what a sequence read from MIDI carries.
_TICKS_PER_QUARTER = 220


def _new_sequence(**fields: Any) -> NoteSequence:
    from note_seq.protobuf import music_pb2

    return music_pb2.NoteSequence(**fields)


@dataclass(frozen=True)
class Note:
    """One note: pitch, start and end in beats, velocity."""

    pitch: int
    start: float
    end: float
    velocity: int = 100


def power_chord_riff(root: int = 40, bars: int = 4, velocity: int = 100) -> list[Note]:
    """Eighth-note power chords (root, fifth, octave) walking E-E-G-A per bar: a Metal riff."""
    notes: list[Note] = []
    roots = [root, root, root + 3, root + 5]
    for bar in range(bars):
        for eighth in range(8):
            start = bar * BEATS_PER_BAR + eighth * 0.5
            r = roots[(bar * 8 + eighth) // 4 % len(roots)]
            for interval in (0, 7, 12):
                notes.append(Note(r + interval, start, start + 0.5, velocity))
    return notes


def bass_line(root: int = 28, bars: int = 4, velocity: int = 100) -> list[Note]:
    """Eighth-note bass following :func:`power_chord_riff`'s roots an octave lower."""
    return [
        Note(n.pitch - 12, n.start, n.end, velocity)
        for n in power_chord_riff(root + 12, bars, velocity)
        if (n.pitch - root - 12) in (0, 3, 5)
    ]


def drum_beat(bars: int = 4, velocity: int = 100) -> list[Note]:
    """A rock beat: kick on 1 and 3, snare on 2 and 4, closed hi-hat eighths."""
    notes: list[Note] = []
    for bar in range(bars):
        for beat in range(BEATS_PER_BAR):
            onset = bar * BEATS_PER_BAR + beat
            notes.append(Note(36 if beat % 2 == 0 else 38, onset, onset + 0.25, velocity))
        for eighth in range(8):
            start = bar * BEATS_PER_BAR + eighth * 0.5
            notes.append(Note(42, start, start + 0.25, velocity))
    return notes


def note_sequence(
    notes: Sequence[Note],
    *,
    qpm: float = DEFAULT_QPM,
    is_drum: bool = False,
    program: int = 0,
    instrument: int = 0,
) -> NoteSequence:
    """An unquantized NoteSequence (seconds at ``qpm``, 4/4) holding ``notes`` on one track."""
    seq = _new_sequence(ticks_per_quarter=_TICKS_PER_QUARTER)
    seq.tempos.add(time=0.0, qpm=qpm)
    seq.time_signatures.add(time=0.0, numerator=BEATS_PER_BAR, denominator=4)
    seconds = 60.0 / qpm
    for n in notes:
        seq.notes.add(
            pitch=n.pitch,
            velocity=n.velocity,
            start_time=n.start * seconds,
            end_time=n.end * seconds,
            is_drum=is_drum,
            program=program,
            instrument=instrument,
        )
    seq.total_time = max((n.end_time for n in seq.notes), default=0.0)
    return seq


def quantized(
    notes: Sequence[tuple[int, int]], *, steps_per_quarter: int = STEPS_PER_QUARTER
) -> NoteSequence:
    """A quantized 2-bar phrase from (pitch, start step) pairs, each one step long."""
    seq = _new_sequence()
    seq.tempos.add(qpm=DEFAULT_QPM)
    seq.quantization_info.steps_per_quarter = steps_per_quarter
    for pitch, step in notes:
        note = seq.notes.add(pitch=pitch, velocity=100)
        note.quantized_start_step = step
        note.quantized_end_step = step + 1
    seq.total_quantized_steps = PHRASE_BARS * BEATS_PER_BAR * steps_per_quarter
    return seq


def timed(notes: Sequence[tuple[int, float]], qpm: float = DEFAULT_QPM) -> NoteSequence:
    """An unquantized phrase from (pitch, start seconds) pairs, each note 0.1 s long."""
    seq = _new_sequence()
    seq.tempos.add(qpm=qpm)
    for pitch, start in notes:
        seq.notes.add(pitch=pitch, velocity=100, start_time=start, end_time=start + 0.1)
    return seq
