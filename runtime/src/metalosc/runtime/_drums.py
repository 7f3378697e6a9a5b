"""The drum kit as Magenta's drum models see it: nine classes of General MIDI drum pitches.

The classes and their pitches are note_seq's ``drums_encoder_decoder.DEFAULT_DRUM_TYPE_PITCHES``
(GM kicks 35/36, snares 38/40/37…, hi-hats 42/44/46…, toms, crash, ride, plus the Roland TD-11
extras of the Groove MIDI Dataset), the vocabulary ``cat-drums_2bar_small`` is trained on. The
table is restated here because the daemon's model workers classify every decoded drum hit and
must not import note_seq (seconds and ~130 MB a process); ``runtime/tests`` hold it equal to
note_seq's.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

__all__ = [
    "DRUM_CLASSES",
    "DRUM_CLASS_PITCHES",
    "decoded_drum_pitch",
    "drum_class",
    "drum_class_pitches",
]

DRUM_CLASSES: tuple[str, ...] = (
    "kick",
    "snare",
    "closed_hihat",
    "open_hihat",
    "low_tom",
    "mid_tom",
    "high_tom",
    "crash",
    "ride",
)
"""The class names, in the order of note_seq's table."""

DRUM_CLASS_PITCHES: tuple[tuple[int, ...], ...] = (
    (36, 35),
    (38, 27, 28, 31, 32, 33, 34, 37, 39, 40, 56, 65, 66, 75, 85),
    (42, 44, 54, 68, 69, 70, 71, 73, 78, 80, 22),
    (46, 67, 72, 74, 79, 81, 26),
    (45, 29, 41, 43, 61, 64, 84),
    (48, 47, 60, 63, 77, 86, 87),
    (50, 30, 62, 76, 83),
    (49, 52, 55, 57, 58),
    (51, 53, 59, 82),
)
"""GM pitches of each class of :data:`DRUM_CLASSES`, the first the one a decoder plays
(note_seq's ``DEFAULT_DRUM_TYPE_PITCHES``)."""


@cache
def _pitch_to_class() -> Mapping[int, str]:
    pairs = zip(DRUM_CLASSES, DRUM_CLASS_PITCHES, strict=True)
    return {pitch: name for name, pitches in pairs for pitch in pitches}


def drum_class(pitch: int) -> str | None:
    """The drum class of a GM drum pitch (``None`` for a pitch outside Magenta's vocabulary)."""
    return _pitch_to_class().get(pitch)


def decoded_drum_pitch(name: str) -> int:
    """The GM pitch a drum model plays for class ``name``: a decoded class becomes the first
    pitch of its class in :data:`DRUM_CLASS_PITCHES` (Magenta's ``DrumsConverter`` writes
    ``pitch_classes[c][0]``), so these nine are the only drum notes the daemon sends.

    Raises ``ValueError`` for an unknown class name."""
    if name not in DRUM_CLASSES:
        raise ValueError(f"unknown drum class {name!r}; expected one of {DRUM_CLASSES}")
    return DRUM_CLASS_PITCHES[DRUM_CLASSES.index(name)][0]


def drum_class_pitches(name: str) -> frozenset[int]:
    """Every GM pitch of drum class ``name`` (one of :data:`DRUM_CLASSES`).

    Raises ``ValueError`` for an unknown class name."""
    if name not in DRUM_CLASSES:
        raise ValueError(f"unknown drum class {name!r}; expected one of {DRUM_CLASSES}")
    return frozenset(p for p, c in _pitch_to_class().items() if c == name)
