"""Chord symbols: reading them, encoding them for the bass model, inferring them from a phrase.

* :func:`normalize_chord` — metal's power chords ("E5") and sus chords have no third; the triad
  encoding reads them as the major triad on their root, as tab books do.
* :func:`chord_controls` — the one-hot control tensor a chord-conditioned MusicVAE
  (``cat-mel_2bar_med_chords``) is fed: one chord per 16-step bar.
* :func:`infer_chords` — one chord per bar of a phrase by note_seq's Viterbi chord inference.
* :func:`chord_tones` — the pitch classes the triad encoding reads a symbol as.

The daemon's model workers run all three and must not import note_seq (its package import costs
seconds and ~130 MB a process), so symbols are read by :mod:`._chord_symbols` and the inference
is note_seq's ``infer_chords_for_sequence`` restated on numpy (the same key-chord HMM, the same
parameters, the same floating-point operations in the same order, so the same chords: held equal
to note_seq's in ``runtime/tests/test_runtime_chords.py``). note_seq rebuilds its 1164x1164
transition matrix in pure-Python loops on every call (1-2 s on two cores); here it is computed
once, vectorized, in milliseconds.

Training's ``convert`` still runs note_seq's own inference over whole song windows;
:func:`install_transition_cache` memoizes note_seq's matrix for it: note_seq offers no hook, so
its module-level function is wrapped once and returns the very matrix the original computes
(made read-only), so the inferred chords are identical.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import structlog
from numpy.typing import NDArray

from ._chord_symbols import (
    TRIAD_CLASSES,
    ChordSymbolError,
    chord_symbol_pitches,
    triad_index,
    triad_symbol,
)
from ._meter import BEATS_PER_BAR, DEFAULT_QPM, STEPS_PER_BAR, STEPS_PER_QUARTER, bar_seconds

__all__ = [
    "NO_CHORD",
    "TRIAD_ENCODING",
    "chord_controls",
    "chord_tones",
    "infer_chords",
    "install_transition_cache",
    "normalize_chord",
]

log = structlog.get_logger(__name__)

NO_CHORD = "N.C."
"""note_seq's symbol for "no chord", which the chord-conditioned models are trained to accept."""
TRIAD_ENCODING = "triad"
"""The chord encoding of the chord-conditioned models (note_seq's ``TriadChordOneHotEncoding``)."""

_ROOT_ONLY = re.compile(r"^([A-G][#b]?)(?:5|sus2|sus4)$")


def normalize_chord(symbol: str) -> str:
    """A chord symbol the triad encoding accepts. Power chords ("E5"), the staple of metal, have
    no third; they (and sus chords) are read as the major triad on their root, as tab books
    do."""
    symbol = symbol.strip()
    match = _ROOT_ONLY.match(symbol)
    if match:
        return match.group(1)
    return symbol


