"""Arranging decoded phrases for the band: into a key, and voiced as power chords.

* :func:`transposed` moves a phrase (and the bass phrases decoded on its chords, and the chord
  symbols it carries) by a number of semitones; drums are never moved.
* :func:`into_key` moves a guitar phrase into the natural minor key on a tonic by
  :func:`~metalosc.runtime.fit_to_key` — the shift whose notes fit the key's scale best — and
  records the key and the fit (feature ``key_fit``).
* :func:`power_chords` voices a guitar line as Metal plays it: every note below
  :data:`POWER_CHORD_BELOW` becomes a power chord (root and fifth). The guitar model learnt root
  lines (the pipeline reduces the corpus's chords to their lowest note, because MusicVAE's melody
  models are monophonic), so the daemon puts back the fifth the reduction took away; notes above
  the split are lead lines and stay single. In a key, the fifth is the scale's: on the second
  degree of a minor key (F# in E minor) that is the diminished fifth (C), as a riff in one key
  signature plays it.
"""

from __future__ import annotations

import dataclasses
import re

from metalosc.protocol import KEY_NAMES

from ._chords import NO_CHORD
from ._key import fit_to_key, scale_pitch_classes
from ._phrase import Phrase, PhraseNote

__all__ = [
    "KEY_FIT",
    "POWER_CHORD_BELOW",
    "POWER_CHORD_INTERVAL",
    "into_key",
    "power_chords",
    "transpose_chord",
    "transposed",
]

KEY_FIT = "key_fit"
"""Feature of a phrase moved into a key: the duration-weighted share of its notes in the key's
natural minor scale (0..1)."""
POWER_CHORD_INTERVAL = 7
"""A power chord is a root and its perfect fifth."""
POWER_CHORD_BELOW = 60
"""Guitar notes below middle C are rhythm guitar and get their fifth; from C4 up they are leads."""

_ROOT = re.compile(r"^([A-G])([#b]?)(.*)$")
_NATURALS = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}


def transpose_chord(symbol: str, semitones: int) -> str:
    """``symbol`` with its root moved by ``semitones`` ("E5" + 2 → "F#5", "Am" − 2 → "Gm");
    "N.C." and symbols without a recognisable root stay as they are."""
    match = _ROOT.match(symbol)
    if symbol == NO_CHORD or match is None:
        return symbol
    letter, accidental, rest = match.groups()
    pc = _NATURALS[letter] + {"#": 1, "b": -1}.get(accidental, 0)
    return KEY_NAMES[(pc + semitones) % 12] + rest


def transposed(phrase: Phrase, semitones: int) -> Phrase:
    """``phrase`` moved by ``semitones`` (notes clipped to MIDI 0..127), with its chords, its
    accompaniment and its key; a drum phrase or a zero shift is returned as it is."""
    if semitones == 0 or phrase.instrument == "drums":
        return phrase
    notes = tuple(n._replace(pitch=min(127, max(0, n.pitch + semitones))) for n in phrase.notes)
    return dataclasses.replace(
        phrase,
        notes=notes,
        chords=tuple(transpose_chord(c, semitones) for c in phrase.chords),
        accompaniment=tuple(transposed(p, semitones) for p in phrase.accompaniment),
        key=None if phrase.key is None else (phrase.key + semitones) % 12,
    )


def into_key(phrase: Phrase, tonic: int) -> Phrase:
    """``phrase`` moved into the natural minor key on ``tonic`` (a pitch class): by the shift
    (-5..+6) that fits the key's scale best, with ``key`` = ``tonic`` and feature ``key_fit``."""
    fit = fit_to_key([(n.pitch, n.end_beat - n.start_beat) for n in phrase.notes], tonic)
    moved = transposed(dataclasses.replace(phrase, key=None), fit.shift)
    features = {**moved.features, KEY_FIT: fit.fit if fit.fit == fit.fit else 1.0}
    return dataclasses.replace(moved, key=tonic, features=features)


def power_chords(phrase: Phrase, below: int = POWER_CHORD_BELOW) -> Phrase:
    """A guitar phrase with a fifth added to every note below ``below``: the perfect fifth, or
    the diminished one where the phrase's key (``phrase.key``) has no perfect fifth above the
    note (module docstring)."""
    scale = None if phrase.key is None else scale_pitch_classes(phrase.key)
    notes: list[PhraseNote] = []
    for note in phrase.notes:
        notes.append(note)
        if note.pitch < below:
            fifth = note.pitch + POWER_CHORD_INTERVAL
            if scale is not None and note.pitch % 12 in scale and fifth % 12 not in scale:
                fifth -= 1
            notes.append(note._replace(pitch=fifth))
    notes.sort(key=lambda n: (n.start_beat, n.pitch))
    return dataclasses.replace(phrase, notes=tuple(notes))
