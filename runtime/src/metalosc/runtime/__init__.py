"""``metalosc.runtime``: MusicVAE models and the musical measures daemon and pipeline share.

What lives here is what both ``metalosc.server`` (the daemon) and ``metalosc.training`` (the
offline pipeline) must mean the same thing by, defined once:

* the meter (:data:`STEPS_PER_BAR`, :data:`PHRASE_BEATS`, :data:`DEFAULT_QPM` …) and the GM
  programs and drum classes the band uses;
* the model runtime: named :data:`PRESETS` and :func:`build_config` (Magenta configs),
  :class:`ModelSession` (tensors) and :class:`InstrumentModel` (a model bundle, NoteSequences)
  on TensorFlow; :class:`OnnxInstrumentModel` (a bundle's ONNX decoder on ONNX Runtime, phrases
  as :class:`StepSequence`) without it; :func:`load_instrument_model` picks one;
* phrases in musical time (:class:`Phrase`, :func:`notes_from_sequence`);
* the musical measures: :func:`phrase_features` / :func:`intensity`, chord symbols and
  inference (:func:`infer_chords`, :func:`chord_controls`), the bass's :func:`chord_fit`;
* latent maths: :func:`slerp` and :func:`place_tension`;
* keys and scales (:func:`fit_to_key`), arranging a phrase (:func:`into_key`,
  :func:`power_chords`) and the form measures a performance is judged by (:func:`measure_form`).

Importing this package is cheap (no TensorFlow, Magenta, note_seq or ONNX Runtime at import time):
the daemon imports it in its event-loop process. Decoding with :class:`OnnxInstrumentModel` and
measuring the phrases (features, chords, chord fit) imports none of TensorFlow, Magenta or
note_seq either: that is what a model worker runs. Modules are private; the public names are
re-exported here.
:mod:`metalosc.runtime.testing` is public test support: hand-made NoteSequences for tests.
"""

from ._arrange import (
    KEY_FIT,
    POWER_CHORD_BELOW,
    POWER_CHORD_INTERVAL,
    into_key,
    power_chords,
    transpose_chord,
    transposed,
)
from ._chord_symbols import ChordSymbolError
from ._chords import (
    NO_CHORD,
    TRIAD_ENCODING,
    chord_controls,
    chord_tones,
    infer_chords,
    install_transition_cache,
    normalize_chord,
)
from ._drums import (
    DRUM_CLASS_PITCHES,
    DRUM_CLASSES,
    decoded_drum_pitch,
    drum_class,
    drum_class_pitches,
)
from ._features import INTENSITY_WEIGHTS, intensity, intensity_from_features, phrase_features
from ._form import (
    GROOVE_CLASSES,
    FormMeasures,
    Performance,
    TimedNote,
    groove_consistency,
    groove_similarity,
    guitar_bass_agreement,
    key_consistency,
    measure_form,
    riff_repetition,
    timed,
)
from ._gm import BASS_PROGRAMS, DRUM_CHANNEL, GUITAR_PROGRAMS, PROGRAMS
from ._harmony import (
    BASS_CANDIDATES,
    STRONG_STEPS,
    ChordFit,
    chord_fit,
    is_strong_step,
    sixteenth_step,
    strong_beat_chord_fit,
)
from ._key import (
    KEY_SHIFTS,
    NATURAL_MINOR,
    KeyFit,
    diatonic_share,
    estimate_tonic,
    fit_to_key,
    key_pitch_class,
    scale_pitch_classes,
)
from ._latent import FULL_AXIS, TENSION_AXES, TENSION_PUSH, ZVector, place_tension, slerp
from ._meter import (
    BEATS_PER_BAR,
    DEFAULT_QPM,
    PHRASE_BARS,
    PHRASE_BEATS,
    PHRASE_STEPS,
    STEPS_PER_BAR,
    STEPS_PER_QUARTER,
    bar_seconds,
)
from ._model import InstrumentModel
from ._onnx_model import Backend, OnnxDecoder, OnnxInstrumentModel, load_instrument_model
from ._phrase import CHORD_FIT, Phrase, PhraseNote, notes_from_sequence
from ._presets import (
    BASE_CONVERTERS,
    DEFAULT_STEPS,
    PRESET_SETS,
    PRESETS,
    Preset,
    build_config,
    build_converter,
    get_preset,
    output_encoding,
    stock_converter,
)
from ._session import DEFAULT_MAX_BATCH, GREEDY_TEMPERATURE, CheckpointError, ModelSession
from ._steps import QuantizationInfo, StepNote, StepSequence, Tempo, sequences_from_samples

__all__ = [
    "BASE_CONVERTERS",
    "BASS_CANDIDATES",
    "BASS_PROGRAMS",
    "BEATS_PER_BAR",
    "CHORD_FIT",
    "DEFAULT_MAX_BATCH",
    "DEFAULT_QPM",
    "DEFAULT_STEPS",
    "DRUM_CHANNEL",
    "DRUM_CLASSES",
    "DRUM_CLASS_PITCHES",
    "FULL_AXIS",
    "GREEDY_TEMPERATURE",
    "GROOVE_CLASSES",
    "GUITAR_PROGRAMS",
    "INTENSITY_WEIGHTS",
    "KEY_FIT",
    "KEY_SHIFTS",
    "NATURAL_MINOR",
    "NO_CHORD",
    "PHRASE_BARS",
    "PHRASE_BEATS",
    "PHRASE_STEPS",
    "POWER_CHORD_BELOW",
    "POWER_CHORD_INTERVAL",
    "PRESETS",
    "PRESET_SETS",
    "PROGRAMS",
    "STEPS_PER_BAR",
    "STEPS_PER_QUARTER",
    "STRONG_STEPS",
    "TENSION_AXES",
    "TENSION_PUSH",
    "TRIAD_ENCODING",
    "Backend",
    "CheckpointError",
    "ChordFit",
    "ChordSymbolError",
    "FormMeasures",
    "InstrumentModel",
    "KeyFit",
    "ModelSession",
    "OnnxDecoder",
    "OnnxInstrumentModel",
    "Performance",
    "Phrase",
    "PhraseNote",
    "Preset",
    "QuantizationInfo",
    "StepNote",
    "StepSequence",
    "Tempo",
    "TimedNote",
    "ZVector",
    "bar_seconds",
    "build_config",
    "build_converter",
    "chord_controls",
    "chord_fit",
    "chord_tones",
    "decoded_drum_pitch",
    "diatonic_share",
    "drum_class",
    "drum_class_pitches",
    "estimate_tonic",
    "fit_to_key",
    "get_preset",
    "groove_consistency",
    "groove_similarity",
    "guitar_bass_agreement",
    "infer_chords",
    "install_transition_cache",
    "intensity",
    "intensity_from_features",
    "into_key",
    "is_strong_step",
    "key_consistency",
    "key_pitch_class",
    "load_instrument_model",
    "measure_form",
    "normalize_chord",
    "notes_from_sequence",
    "output_encoding",
    "phrase_features",
    "place_tension",
    "power_chords",
    "riff_repetition",
    "scale_pitch_classes",
    "sequences_from_samples",
    "sixteenth_step",
    "slerp",
    "stock_converter",
    "strong_beat_chord_fit",
    "timed",
    "transpose_chord",
    "transposed",
]
