"""Band cohesion: does the bass play the chords of the guitar it plays with?

Band phrases from :func:`~metalosc.training._generate.generate_songs` (guitar sampled, chords
inferred from it, bass decoded on them, the best-fitting of ``BASS_CANDIDATES`` as the daemon plays
it): the share of bass notes starting on a strong beat whose pitch class is a tone of that bar's
chord (:func:`metalosc.runtime.strong_beat_chord_fit` defines it). The same with one candidate
shows what the model does alone. Two baselines give the number meaning: bass decoded on *random*
triads (scored against the guitar's chords), and the played bass notes with random pitches (chance
is 3/12).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import structlog
from metalosc.protocol import Instrument
from metalosc.runtime import (
    BASS_CANDIDATES,
    NO_CHORD,
    PHRASE_BARS,
    STEPS_PER_BAR,
    STRONG_STEPS,
    ChordFit,
    InstrumentModel,
    strong_beat_chord_fit,
)
from metalosc.training._generate import decode_best_bass, generate_songs, part, song_chords
from metalosc.training._midi_io import NoteSequence

log = structlog.get_logger(__name__)

#: The strong-beat chord-tone share the shipped bundles are held to.
TARGET_COHESION = 0.8
#: Random-triad baseline vocabulary: the 24 major and minor triads.
_ROOTS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
RANDOM_TRIADS = tuple(f"{root}{kind}" for root in _ROOTS for kind in ("", "m"))
#: The octave the random-pitch baseline draws its pitch classes in (C2..B2).
_RANDOM_PITCH_BASE = 36
#: What the report says the cohesion number is.
DEFINITION = (
    f"share of bass notes starting on 16th steps {' or '.join(map(str, sorted(STRONG_STEPS)))} "
    f"of a {STEPS_PER_BAR}-step 4/4 bar (beats 1 and 3) whose pitch class is in the bar's chord "
    f"triad; {NO_CHORD} bars excluded"
)


def _fit_json(fit: ChordFit) -> dict[str, Any]:
    """A JSON-ready dict of a fit (a NaN fraction becomes null)."""
    fraction = fit.fraction
    return {**asdict(fit), "fraction": None if math.isnan(fraction) else fraction}


@dataclass(frozen=True)
class Cohesion:
    """Strong-beat bass chord-tone fit of band phrases as the daemon plays them (the best of
    `candidates` bass phrases per guitar phrase), of the model alone (one candidate), and of the
    two baselines."""

    phrases: int
    candidates: int
    band: ChordFit
    single_candidate: ChordFit
    random_chords: ChordFit
    random_pitches: ChordFit
    no_chord_bars: int
    bars: int

    @property
    def meets_target(self) -> bool:
        """Whether the band's fit reaches :data:`TARGET_COHESION`."""
        fraction = self.band.fraction
        return not math.isnan(fraction) and fraction >= TARGET_COHESION

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes null), with the definition and `meets_target`."""
        return {
            "definition": DEFINITION,
            "phrases": self.phrases,
            "bass_candidates": self.candidates,
            "bars": self.bars,
            "no_chord_bars": self.no_chord_bars,
            "band": _fit_json(self.band),
            "single_candidate": _fit_json(self.single_candidate),
            "baseline_random_chords": _fit_json(self.random_chords),
            "baseline_random_pitches": _fit_json(self.random_pitches),
            "meets_target": self.meets_target,
        }


def measure_cohesion(
    models: Mapping[Instrument, InstrumentModel],
    *,
    phrases: int,
    temperature: float,
    seed: int,
    rng: np.random.Generator,
    candidates: int = BASS_CANDIDATES,
) -> Cohesion:
    """Strong-beat chord-tone fit of `phrases` 2-bar band phrases from :func:`generate_songs`
    (the bass the best of `candidates`, as played), of the same with one candidate (what the
    model does alone), against bass decoded on random triads and random pitches on the played
    bass's rhythm."""

    def band_fit(count: int) -> tuple[ChordFit, list[list[str]], list[NoteSequence]]:
        songs = generate_songs(
            models,
            count=phrases,
            bars=PHRASE_BARS,
            temperature=temperature,
            seed=seed,
            bass_candidates=count,
        )
        chords = [song_chords(song) for song in songs]
        basses = [part(song, "bass") for song in songs]
        pairs = zip(basses, chords, strict=True)
        return sum((strong_beat_chord_fit(b, c) for b, c in pairs), ChordFit()), chords, basses

    band, chords, basses = band_fit(candidates)
    single = band_fit(1)[0] if candidates > 1 else band

    bass = models["bass"]
    random_progressions = [
        [str(s) for s in rng.choice(RANDOM_TRIADS, PHRASE_BARS)] for _ in range(phrases)
    ]
    off_chords = decode_best_bass(
        bass, bass.sample_z(phrases, rng)[None], random_progressions, temperature
    )
    random_chords = sum(
        (strong_beat_chord_fit(b, c) for b, c in zip(off_chords, chords, strict=True)), ChordFit()
    )

    random_pitches = ChordFit()
    for b, c in zip(basses, chords, strict=True):
        shuffled = NoteSequence()
        shuffled.CopyFrom(b)
        for note in shuffled.notes:
            note.pitch = _RANDOM_PITCH_BASE + int(rng.integers(0, 12))
        random_pitches += strong_beat_chord_fit(shuffled, c)

    all_bars = [symbol for progression in chords for symbol in progression]
    cohesion = Cohesion(
        phrases=phrases,
        candidates=candidates,
        band=band,
        single_candidate=single,
        random_chords=random_chords,
        random_pitches=random_pitches,
        no_chord_bars=sum(symbol == NO_CHORD for symbol in all_bars),
        bars=len(all_bars),
    )
    log.info(
        "quality.cohesion",
        band=band.fraction,
        single_candidate=single.fraction,
        random_chords=random_chords.fraction,
        random_pitches=random_pitches.fraction,
        notes=band.notes,
    )
    return cohesion
