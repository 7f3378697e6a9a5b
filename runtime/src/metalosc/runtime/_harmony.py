"""How well a bass phrase fits the chords it plays over: the band-cohesion measure.

One definition serves three callers, so "cohesion" means the same number everywhere: the
daemon's model workers score every bass candidate with :func:`chord_fit` and the conductor plays
the best-fitting one; training's ``generate`` picks its bass the same way; ``quality`` reports the
share of fitting strong-beat notes (band cohesion).

Strong beats are beats 1 and 3 of each 4/4 bar (16th-note steps 0 and 8 of every 16-step bar).
Chord tones are the triad the bass model is conditioned on (the symbol after
:func:`normalize_chord` and the model's triad encoding, so power chord "E5" counts as E major and
"C7" as C), spelled by ``note_seq.chord_symbols_lib``; strong-beat notes in "N.C." bars count
neither way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._chords import chord_tones
from ._meter import DEFAULT_QPM, STEPS_PER_BAR, STEPS_PER_QUARTER

NoteSequence = Any
"""``note_seq.NoteSequence`` or anything shaped like it."""

__all__ = [
    "BASS_CANDIDATES",
    "STRONG_STEPS",
    "ChordFit",
    "chord_fit",
    "is_strong_step",
    "sixteenth_step",
    "strong_beat_chord_fit",
]

#: 16th-note steps of a 4/4 bar that count as strong beats: beats 1 and 3.
STRONG_STEPS = frozenset({0, 8})
#: Bass phrases decoded per guitar phrase, among which the best :func:`chord_fit` plays. The
#: daemon's ``bass_candidates`` setting defaults to this number.
#: Measured on the default bundles (200 guitar phrases), the strong-beat fit of the played bass
#: by candidates: 1 → 0.50, 2 → 0.71, 3 → 0.80, 4 → 0.86, 6 → 0.93, 8 → 0.95; bass decoding is
#: the cheapest of the three models (~900 phrases/s), so 6 costs little.
BASS_CANDIDATES = 6


def sixteenth_step(note: Any, seq: NoteSequence) -> int:
    """The note's start as a 16th-note step from the sequence start (quantized steps when the
    sequence is quantized, else its start time at the sequence's first tempo, 120 qpm if none)."""
    steps_per_quarter = int(seq.quantization_info.steps_per_quarter)
    if steps_per_quarter > 0:
        return int(note.quantized_start_step) * STEPS_PER_QUARTER // steps_per_quarter
    qpm = float(seq.tempos[0].qpm) if seq.tempos else DEFAULT_QPM
    return round(float(note.start_time) * qpm / 60.0 * STEPS_PER_QUARTER)


def is_strong_step(step: int) -> bool:
    """Whether a 16th-note step falls on beat 1 or 3 of its 4/4 bar."""
    return step % STEPS_PER_BAR in STRONG_STEPS


@dataclass(frozen=True)
class ChordFit:
    """Strong-beat bass notes on a chord tone (`hits`) out of those under a chord (`notes`)."""

    hits: int = 0
    notes: int = 0
    no_chord_notes: int = 0  # strong-beat notes in "N.C." bars, left out of the ratio

    def __add__(self, other: ChordFit) -> ChordFit:
        return ChordFit(
            self.hits + other.hits,
            self.notes + other.notes,
            self.no_chord_notes + other.no_chord_notes,
        )

    @property
    def fraction(self) -> float:
        """hits / notes; NaN when no strong-beat note fell under a chord."""
        return self.hits / self.notes if self.notes else math.nan


def strong_beat_chord_fit(bass: NoteSequence, chords: Sequence[str]) -> ChordFit:
    """How many of `bass`'s strong-beat notes (pitched notes only) sound a tone of their bar's
    chord; `chords` has one symbol per bar, notes past the last chord are ignored."""
    tones = [chord_tones(symbol) for symbol in chords]
    hits = notes = no_chord = 0
    for note in bass.notes:
        if note.is_drum:
            continue
        step = sixteenth_step(note, bass)
        bar = step // STEPS_PER_BAR
        if not is_strong_step(step) or not 0 <= bar < len(tones):
            continue
        chord = tones[bar]
        if chord is None:
            no_chord += 1
            continue
        notes += 1
        hits += note.pitch % 12 in chord
    return ChordFit(hits, notes, no_chord)


def chord_fit(bass: NoteSequence, chords: Sequence[str]) -> float:
    """One number to rank bass candidates by: (hits + ½) / (strong-beat notes + 1).

    The smoothing keeps a phrase with no strong-beat notes at ½ — neither a perfect fit nor a
    failure — so a candidate cannot win by leaving the strong beats empty, and more fitting
    notes beat fewer (3 of 3 > 1 of 1).
    """
    fit = strong_beat_chord_fit(bass, chords)
    return (fit.hits + 0.5) / (fit.notes + 1)
