"""Musical features of a phrase and the one "intensity" number built from them.

Used in three places that must agree: export (the bundle's tension attribute vector = mean z of
the most intense quarter of training examples minus the least intense quarter), the server's
phrase buffer (ranking decoded phrases by tension), and tension calibration. So the functions
are pure and deterministic, take a plain NoteSequence, and accept both quantized sequences
(``quantized_start_step``) and the unquantized ones MusicVAE decodes (seconds at 120 qpm).

Features (per 4/4 bar, so phrases of any length compare):

* ``note_density``: notes (drum hits) per bar.
* ``mean_velocity``: mean MIDI velocity, 0 for an empty phrase.
* ``pitch_range``: highest minus lowest pitch, in semitones.
* drums only: ``kick_density`` and ``snare_density`` (hits per bar) and ``hihat_rate`` (closed
  plus open hi-hat hits per bar), by the drum classes Magenta's drum models use
  (``note_seq.drums_encoder_decoder.DEFAULT_DRUM_TYPE_PITCHES``: GM kicks 35/36, snares
  38/40/37..., hi-hats 42/44/46..., and the Roland TD-11 extras of the Groove dataset).

Intensity is a weighted sum of the features, each squashed into [0, 1) by ``x / (x + ref)``:
the squash is strictly increasing with no clipping, so a denser or louder phrase always scores
higher, and ``ref`` (the value that scores 0.5) is a typical Metal value, so the usual range
lands mid-scale. The weights (:data:`INTENSITY_WEIGHTS`) sum to 1, so intensity is in [0, 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from metalosc.protocol import INSTRUMENTS, Instrument

from ._drums import drum_class
from ._meter import BEATS_PER_BAR, DEFAULT_QPM, PHRASE_BARS

NoteSequence = Any
"""``note_seq.NoteSequence`` or anything shaped like it (the daemon's tests pass stand-ins)."""

_HIHATS = frozenset({"closed_hihat", "open_hihat"})

#: (weight, ref) per feature: the feature contributes ``weight * x / (x + ref)``. Guitar and
#: bass: mostly how many notes (8 per bar = straight eighths, the riff default), then how hard.
#: Drums: overall hits, then the kick (double-kick and blast beats are what Metal sounds
#: intense with), the snare's drive, the hi-hat's subdivision, and velocity.
INTENSITY_WEIGHTS: Mapping[Instrument, Mapping[str, tuple[float, float]]] = {
    "guitar": {
        "note_density": (0.6, 8.0),
        "mean_velocity": (0.3, 90.0),
        "pitch_range": (0.1, 12.0),
    },
    "bass": {"note_density": (0.6, 8.0), "mean_velocity": (0.3, 90.0), "pitch_range": (0.1, 12.0)},
    "drums": {
        "note_density": (0.3, 16.0),
        "kick_density": (0.25, 4.0),
        "snare_density": (0.15, 2.0),
        "hihat_rate": (0.1, 8.0),
        "mean_velocity": (0.2, 90.0),
    },
}


def _check_instrument(instrument: str) -> Instrument:
    if instrument not in INSTRUMENTS:
        raise ValueError(f"unknown instrument {instrument!r}; expected one of {INSTRUMENTS}")
    return instrument


def phrase_bars(seq: NoteSequence) -> float:
    """The phrase's length in 4/4 bars, at least :data:`PHRASE_BARS`.

    Quantized sequences count steps (``total_quantized_steps`` or the last note end step);
    unquantized ones convert their end time with their first tempo (120 qpm when none, as
    MusicVAE's decoders write).
    """
    steps_per_quarter = seq.quantization_info.steps_per_quarter
    if steps_per_quarter > 0:
        end_step = max(
            [seq.total_quantized_steps, *(n.quantized_end_step for n in seq.notes)], default=0
        )
        bars = end_step / (BEATS_PER_BAR * steps_per_quarter)
    else:
        qpm = seq.tempos[0].qpm if seq.tempos else DEFAULT_QPM
        end_time = max([seq.total_time, *(n.end_time for n in seq.notes)], default=0.0)
        bars = end_time * qpm / 60.0 / BEATS_PER_BAR
    return float(max(PHRASE_BARS, math.ceil(bars - 1e-6)))


def phrase_features(seq: NoteSequence, instrument: Instrument) -> dict[str, float]:
    """The phrase's features (see the module docstring); drums add three drum-kit features.

    Only the instrument's own notes count: drum hits (``is_drum``) for drums, pitched notes for
    guitar and bass.
    """
    which = _check_instrument(instrument)
    want_drums = which == "drums"
    notes = [n for n in seq.notes if n.is_drum == want_drums]
    bars = phrase_bars(seq)
    pitches = [n.pitch for n in notes]
    features = {
        "note_density": len(notes) / bars,
        "mean_velocity": sum(n.velocity for n in notes) / len(notes) if notes else 0.0,
        "pitch_range": float(max(pitches) - min(pitches)) if pitches else 0.0,
    }
    if want_drums:
        classes = [drum_class(p) for p in pitches]
        features["kick_density"] = classes.count("kick") / bars
        features["snare_density"] = classes.count("snare") / bars
        features["hihat_rate"] = sum(c in _HIHATS for c in classes) / bars
    return features


def intensity_from_features(features: Mapping[str, float], instrument: Instrument) -> float:
    """Intensity from already computed features (the server caches features per phrase)."""
    weights = INTENSITY_WEIGHTS[_check_instrument(instrument)]
    total = 0.0
    for name, (weight, ref) in weights.items():
        value = max(0.0, features[name])
        total += weight * value / (value + ref)
    return total


def intensity(seq: NoteSequence, instrument: Instrument) -> float:
    """One number in [0, 1), higher = more intense: the weighted, squashed features
    (:data:`INTENSITY_WEIGHTS`). Deterministic; monotone in density and velocity."""
    return intensity_from_features(phrase_features(seq, instrument), instrument)