def chord_controls(encoding: Any, chords: Sequence[str], length: int) -> NDArray[Any]:
    """``[length, classes]`` float32 one-hot chord controls, one chord per bar of 16 steps.

    ``encoding`` is :data:`TRIAD_ENCODING` (``"triad"``, read without note_seq: 49 classes) or
    a note_seq chord encoding object (a Magenta converter's own ``_chord_encoding``). Raises
    ``ValueError`` for a chord count other than one per bar or a symbol the encoding cannot
    encode."""
    bars = -(-length // STEPS_PER_BAR)
    if len(chords) != bars:
        raise ValueError(f"need one chord per bar ({bars}), got {len(chords)}: {list(chords)}")
    if encoding == TRIAD_ENCODING:
        classes, encode = TRIAD_CLASSES, triad_index
    elif isinstance(encoding, str):
        raise ValueError(f"unsupported chord encoding {encoding!r} (supported: 'triad')")
    else:
        classes, encode = int(encoding.num_classes), encoding.encode_event
    controls = np.zeros([length, classes], np.float32)
    for bar, symbol in enumerate(chords):
        try:
            index = encode(normalize_chord(symbol))
        except Exception as e:  # note_seq's ChordSymbolError / ChordEncodingError, or ours
            if not isinstance(e, ChordSymbolError) and type(e).__name__ not in _ENCODING_ERRORS:
                raise
            raise ValueError(f"unsupported chord symbol {symbol!r}: {e}") from None
        controls[bar * STEPS_PER_BAR : (bar + 1) * STEPS_PER_BAR, index] = 1.0
    return controls


_ENCODING_ERRORS = frozenset({"ChordSymbolError", "ChordEncodingError"})


def chord_tones(symbol: str) -> frozenset[int] | None:
    """Pitch classes of the triad a chord-conditioned model reads ``symbol`` as; ``None`` for
    "N.C." (or a symbol the triad encoding maps to no chord). Raises ``ValueError`` for a symbol
    the triad encoding cannot read."""
    if symbol == NO_CHORD:
        return None
    triad = triad_symbol(triad_index(normalize_chord(symbol)))
    if triad == NO_CHORD:
        return None
    return frozenset(p % 12 for p in chord_symbol_pitches(triad))


# -- chord inference: note_seq's key-chord HMM (``chord_inference``), restated on numpy ----------

_PITCH_CLASS_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_KEY_PITCHES = (0, 2, 4, 5, 7, 9, 11)
_CHORD_KIND_PITCHES = {
    "": (0, 4, 7),
    "m": (0, 3, 7),
    "+": (0, 4, 8),
    "dim": (0, 3, 6),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "m7": (0, 3, 7, 10),
    "m7b5": (0, 3, 6, 10),
}
#: "No chord", then every (root, kind): note_seq's ``_CHORDS`` in its order.
_CHORDS: tuple[tuple[int, str] | None, ...] = (
    None,
    *tuple((root, kind) for root in range(12) for kind in _CHORD_KIND_PITCHES),
)
#: note_seq's inference parameters (``infer_chords_for_sequence``'s defaults).
_KEY_CHANGE_PROB = 0.001
_CHORD_CHANGE_PROB = 0.5
_CHORD_PITCH_OUT_OF_KEY_PROB = 0.01
_CHORD_NOTE_CONCENTRATION = 100.0
_MAX_NUM_CHORDS = 1000
#: GM programs note_seq leaves out of the pitch profile (unpitched: percussive, sound effects).
_UNPITCHED_PROGRAMS = frozenset([*range(96, 104), *range(112, 128)])


def _chord_figure(index: int) -> str:
    chord = _CHORDS[index]
    if chord is None:
        return NO_CHORD
    root, kind = chord
    return _PITCH_CLASS_NAMES[root] + kind


@functools.cache
def _hmm() -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """(key-chord log-likelihood [12, 97], transition log-likelihood [1164, 1164] indexed
    [to, from], unit chord pitch vectors [97, 12]), computed as note_seq computes them."""
    num_chords = len(_CHORDS)
    in_key = np.zeros([12, num_chords], dtype=np.int32)
    out_of_key = np.zeros([12, num_chords], dtype=np.int32)
    for key in range(12):
        key_pitches = {(key + offset) % 12 for offset in _KEY_PITCHES}
        for i, chord in enumerate(_CHORDS[1:]):
            assert chord is not None
            root, kind = chord
            pitches = {(root + offset) % 12 for offset in _CHORD_KIND_PITCHES[kind]}
            in_key[key, i + 1] = len(pitches & key_pitches)
            out_of_key[key, i + 1] = len(pitches - key_pitches)
    p = _CHORD_PITCH_OUT_OF_KEY_PROB
    key_chord = (1 - p) ** in_key * p**out_of_key
    key_chord /= key_chord.sum(axis=1)[:, np.newaxis]

    # Row i / column j is the pair (key i // 97, chord i % 97), as note_seq enumerates them.
    keys = np.repeat(np.arange(12), num_chords)
    chords = np.tile(np.arange(num_chords), 12)
    key_1, key_2 = keys[:, None], keys[None, :]
    chord_1, chord_2 = chords[:, None], chords[None, :]
    to_chord = key_chord[key_2, chord_2]
    key_change = (_KEY_CHANGE_PROB / 11) * to_chord
    chord_change = (1 - _KEY_CHANGE_PROB) * (
        _CHORD_CHANGE_PROB * (to_chord + key_chord[key_2, chord_1] / (num_chords - 1))
    )
    same_chord = np.full_like(to_chord, (1 - _KEY_CHANGE_PROB) * (1 - _CHORD_CHANGE_PROB))
    transition = np.where(
        key_1 != key_2, key_change, np.where(chord_1 != chord_2, chord_change, same_chord)
    )

    vectors = np.zeros([num_chords, 12])
    for i, chord in enumerate(_CHORDS[1:]):
        assert chord is not None
        root, kind = chord
        for offset in _CHORD_KIND_PITCHES[kind]:
            vectors[i + 1, (root + offset) % 12] = 1
    vectors[1:, :] /= np.linalg.norm(vectors[1:, :], axis=1)[:, np.newaxis]
    # The log transitions are kept transposed, [to, from] and contiguous (see _viterbi): one
    # 10.8 MB matrix per process that infers chords, nothing else kept.
    by_target = np.ascontiguousarray(np.log(transition).T)
    logs = (np.log(key_chord), by_target, vectors)
    for array in logs:
        array.flags.writeable = False
    return logs


def _pitch_vectors(notes: Sequence[Any], seconds_per_frame: float, total_time: float) -> Any:
    """[frames, 12] unit pitch-class profiles: each frame's pitched notes weighted by how long
    they sound in it (note_seq's ``sequence_note_pitch_vectors``)."""
    num_frames = math.ceil(total_time / seconds_per_frame)
    boundaries = seconds_per_frame * np.arange(1, num_frames)
    x = np.zeros([num_frames, 12])
    for note in notes:
        if note.is_drum or note.program in _UNPITCHED_PROGRAMS:
            continue
        start_frame = bisect.bisect_right(boundaries, note.start_time)
        end_frame = bisect.bisect_left(boundaries, note.end_time)
        pitch_class = note.pitch % 12
        if start_frame >= end_frame:
            x[start_frame, pitch_class] += note.end_time - note.start_time
        else:
            x[start_frame, pitch_class] += boundaries[start_frame] - note.start_time
            for frame in range(start_frame + 1, end_frame):
                x[frame, pitch_class] += boundaries[frame] - boundaries[frame - 1]
            x[end_frame, pitch_class] += note.end_time - boundaries[end_frame - 1]
    norms = np.linalg.norm(x, axis=1)
    nonzero = norms > 0
    x[nonzero, :] /= norms[nonzero, np.newaxis]
    return x


def _viterbi(frame_loglik: NDArray[np.float64]) -> list[int]:
    """The most likely chord index per frame under the key-chord HMM (note_seq's
    ``_key_chord_viterbi``, keys uniform at the start)."""
    key_chord_loglik, transition, _ = _hmm()
    num_frames, num_chords = frame_loglik.shape
    num_key_chords = len(transition)
    loglik = np.zeros([num_frames, num_key_chords])
    path = np.zeros([num_frames, num_key_chords], dtype=np.int32)
    keys = np.repeat(np.arange(12), num_chords)
    chords = np.tile(np.arange(num_chords), 12)
    loglik[0] = -np.log(12) + key_chord_loglik[keys, chords] + frame_loglik[0, chords]
    rows = np.arange(num_key_chords)
    for frame in range(1, num_frames):
        # Rows are the target pair: each step reduces along rows, the fast direction. The sums
        # and the first-maximum choice are note_seq's column-wise ones (addition commutes, ties
        # break on the lowest index).
        mat = transition + loglik[frame - 1]
        path[frame, :] = mat.argmax(axis=1)
        loglik[frame, :] = mat[rows, path[frame, :]] + np.tile(frame_loglik[frame], 12)
    best = [int(np.argmax(loglik[-1]))]
    for frame in range(num_frames, 1, -1):
        best.append(int(path[frame - 1, best[-1]]))
    return [index % num_chords for index in best[::-1]]


def infer_chords(guitar: Any, bass: Any | None = None, bars: int = 2) -> list[str]:
    """One chord symbol per bar for the first `bars` bars of a phrase, by note_seq's Viterbi
    chord inference over the guitar (and bass, if given) sounding together, at the guitar's
    first tempo (120 qpm if none). Works on NoteSequences and on anything shaped like them
    (:class:`~metalosc.runtime.StepSequence`); needs no note_seq.

    A bar is "N.C." (no chord, which the bass model is trained to accept) when nothing sounds,
    when note_seq would find none, or when its chord is the previous bar's: the chords are read
    off note_seq's annotations, which mark chord *changes* only. Raises ``ValueError`` for a
    note at a negative time (note_seq's ``NegativeTimeError``)."""
    qpm = float(guitar.tempos[0].qpm) if len(guitar.tempos) else DEFAULT_QPM
    notes = [n for part in (guitar, bass) if part is not None for n in part.notes if not n.is_drum]
    chords = [NO_CHORD] * bars
    if not notes:
        return chords
    steps_per_second = STEPS_PER_QUARTER * qpm / 60.0
    for note in notes:
        start = int(note.start_time * steps_per_second + 0.5)
        end = int(note.end_time * steps_per_second + 0.5)
        if start < 0 or (end if end != start else end + 1) < 0:
            raise ValueError(f"note at a negative time: {note.start_time}-{note.end_time} s")
    seconds_per_chord = (BEATS_PER_BAR * STEPS_PER_QUARTER) / steps_per_second
    total_time = bars * bar_seconds(qpm)
    num_frames = math.ceil(total_time / seconds_per_chord)
    if num_frames == 0 or num_frames > _MAX_NUM_CHORDS:
        log.debug("chords.inference_failed", frames=num_frames)
        return chords
    _, _, chord_vectors = _hmm()
    frames = _pitch_vectors(notes, seconds_per_chord, total_time)
    frame_loglik = _CHORD_NOTE_CONCENTRATION * np.dot(frames, chord_vectors.T)
    previous = None
    for frame, index in enumerate(_viterbi(frame_loglik)):
        figure = _chord_figure(index)
        if figure != previous and frame < bars:
            chords[frame] = figure
        previous = figure
    return chords


_lock = threading.Lock()
_original: Any = None  # note_seq's own function, once the memo is installed


def install_transition_cache() -> None:
    """Memoize note_seq's transition matrix (idempotent, thread-safe)."""
    global _original
    with _lock:
        if _original is not None:
            return
        from note_seq import chord_inference

        original = chord_inference._key_chord_transition_distribution
        cache: dict[tuple[Any, ...], NDArray[Any]] = {}

        def cached(
            key_chord_distribution: NDArray[Any], key_change_prob: float, chord_change_prob: float
        ) -> NDArray[Any]:
            dist = np.asarray(key_chord_distribution)
            key = (dist.shape, dist.tobytes(), key_change_prob, chord_change_prob)
            with _lock:
                matrix = cache.get(key)
            if matrix is None:
                matrix = original(
                    dist, key_change_prob=key_change_prob, chord_change_prob=chord_change_prob
                )
                matrix.flags.writeable = False
                with _lock:
                    cache[key] = matrix
            return matrix

        chord_inference._key_chord_transition_distribution = cached
        _original = original
