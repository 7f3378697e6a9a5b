"""Chord symbols: reading them, encoding them for the bass model, inferring them from a phrase.

* :func:`normalize_chord` — metal's power chords ("E5") and sus chords have no third; the triad
  encoding reads them as the major triad on their root, as tab books do.
* :func:`chord_controls` — the one-hot control tensor a chord-conditioned MusicVAE
  (``cat-mel_2bar_med_chords``) is fed: one chord per 16-step bar.
* :func:`infer_chords` — one chord per bar of a phrase by note_seq's Viterbi chord inference.
* :func:`chord_tones` — the pitch classes the triad encoding reads a symbol as.

note_seq's ``infer_chords_for_sequence`` rebuilds a 1164x1164 key-chord transition matrix in
pure-Python loops on every call (1-2 s on two cores), although the matrix depends only on three
constants. Chords are inferred once per guitar phrase (daemon, generate, quality) and per song
window (convert), so :func:`install_transition_cache` memoizes it: note_seq offers no hook, so
its module-level function is wrapped once and returns the very matrix the original computes
(made read-only), so the inferred chords are identical.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np
import structlog
from numpy.typing import NDArray

from ._meter import DEFAULT_QPM, STEPS_PER_BAR, STEPS_PER_QUARTER, bar_seconds

__all__ = [
    "NO_CHORD",
    "chord_controls",
    "chord_tones",
    "infer_chords",
    "install_transition_cache",
    "normalize_chord",
]

log = structlog.get_logger(__name__)

NO_CHORD = "N.C."
"""note_seq's symbol for "no chord", which the chord-conditioned models are trained to accept."""

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
    """[length, num_classes] one-hot chord controls, one chord per bar of 16 steps, encoded
    with the converter's own chord encoding (the one used in training)."""
    import note_seq

    bars = -(-length // STEPS_PER_BAR)
    if len(chords) != bars:
        raise ValueError(f"need one chord per bar ({bars}), got {len(chords)}: {list(chords)}")
    controls = np.zeros([length, encoding.num_classes], np.float32)
    for bar, symbol in enumerate(chords):
        try:
            index = encoding.encode_event(normalize_chord(symbol))
        except (note_seq.ChordSymbolError, note_seq.ChordEncodingError) as e:
            raise ValueError(f"unsupported chord symbol {symbol!r}: {e}") from None
        controls[bar * STEPS_PER_BAR : (bar + 1) * STEPS_PER_BAR, index] = 1.0
    return controls


def chord_tones(symbol: str) -> frozenset[int] | None:
    """Pitch classes of the triad a chord-conditioned model reads ``symbol`` as; ``None`` for
    "N.C." (or a symbol the triad encoding maps to no chord)."""
    from note_seq import chord_symbols_lib, chords_encoder_decoder

    if symbol == NO_CHORD:
        return None
    encoding = chords_encoder_decoder.TriadChordOneHotEncoding()
    triad = encoding.decode_event(encoding.encode_event(normalize_chord(symbol)))
    if triad == NO_CHORD:
        return None
    return frozenset(p % 12 for p in chord_symbols_lib.chord_symbol_pitches(triad))


def infer_chords(guitar: Any, bass: Any | None = None, bars: int = 2) -> list[str]:
    """One chord symbol per bar for the first `bars` bars of a phrase, by note_seq's Viterbi
    chord inference over the guitar (and bass, if given) sounding together. Bars it cannot
    name are "N.C." (no chord), which the bass model is trained to accept."""
    import note_seq
    from note_seq import chord_inference
    from note_seq.protobuf.music_pb2 import NoteSequence

    install_transition_cache()
    merged = NoteSequence()
    qpm = guitar.tempos[0].qpm if guitar.tempos else DEFAULT_QPM
    merged.tempos.add(qpm=qpm)
    merged.time_signatures.add(numerator=4, denominator=4)
    for part in (guitar, bass):
        if part is None:
            continue
        for note in part.notes:
            if not note.is_drum:
                merged.notes.add().CopyFrom(note)
    merged.total_time = bars * bar_seconds(qpm)
    chords = [NO_CHORD] * bars
    if not merged.notes:
        return chords
    try:
        quantized = note_seq.quantize_note_sequence(merged, STEPS_PER_QUARTER)
        chord_inference.infer_chords_for_sequence(quantized, chords_per_bar=1)
    except (chord_inference.ChordInferenceError, note_seq.QuantizationStatusError) as e:
        log.debug("chords.inference_failed", error=str(e))
        return chords
    for ann in quantized.text_annotations:
        if ann.annotation_type == NoteSequence.TextAnnotation.CHORD_SYMBOL:
            bar = ann.quantized_step // STEPS_PER_BAR
            if 0 <= bar < bars:
                chords[bar] = ann.text
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
