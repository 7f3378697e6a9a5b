"""A decoded 2-bar phrase in musical time, and how a Magenta NoteSequence becomes one.

Notes are kept in beats relative to the phrase start (never seconds): the daemon's scheduler
converts them with the beat clock when it sends them, so a tempo change also re-times notes chosen
before it. Phrases are plain frozen dataclasses of numbers and strings; they pickle with their notes
packed into bytes (see :meth:`Phrase.__reduce__`), the form in which a model worker process hands
them to the daemon.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from metalosc.protocol import Instrument

from ._latent import ZVector
from ._meter import DEFAULT_QPM, PHRASE_BEATS

__all__ = ["CHORD_FIT", "Phrase", "PhraseNote", "notes_from_sequence"]

CHORD_FIT = "chord_fit"
"""The feature a phrase decoded on given chords carries: how well its strong beats fit them
(:func:`~metalosc.runtime.chord_fit`, 0..1, higher fits better)."""


class PhraseNote(NamedTuple):
    """One note of a phrase: MIDI pitch (a GM drum note for drums) and velocity, onset and end in
    beats from the phrase start (``0 <= start_beat < end_beat <= PHRASE_BEATS``).

    A named tuple rather than a dataclass: a batch of decoded phrases crosses from a model worker
    to the daemon pickled, and the daemon's event loop waits for the GIL while it is unpickled —
    a drum batch of 16 phrases (~750 notes) took 1.8 ms as dataclasses, under half as tuples."""

    pitch: int
    velocity: int
    start_beat: float
    end_beat: float


@dataclass(frozen=True, eq=False)
class Phrase:
    """One instrument's 2 bars: its notes, the latent ``z`` (``[z_size]`` float64) it was decoded
    from, its intensity (0..1, :func:`~metalosc.runtime.intensity`), its features, and the chords
    it carries (one symbol per bar: its own inferred chords for a guitar phrase, the chords it was
    decoded on for a bass phrase).

    ``accompaniment`` holds, for a guitar phrase, bass phrases decoded on this phrase's chords: the
    bass must be picked among them so that it plays against the harmony it was conditioned on.
    ``key`` is the tonal centre (pitch class, 0 = C) a guitar phrase and its bass were moved into,
    ``None`` for a phrase in the key it was decoded in.
    """

    instrument: Instrument
    z: ZVector
    notes: tuple[PhraseNote, ...]
    intensity: float
    features: dict[str, float] = field(default_factory=dict)
    chords: tuple[str, ...] = ()
    accompaniment: tuple[Phrase, ...] = ()
    id: int = 0
    key: int | None = None

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickles with the notes packed into bytes (:data:`_NOTE_WIRE` per note).

        Why: the daemon unpickles every phrase a model worker decodes in a thread that holds the
        GIL, and its event loop waits for the GIL meanwhile. A drum phrase of 45 notes took 27-30 µs
        to unpickle with a named tuple per note, 19-20 µs packed (``pickle.loads``, best of five);
        a worker sends up to ~1,500 phrases a second."""
        pack_into = _NOTE_WIRE.pack_into
        packed = bytearray(_NOTE_WIRE.size * len(self.notes))
        for i, note in enumerate(self.notes):
            pack_into(packed, i * _NOTE_WIRE.size, *note)
        fields = (self.intensity, self.features, self.chords, self.accompaniment, self.id, self.key)
        return _unpickle_phrase, (self.instrument, self.z, bytes(packed), *fields)


_NOTE_WIRE = struct.Struct("<BBdd")
"""A pickled phrase's note: pitch and velocity (one byte each: MIDI's 0..127 fit; past 255
``pickle.dumps`` raises ``struct.error`` rather than wrap), onset and end in beats (float64,
exactly as held)."""


def _unpickle_phrase(
    instrument: Instrument,
    z: ZVector,
    packed_notes: bytes,
    intensity: float,
    features: dict[str, float],
    chords: tuple[str, ...],
    accompaniment: tuple[Phrase, ...],
    phrase_id: int,
    key: int | None,
) -> Phrase:
    """The phrase :meth:`Phrase.__reduce__` packed."""
    make = tuple.__new__  # a named tuple's own constructor, without its argument parsing
    notes = tuple([make(PhraseNote, note) for note in _NOTE_WIRE.iter_unpack(packed_notes)])
    return Phrase(instrument, z, notes, intensity, features, chords, accompaniment, phrase_id, key)


def notes_from_sequence(seq: Any) -> tuple[PhraseNote, ...]:
    """Musical-time notes of a decoded NoteSequence, sorted, clipped to the 2-bar phrase.

    Decoded sequences carry quantized steps; an unquantized one is read in seconds at its own tempo
    (:data:`~metalosc.runtime.DEFAULT_QPM` when it has none).
    """
    qpm = float(seq.tempos[0].qpm) if len(seq.tempos) else DEFAULT_QPM
    quantized = seq.quantization_info.steps_per_quarter > 0
    out: list[PhraseNote] = []
    for note in seq.notes:
        if quantized and (note.quantized_end_step or note.quantized_start_step):
            spq = seq.quantization_info.steps_per_quarter
            start = note.quantized_start_step / spq
            end = note.quantized_end_step / spq
        else:
            start = note.start_time * qpm / 60.0
            end = note.end_time * qpm / 60.0
        if start >= PHRASE_BEATS or end <= start:
            continue
        end = min(end, float(PHRASE_BEATS))
        velocity = int(note.velocity) if note.velocity else 100
        out.append(PhraseNote(int(note.pitch), max(1, min(127, velocity)), start, end))
    out.sort(key=lambda n: (n.start_beat, n.pitch))
    return tuple(out)
