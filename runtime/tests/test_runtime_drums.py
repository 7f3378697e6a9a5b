"""The drum kit as the drum models play it: the GM pitch each class decodes to."""

from __future__ import annotations

import numpy as np
import pytest
from metalosc.runtime import (
    DRUM_CLASSES,
    build_converter,
    decoded_drum_pitch,
    drum_class,
    drum_class_pitches,
)


@pytest.mark.filterwarnings("ignore:Couldn't find ffmpeg:RuntimeWarning")  # note_seq's pydub
def test_each_class_decodes_to_its_first_pitch_as_magentas_converter_writes_it() -> None:
    converter = build_converter("cat-drums_2bar_small", {})
    for index, name in enumerate(DRUM_CLASSES):
        # One hit of class `index` on the first of 32 steps; the rest rests (event 0).
        steps = np.zeros((32, converter.output_depth), dtype=bool)
        steps[1:, 0] = True
        steps[0, 1 << index] = True
        [sequence] = converter.from_tensors([steps])
        assert [n.pitch for n in sequence.notes] == [decoded_drum_pitch(name)]


def test_decoded_pitches_are_distinct_members_of_their_classes() -> None:
    pitches = [decoded_drum_pitch(name) for name in DRUM_CLASSES]
    assert pitches == [36, 38, 42, 46, 45, 48, 50, 49, 51]  # GM: kick, snare, hats, toms, cymbals
    for name, pitch in zip(DRUM_CLASSES, pitches, strict=True):
        assert pitch in drum_class_pitches(name)
        assert drum_class(pitch) == name


def test_an_unknown_class_is_named() -> None:
    with pytest.raises(ValueError, match="unknown drum class 'cowbell'"):
        decoded_drum_pitch("cowbell")
