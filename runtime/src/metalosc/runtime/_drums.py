"""The drum kit as Magenta's drum models see it: nine classes of General MIDI drum pitches.

The classes and their pitches are note_seq's ``drums_encoder_decoder.DEFAULT_DRUM_TYPE_PITCHES``
(GM kicks 35/36, snares 38/40/37…, hi-hats 42/44/46…, toms, crash, ride, plus the Roland TD-11
extras of the Groove MIDI Dataset), the vocabulary ``cat-drums_2bar_small`` is trained on, read
from note_seq itself rather than restated. The table is loaded on first use: importing note_seq
takes seconds.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

__all__ = ["DRUM_CLASSES", "decoded_drum_pitch", "drum_class", "drum_class_pitches"]

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


@cache
def _class_pitches() -> Mapping[str, tuple[int, ...]]:
    """Each class's GM pitches in note_seq's order (the first is the one decoders write)."""
    from note_seq import drums_encoder_decoder

    table = drums_encoder_decoder.DEFAULT_DRUM_TYPE_PITCHES
    if len(table) != len(DRUM_CLASSES):  # pragma: no cover - guards a note_seq upgrade
        raise RuntimeError(f"note_seq has {len(table)} drum classes, expected {len(DRUM_CLASSES)}")
    return {name: tuple(pitches) for name, pitches in zip(DRUM_CLASSES, table, strict=True)}


@cache
def _pitch_to_class() -> Mapping[int, str]:
    return {pitch: name for name, pitches in _class_pitches().items() for pitch in pitches}


def drum_class(pitch: int) -> str | None:
    """The drum class of a GM drum pitch (``None`` for a pitch outside Magenta's vocabulary)."""
    return _pitch_to_class().get(pitch)


def decoded_drum_pitch(name: str) -> int:
    """The GM pitch a drum model plays for class ``name``: a decoded class becomes the first
    pitch of its class in note_seq's table (Magenta's ``DrumsConverter`` writes
    ``pitch_classes[c][0]``), so these nine are the only drum notes the daemon sends.

    Raises ``ValueError`` for an unknown class name."""
    if name not in DRUM_CLASSES:
        raise ValueError(f"unknown drum class {name!r}; expected one of {DRUM_CLASSES}")
    return _class_pitches()[name][0]


def drum_class_pitches(name: str) -> frozenset[int]:
    """Every GM pitch of drum class ``name`` (one of :data:`DRUM_CLASSES`).

    Raises ``ValueError`` for an unknown class name."""
    if name not in DRUM_CLASSES:
        raise ValueError(f"unknown drum class {name!r}; expected one of {DRUM_CLASSES}")
    return frozenset(p for p, c in _pitch_to_class().items() if c == name)
