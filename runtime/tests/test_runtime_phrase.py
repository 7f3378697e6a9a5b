"""A phrase survives pickling (how a model worker hands it to the daemon) exactly as it was."""

from __future__ import annotations

import pickle
import struct

import numpy as np
import pytest
from hypothesis import given, strategies as st
from metalosc.runtime import Phrase, PhraseNote

notes = st.lists(
    st.builds(
        PhraseNote,
        st.integers(0, 127),
        st.integers(1, 127),
        st.floats(0.0, 8.0, allow_nan=False),
        st.floats(0.0, 8.0, allow_nan=False),
    ),
    max_size=60,
).map(tuple)


def _phrase(
    notes: tuple[PhraseNote, ...], key: int | None, accompaniment: tuple[Phrase, ...] = ()
) -> Phrase:
    return Phrase(
        instrument="guitar" if accompaniment else "bass",
        z=np.linspace(-1.0, 1.0, 8),
        notes=notes,
        intensity=0.25,
        features={"density": 0.5, "chord_fit": 1.0},
        chords=("Em", "G"),
        accompaniment=accompaniment,
        id=42,
        key=key,
    )


def _assert_same(back: Phrase, phrase: Phrase) -> None:
    assert back.notes == phrase.notes
    assert all(type(note) is PhraseNote for note in back.notes)
    np.testing.assert_array_equal(back.z, phrase.z)
    assert back.z.dtype == phrase.z.dtype
    assert (back.instrument, back.intensity, back.features) == (
        phrase.instrument,
        phrase.intensity,
        phrase.features,
    )
    assert (back.chords, back.id, back.key) == (phrase.chords, phrase.id, phrase.key)
    assert len(back.accompaniment) == len(phrase.accompaniment)
    for b, p in zip(back.accompaniment, phrase.accompaniment, strict=True):
        _assert_same(b, p)


@given(notes, notes, st.none() | st.integers(0, 11))
def test_a_pickled_phrase_comes_back_identical(
    guitar_notes: tuple[PhraseNote, ...], bass_notes: tuple[PhraseNote, ...], key: int | None
) -> None:
    bass = _phrase(bass_notes, key)
    guitar = _phrase(guitar_notes, key, (bass, bass))
    back = pickle.loads(pickle.dumps(guitar, protocol=pickle.HIGHEST_PROTOCOL))
    _assert_same(back, guitar)


def test_a_note_the_wire_cannot_hold_is_refused_not_wrapped() -> None:
    phrase = _phrase((PhraseNote(256, 100, 0.0, 1.0),), None)
    with pytest.raises(struct.error, match="ubyte format"):
        pickle.dumps(phrase)
