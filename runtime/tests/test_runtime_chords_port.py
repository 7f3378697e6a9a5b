"""The runtime's note_seq-free chord reading held equal to note_seq's own.

Model workers read chord symbols, encode the bass's chord controls, score chord fit, infer the
guitar's chords and classify drum hits without importing note_seq; these tests run note_seq (it
is installed wherever the tests run) and compare on every symbol of the grammar they generate and
on random phrases.
"""

from __future__ import annotations

import itertools
from typing import Any

import note_seq
import numpy as np
import pytest
from metalosc.runtime import (
    DRUM_CLASS_PITCHES,
    NO_CHORD,
    TRIAD_ENCODING,
    ChordSymbolError,
    _chord_symbols as symbols,
    bar_seconds,
    chord_controls,
    chord_tones,
    infer_chords,
    install_transition_cache,
)
from note_seq import chord_inference, chord_symbols_lib, drums_encoder_decoder
from note_seq.protobuf.music_pb2 import NoteSequence

_ROOTS = ("C", "C#", "Db", "E", "Fb", "B#", "Gbb", "A##", "H")
_MODIFICATIONS = ("", "add9", "(add9)", "no5", "no3", "b5", "#5", "add#11", "addb9", "b9#11")
_MODIFICATIONS += ("add7", "no1", "add3", "#9(no3)")
_BASSES = ("", "/G", "/Bb", "/X")


def _symbols() -> list[str]:
    kinds = [*symbols._KIND_DEGREES, "x", "maj7b5", "m(add9)"]
    return ["".join(p) for p in itertools.product(_ROOTS, kinds, _MODIFICATIONS, _BASSES)]


def _outcome(function: Any, figure: str) -> Any:
    try:
        return function(figure)
    except (chord_symbols_lib.ChordSymbolError, note_seq.ChordEncodingError, ChordSymbolError):
        return "error"


def test_the_kind_table_is_note_seqs() -> None:
    ours = [(list(a), list(d)) for a, d in symbols._KINDS]
    assert ours == [(list(a), list(d)) for a, d in chord_symbols_lib._CHORD_KINDS]


def test_symbols_read_as_note_seq_reads_them() -> None:
    triad = note_seq.TriadChordOneHotEncoding()
    pairs = [
        (chord_symbols_lib.chord_symbol_root, symbols.chord_symbol_root),
        (chord_symbols_lib.chord_symbol_pitches, symbols.chord_symbol_pitches),
        (triad.encode_event, symbols.triad_index),
    ]
    differ = [
        (figure, theirs.__name__)
        for figure in _symbols()
        for theirs, ours in pairs
        if _outcome(theirs, figure) != _outcome(ours, figure)
    ]
    assert differ == []
    assert [symbols.triad_symbol(i) for i in range(49)] == [
        triad.decode_event(i) for i in range(49)
    ]


@pytest.mark.parametrize("chords", [["E5", "C"], ["Am", "N.C."], ["Bdim", "F#aug"], ["C9", "G7"]])
def test_chord_controls_match_the_converters_encoding(chords: list[str]) -> None:
    ours = chord_controls(TRIAD_ENCODING, chords, 32)
    theirs = chord_controls(note_seq.TriadChordOneHotEncoding(), chords, 32)
    np.testing.assert_array_equal(ours, theirs)


def test_chord_controls_refuse_what_the_triad_encoding_cannot_read() -> None:
    with pytest.raises(ValueError, match="unsupported chord symbol 'Csus7'"):
        chord_controls(TRIAD_ENCODING, ["Csus7", "C"], 32)
    with pytest.raises(ValueError, match="unsupported chord symbol"):
        chord_controls(note_seq.TriadChordOneHotEncoding(), ["Csus7", "C"], 32)


def test_chord_tones_are_the_triads_pitch_classes() -> None:
    triad = note_seq.TriadChordOneHotEncoding()
    for figure in ["C", "Am7", "E5", "Bbdim", "F#+", "G9/B"]:
        symbol = triad.decode_event(
            triad.encode_event(
                symbols.triad_symbol(symbols.triad_index(figure if figure != "E5" else "E"))
            )
        )
        expected = frozenset(p % 12 for p in chord_symbols_lib.chord_symbol_pitches(symbol))
        assert chord_tones(figure) == expected
    assert chord_tones(NO_CHORD) is None


def test_the_drum_classes_are_note_seqs() -> None:
    table = drums_encoder_decoder.DEFAULT_DRUM_TYPE_PITCHES
    assert tuple(tuple(c) for c in table) == DRUM_CLASS_PITCHES


def _note_seq_chords(guitar: Any, bass: Any, bars: int) -> list[str]:
    """What the runtime's inference did before it stopped importing note_seq."""
    install_transition_cache()
    merged = NoteSequence()
    qpm = guitar.tempos[0].qpm if guitar.tempos else 120.0
    merged.tempos.add(qpm=qpm)
    merged.time_signatures.add(numerator=4, denominator=4)
    for part in (guitar, bass):
        for note in [] if part is None else part.notes:
            if not note.is_drum:
                merged.notes.add().CopyFrom(note)
    merged.total_time = bars * bar_seconds(qpm)
    chords = [NO_CHORD] * bars
    if not merged.notes:
        return chords
    quantized = note_seq.quantize_note_sequence(merged, 4)
    try:
        chord_inference.infer_chords_for_sequence(quantized, chords_per_bar=1)
    except chord_inference.ChordInferenceError:
        return chords
    for ann in quantized.text_annotations:
        chord = ann.annotation_type == NoteSequence.TextAnnotation.CHORD_SYMBOL
        if chord and 0 <= ann.quantized_step // 16 < bars:
            chords[ann.quantized_step // 16] = ann.text
    return chords


def _random_phrase(rng: np.random.Generator, bars: int) -> Any:
    seq = NoteSequence()
    qpm = float(rng.choice([120.0, 97.0, 180.0, 133.3]))
    seq.tempos.add(qpm=qpm)
    beat = 60.0 / qpm
    for _ in range(int(rng.integers(0, 25))):
        start = float(rng.uniform(0, bars * 4)) * beat
        if rng.random() < 0.5:
            start = round(start / (beat / 4)) * (beat / 4)
        length = float(rng.choice([0.25, 0.5, 1, 2, 4])) * beat
        seq.notes.add(
            pitch=int(rng.integers(28, 80)),
            start_time=start,
            end_time=start + length,
            velocity=80,
            program=int(rng.choice([30, 33, 100])),
            is_drum=bool(rng.random() < 0.1),
        )
    return seq


def test_chord_inference_matches_note_seqs_on_random_phrases() -> None:
    rng = np.random.default_rng(7)
    for _ in range(120):
        bars = int(rng.choice([1, 2, 2, 3, 4]))
        guitar = _random_phrase(rng, bars)
        bass = _random_phrase(rng, bars) if rng.random() < 0.3 else None
        assert infer_chords(guitar, bass, bars) == _note_seq_chords(guitar, bass, bars)


def test_chord_inference_refuses_notes_at_negative_times() -> None:
    seq = NoteSequence()
    seq.notes.add(pitch=40, start_time=-1.0, end_time=0.5, velocity=80)
    with pytest.raises(ValueError, match="negative time"):
        infer_chords(seq)
