"""The harmony measure (`metalosc.runtime`'s chord fit) on hand-made phrases.

Rules: every NoteSequence is built by hand (`metalosc.runtime.testing`) so every expected number
is countable.
"""

from __future__ import annotations

import math

import pytest
from metalosc.runtime import (
    ChordFit,
    chord_fit,
    chord_tones,
    is_strong_step,
    sixteenth_step,
    strong_beat_chord_fit,
)
from metalosc.runtime.testing import quantized, timed


def test_strong_steps_are_beats_one_and_three_of_every_bar() -> None:
    strong = [step for step in range(32) if is_strong_step(step)]
    assert strong == [0, 8, 16, 24]


def test_sixteenth_step_reads_quantized_steps_at_any_resolution() -> None:
    four = quantized([(40, 8)])
    two = quantized([(40, 4)], steps_per_quarter=2)  # step 4 of eighths = beat 3
    assert sixteenth_step(four.notes[0], four) == 8
    assert sixteenth_step(two.notes[0], two) == 8


def test_sixteenth_step_converts_seconds_with_the_sequence_tempo() -> None:
    fast = timed([(40, 0.5)])  # 120 qpm: a quarter is 0.5 s -> step 4
    slow = timed([(40, 0.5)], qpm=60.0)  # 60 qpm: 0.5 s is an eighth -> step 2
    assert sixteenth_step(fast.notes[0], fast) == 4
    assert sixteenth_step(slow.notes[0], slow) == 2


@pytest.mark.parametrize(
    ("symbol", "tones"),
    [
        ("C", {0, 4, 7}),
        ("Am", {9, 0, 4}),
        ("E5", {4, 8, 11}),  # power chord: the major triad the bass model is conditioned on
        ("C7", {0, 4, 7}),  # seventh chords: their triad
        ("Bdim", {11, 2, 5}),
    ],
)
def test_chord_tones_are_the_conditioning_triad(symbol: str, tones: set[int]) -> None:
    assert chord_tones(symbol) == tones


def test_no_chord_has_no_tones() -> None:
    assert chord_tones("N.C.") is None


def test_bass_on_chord_tones_fits_fully() -> None:
    # bar 1 C (C E G), bar 2 G (G B D): roots and fifths on beats 1 and 3 of both bars
    bass = quantized([(36, 0), (43, 8), (43, 16), (50, 24)])
    fit = strong_beat_chord_fit(bass, ["C", "G"])
    assert fit == ChordFit(hits=4, notes=4, no_chord_notes=0)
    assert fit.fraction == 1.0


def test_bass_off_chord_tones_fits_not_at_all() -> None:
    bass = quantized([(37, 0), (39, 8), (44, 16), (46, 24)])  # C#, D#, G#, A# against C and G
    fit = strong_beat_chord_fit(bass, ["C", "G"])
    assert fit == ChordFit(hits=0, notes=4, no_chord_notes=0)
    assert fit.fraction == 0.0


def test_weak_beats_drums_and_notes_past_the_chords_do_not_count() -> None:
    bass = quantized([(36, 0), (37, 4), (37, 6), (37, 12), (36, 32)])  # step 32 = bar 3
    drum = bass.notes.add(pitch=37, velocity=100, is_drum=True)
    drum.quantized_start_step, drum.quantized_end_step = 8, 9
    assert strong_beat_chord_fit(bass, ["C", "C"]) == ChordFit(hits=1, notes=1)


def test_no_chord_bars_are_left_out() -> None:
    bass = quantized([(37, 0), (37, 8), (36, 16), (40, 24)])  # off-chord notes in the N.C. bar
    fit = strong_beat_chord_fit(bass, ["N.C.", "C"])
    assert fit == ChordFit(hits=2, notes=2, no_chord_notes=2)
    assert fit.fraction == 1.0
    only_no_chord = strong_beat_chord_fit(bass, ["N.C.", "N.C."])
    assert only_no_chord.notes == 0
    assert math.isnan(only_no_chord.fraction)


def test_fits_add_up() -> None:
    assert ChordFit(1, 2, 3) + ChordFit(4, 5, 6) == ChordFit(5, 7, 9)


def test_chord_fit_ranks_more_fitting_notes_higher_and_an_empty_phrase_in_the_middle() -> None:
    three_of_three = quantized([(36, 0), (43, 8), (36, 16)])
    one_of_one = quantized([(36, 0)])
    one_of_three = quantized([(36, 0), (37, 8), (37, 16)])
    empty = quantized([])
    chords = ["C", "C"]
    assert chord_fit(three_of_three, chords) == pytest.approx(3.5 / 4)
    assert chord_fit(one_of_one, chords) == pytest.approx(1.5 / 2)
    assert chord_fit(empty, chords) == 0.5
    assert chord_fit(one_of_three, chords) == pytest.approx(1.5 / 4)
    ranked = sorted(
        [one_of_three, empty, one_of_one, three_of_three], key=lambda p: chord_fit(p, chords)
    )
    assert ranked == [one_of_three, empty, one_of_one, three_of_three]
