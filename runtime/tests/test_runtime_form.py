"""Keys, arrangement and the form measures, on hand-made notes whose answers can be counted."""

from __future__ import annotations

import math

import numpy as np
import pytest
from metalosc.runtime import (
    KEY_FIT,
    Performance,
    Phrase,
    PhraseNote,
    TimedNote,
    diatonic_share,
    estimate_tonic,
    fit_to_key,
    groove_consistency,
    groove_similarity,
    guitar_bass_agreement,
    into_key,
    key_consistency,
    key_pitch_class,
    measure_form,
    power_chords,
    riff_repetition,
    transpose_chord,
    transposed,
)

E, D, C = 4, 2, 0


def _riff(pitches: list[int], offset: float = 0.0, step: float = 0.5) -> list[TimedNote]:
    return [TimedNote(p, offset + k * step, offset + (k + 1) * step) for k, p in enumerate(pitches)]


def _phrase(instrument: str, pitches: list[int], **kwargs: object) -> Phrase:
    notes = tuple(PhraseNote(p, 100, k * 0.5, k * 0.5 + 0.5) for k, p in enumerate(pitches))
    return Phrase(instrument, np.zeros(4), notes, 0.5, **kwargs)  # type: ignore[arg-type]


A = [40, 43, 45, 47, 40, 43, 45, 47]
B = [52, 50, 48, 47, 45, 43, 42, 40]


def test_riff_repetition_counts_windows_that_repeat_one_of_the_four_before() -> None:
    # windows of 2 bars (8 beats): A, A, B, A -> the 2nd and 4th repeat
    notes = [*_riff(A, 0), *_riff(A, 8), *_riff(B, 16), *_riff(A, 24)]
    assert riff_repetition(notes, bars=8) == pytest.approx(2 / 4)
    # a window whose riff was last played 5 windows before does not count as a repeat
    far = [
        *_riff(A, 0),
        *(n for k in range(1, 5) for n in _riff([60 + k] * 8, 8 * k)),
        *_riff(A, 40),
    ]
    assert riff_repetition(far, bars=12) == 0.0
    assert math.isnan(riff_repetition([], bars=8))


def test_groove_consistency_is_the_mean_jaccard_of_consecutive_drum_windows() -> None:
    groove = [TimedNote(36, 0, 0.25), TimedNote(38, 1, 1.25), TimedNote(42, 0.5, 0.75)]
    shifted = [TimedNote(n.pitch, n.start + 8, n.end + 8) for n in groove]
    fill = [TimedNote(45, 16, 16.25), TimedNote(36, 16, 16.25)]  # a tom and the kick
    # 0->1 identical (1.0), 1->2 share only the kick on step 0 of 4 classes-and-steps (1/4)
    assert groove_consistency([*groove, *shifted, *fill], bars=6) == pytest.approx((1 + 1 / 4) / 2)
    # hi-hats are one class however they are played: open (46) and closed (42) match
    a, b = _phrase("drums", [42, 36]), _phrase("drums", [46, 36])
    assert groove_similarity(a, b) == 1.0


def test_key_consistency_takes_the_best_diatonic_scale_of_every_eight_bars() -> None:
    in_c = _riff([60, 62, 64, 65, 67, 69, 71, 72])
    assert key_consistency(in_c, bars=8) == 1.0
    # one C# among seven C-major notes of equal length, in the second block only (no diatonic
    # scale holds C, C#, D, E, G, A and B: the best is C major, 7 of 8)
    second = _riff([60, 62, 64, 61, 67, 69, 71, 72], offset=32)
    assert key_consistency([*in_c, *second], bars=16) == pytest.approx((1 + 7 / 8) / 2)


def test_guitar_bass_agreement_counts_bass_notes_on_beats_one_and_three() -> None:
    guitar = [TimedNote(40, 0, 1), TimedNote(43, 2, 3)]  # E on beat 1, G on beat 3
    bass = [TimedNote(28, 0, 1), TimedNote(33, 2, 3), TimedNote(31, 1, 2)]  # E, A, G (beat 2)
    assert guitar_bass_agreement(guitar, bass) == 0.5  # E agrees, A does not, beat 2 ignored


def test_measure_form_counts_notes_and_sounding_bars() -> None:
    guitar = _riff([40] * 8, 0, step=1.0)  # bars 1-2, one note a beat
    measures = measure_form(Performance(tuple(guitar), (), (), bars=4))
    assert measures.guitar_notes_per_bar == 2.0
    assert measures.guitar_bars_sounding == 0.5


def test_keys_are_named_by_their_tonic() -> None:
    assert key_pitch_class("E") == E
    assert key_pitch_class("Em") == E
    assert key_pitch_class("f#") == 6
    assert key_pitch_class("Bb minor") == 10
    with pytest.raises(ValueError, match="not a key"):
        key_pitch_class("H")


def test_a_riff_is_moved_into_a_key_by_the_best_fitting_shift() -> None:
    d_minor = [(p, 1.0) for p in (38, 41, 43, 45, 48)]  # D F G A C: D minor pentatonic
    assert estimate_tonic(d_minor) == D
    fit = fit_to_key(d_minor, E)
    assert (fit.shift, fit.fit) == (2, 1.0)
    assert diatonic_share([(p + 2, w) for p, w in d_minor], E) == 1.0


def test_moving_a_guitar_phrase_moves_its_chords_and_bass_and_records_the_fit() -> None:
    bass = _phrase("bass", [26, 26], chords=("Dm", "F"))
    guitar = _phrase("guitar", [38, 41, 43, 45], chords=("Dm", "F"), accompaniment=(bass,))
    moved = into_key(guitar, E)
    assert [n.pitch for n in moved.notes] == [40, 43, 45, 47]
    assert moved.chords == ("Em", "G")
    assert moved.key == E
    assert moved.features[KEY_FIT] == 1.0
    assert [n.pitch for n in moved.accompaniment[0].notes] == [28, 28]
    drums = _phrase("drums", [36, 38])
    assert transposed(drums, 3) is drums  # drum notes are instruments, not pitches


def test_chord_symbols_move_by_their_root() -> None:
    assert transpose_chord("E5", 2) == "F#5"
    assert transpose_chord("Am", -2) == "Gm"
    assert transpose_chord("Bb7", 2) == "C7"
    assert transpose_chord("N.C.", 5) == "N.C."


def test_power_chords_add_the_key_s_fifth_below_middle_c() -> None:
    riff = Phrase(
        "guitar",
        np.zeros(4),
        (PhraseNote(40, 100, 0, 1), PhraseNote(42, 100, 1, 2), PhraseNote(64, 100, 2, 3)),
        0.5,
        key=E,
    )
    voiced = power_chords(riff)
    pitches = sorted((n.start_beat, n.pitch) for n in voiced.notes)
    # E2 gets B2 (a perfect fifth); F#2's perfect fifth (C#) is not in E minor: C3; E4 stays a lead
    assert pitches == [(0, 40), (0, 47), (1, 42), (1, 48), (2, 64)]
