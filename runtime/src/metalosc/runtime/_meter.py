"""The meter every model and every phrase shares: 4/4 bars of 16 sixteenth-note steps.

MusicVAE's 2-bar configs (``cat-mel_2bar_*``, ``cat-drums_2bar_*``) quantize to 4 steps per
quarter note and model 32 steps; their decoders write NoteSequences at note_seq's default tempo
(``note_seq.DEFAULT_QUARTERS_PER_MINUTE``, 120 qpm), which is also what a MIDI file without a tempo
event plays at. These numbers are defined here once; nothing else restates them.
"""

from __future__ import annotations

__all__ = [
    "BEATS_PER_BAR",
    "DEFAULT_QPM",
    "PHRASE_BARS",
    "PHRASE_BEATS",
    "PHRASE_STEPS",
    "STEPS_PER_BAR",
    "STEPS_PER_QUARTER",
    "bar_seconds",
]

BEATS_PER_BAR = 4
"""Quarter-note beats per bar: every model and corpus file is 4/4."""
STEPS_PER_QUARTER = 4
"""Sixteenth-note steps per quarter note (the 2-bar configs' ``steps_per_quarter``)."""
STEPS_PER_BAR = STEPS_PER_QUARTER * BEATS_PER_BAR
PHRASE_BARS = 2
"""Bars in one decoded phrase."""
PHRASE_BEATS = PHRASE_BARS * BEATS_PER_BAR
PHRASE_STEPS = PHRASE_BARS * STEPS_PER_BAR
DEFAULT_QPM = 120.0
"""Quarter notes per minute of a decoded NoteSequence and of a MIDI file with no tempo event."""


def bar_seconds(qpm: float = DEFAULT_QPM) -> float:
    """Seconds of one 4/4 bar at ``qpm`` quarter notes per minute."""
    return BEATS_PER_BAR * 60.0 / qpm
