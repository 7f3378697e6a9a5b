"""Keys and diatonic scales: naming a tonal centre, measuring how well notes fit a scale, and
finding the transposition that puts a phrase into a key.

A *key* here is a tonal centre (a pitch class, named like ``"E"`` or ``"F#"``) with the natural
minor scale on it — Metal's home (E minor: E F# G A B C D, the same seven pitch classes as G
major). How well notes fit a scale is the share of them, weighted by duration, whose pitch class
is in it; over the corpus the models learnt from, 97% of the guitar and bass notes of 8 bars fit
one diatonic scale.

The transposition of a phrase into a key (:func:`fit_to_key`) is chosen the way a session player
would move a riff: among the 12 shifts (kept within a tritone, so the riff stays in its register),
the one whose notes fit the key's scale best; among equally good ones, the one that lands the
phrase's own tonic (:func:`estimate_tonic`) on the key's tonic, then the smallest move.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from metalosc.protocol import KEY_NAMES, KEY_PITCH_CLASSES

__all__ = [
    "KEY_SHIFTS",
    "NATURAL_MINOR",
    "KeyFit",
    "diatonic_share",
    "estimate_tonic",
    "fit_to_key",
    "key_pitch_class",
    "scale_pitch_classes",
]

NATURAL_MINOR: tuple[int, ...] = (0, 2, 3, 5, 7, 8, 10)
"""Semitones above the tonic of the natural minor (Aeolian) scale."""

KEY_SHIFTS = range(-5, 7)
"""Every transposition into a key, in semitones: the 12 pitch classes reached within a tritone
(down a fourth to up a tritone), so a moved phrase stays in its register."""

WeightedPitch = tuple[int, float]
"""A MIDI pitch and its weight (a note's duration in beats)."""


def key_pitch_class(name: str) -> int:
    """The pitch class (0 = C) of a key name such as ``"E"``, ``"f#"``, ``"Bb"`` or ``"Em"``
    (every key is minor, so a trailing ``m``/``min``/``minor`` is accepted).

    Raises ``ValueError`` for anything else."""
    text = name.strip()
    for suffix in ("minor", "min", "m"):
        if text.lower().endswith(suffix) and len(text) > len(suffix):
            text = text[: -len(suffix)].strip()
            break
    spelled = text[:1].upper() + text[1:].replace("♯", "#").replace("♭", "b")
    for key, pc in KEY_PITCH_CLASSES.items():
        if key == spelled:
            return pc
    raise ValueError(f"not a key: {name!r} (expected one of {', '.join(KEY_NAMES)})")


def scale_pitch_classes(tonic: int) -> frozenset[int]:
    """The natural minor scale on ``tonic`` (a pitch class) as a set of pitch classes."""
    return frozenset((tonic + step) % 12 for step in NATURAL_MINOR)


def _histogram(notes: Iterable[WeightedPitch]) -> list[float]:
    counts = [0.0] * 12
    for pitch, weight in notes:
        counts[pitch % 12] += weight
    return counts


def diatonic_share(notes: Iterable[WeightedPitch], tonic: int) -> float:
    """Weighted share of ``notes`` inside the natural minor scale on ``tonic``; NaN without notes.

    Any diatonic scale is the natural minor of some tonic, so the best share over the 12 tonics
    is how well the notes fit *one* diatonic scale."""
    counts = _histogram(notes)
    total = sum(counts)
    if total <= 0:
        return float("nan")
    scale = scale_pitch_classes(tonic)
    return sum(counts[pc] for pc in scale) / total


# Krumhansl & Kessler's minor-key profile (Krumhansl, "Cognitive Foundations of Musical Pitch",
# 1990): how well each scale degree fits a minor key, the basis of the Krumhansl-Schmuckler
# key-finding algorithm.
_MINOR_PROFILE = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)


def estimate_tonic(notes: Sequence[WeightedPitch]) -> int | None:
    """The phrase's own tonic: the minor key whose Krumhansl-Kessler profile correlates best with
    the duration-weighted pitch-class histogram (Krumhansl-Schmuckler), ties to the lowest note's
    pitch class. ``None`` without notes."""
    counts = _histogram(notes)
    if sum(counts) <= 0:
        return None
    mean_c = sum(counts) / 12
    mean_p = sum(_MINOR_PROFILE) / 12
    best: tuple[float, int] | None = None
    lowest = min(p for p, _ in notes) % 12
    for tonic in range(12):
        profile = [_MINOR_PROFILE[(pc - tonic) % 12] - mean_p for pc in range(12)]
        score = sum((c - mean_c) * p for c, p in zip(counts, profile, strict=True))
        key = (score + (1e-9 if tonic == lowest else 0.0), tonic)
        if best is None or key[0] > best[0]:
            best = key
    assert best is not None
    return best[1]


@dataclass(frozen=True)
class KeyFit:
    """How a phrase is moved into a key: ``shift`` semitones (one of :data:`KEY_SHIFTS`) and the
    share of its notes then in the key's scale (``fit``, 0..1; NaN for a phrase without notes)."""

    shift: int
    fit: float


def fit_to_key(notes: Sequence[WeightedPitch], tonic: int) -> KeyFit:
    """The transposition (-5..+6 semitones) that best puts ``notes`` into the natural minor key
    on ``tonic``: the best scale fit first, then the phrase's own tonic landing on ``tonic``,
    then the smallest move (module docstring)."""
    if not notes:
        return KeyFit(0, float("nan"))
    own = estimate_tonic(notes)
    best: tuple[float, int, int, int] | None = None
    for shift in KEY_SHIFTS:
        moved = [(p + shift, w) for p, w in notes]
        fit = diatonic_share(moved, tonic)
        on_tonic = 1 if own is not None and (own + shift) % 12 == tonic else 0
        key = (round(fit, 9), on_tonic, -abs(shift), shift)
        if best is None or key > best:
            best = key
    assert best is not None
    return KeyFit(best[3], best[0])
