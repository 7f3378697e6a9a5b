"""The runtime's harmony on training's own music: chord inference on a generated song, and the
bass pick that uses the chord fit in `generate_songs`.

Rules: the bass model in the pick test is a stand-in that decodes a known, hand-made phrase per
latent, so every expected pitch is countable.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from metalosc.runtime import infer_chords
from metalosc.training._generate import decode_best_bass
from metalosc.training._midi_io import NoteSequence
from metalosc.training._synthetic import instrument_part, synthetic_song

from .fixtures_midi import quantized


def test_infer_chords_one_symbol_per_bar() -> None:
    song = synthetic_song(np.random.default_rng(3), bars=2, intensity=0.5)
    chords = infer_chords(instrument_part(song, "guitar"), instrument_part(song, "bass"))
    assert len(chords) == 2
    assert all(isinstance(c, str) and c for c in chords)
    silent = instrument_part(song, "drums")
    assert infer_chords(silent, bars=4) == ["N.C."] * 4


class StandInBass:
    """Decodes latent row [k, ...] to a fixed phrase: k = 0 off the chord, 1 on the root."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, list[str]]] = []

    def decode(
        self, z: np.ndarray, temperature: float = 1.0, chords: Sequence[str] | None = None
    ) -> list[NoteSequence]:
        self.calls.append((len(z), list(chords or [])))
        root = {"C": 36, "G": 43}[(chords or ["C"])[0]]
        return [quantized([(root + (0 if row[0] > 0.5 else 1), 0)]) for row in z]


def test_the_best_fitting_of_the_candidates_is_kept_per_phrase() -> None:
    bass = StandInBass()
    # 3 candidates x 3 phrases; only candidate 1 of phrase 0 and candidate 2 of phrase 2 fit
    candidates = np.zeros((3, 3, 2))
    candidates[1, 0, 0] = 1.0
    candidates[2, 2, 0] = 1.0
    progressions = [["C", "C"], ["G", "G"], ["C", "C"]]
    chosen = decode_best_bass(bass, candidates, progressions, 1.0)
    assert [n.pitch for p in chosen for n in p.notes] == [36, 44, 36]
    # one batch per progression holding every candidate of its phrases
    assert sorted(bass.calls) == [(3, ["G", "G"]), (6, ["C", "C"])]
