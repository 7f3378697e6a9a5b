"""Named, immutable model presets and the one place Magenta configs are built.

A preset is a Magenta base config (a key of ``music_vae.configs.CONFIG_MAP``) plus hparam and
data-converter overrides, in the spirit of Magenta's own ``CONFIG_MAP``: the three production
presets are exactly the published configs (so ``--init-from`` a Google checkpoint fits), the
``*-default`` presets are smaller models of the same classes that fit in git for the shipped
bundles, and the ``*-tiny`` presets train in seconds for tests.

Bundles store the same three things (config name, hparams, converter overrides) in their
manifest, so :func:`build_config` rebuilds the model exactly as it was trained. It returns a
*fresh* Config every call: Magenta's ``TrainedModel`` deep-copies its config, and a config whose
model was already built in the process cannot be copied (see docs/architecture.md, "Magenta on
Python 3.11").
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from metalosc.protocol import DrumsEncoding, Instrument, MelodyEncoding

from ._gm import BASS_PROGRAMS

HParamValue = int | float | str | bool | list[int]

#: Magenta base configs this project supports, and the constructor arguments of their data
#: converters as published in ``music_vae/configs.py``. Converters keep no record of their
#: constructor arguments, so a converter override means rebuilding the converter from these
#: plus the override.
BASE_CONVERTERS: Mapping[str, tuple[str, Mapping[str, Any]]] = MappingProxyType(
    {
        "cat-mel_2bar_big": (
            "OneHotMelodyConverter",
            {
                "valid_programs": list(range(32)),
                "skip_polyphony": False,
                "max_bars": 100,
                "slice_bars": 2,
                "steps_per_quarter": 4,
            },
        ),
        "cat-mel_2bar_med_chords": (
            "OneHotMelodyConverter",
            {
                "max_bars": 100,
                "slice_bars": 2,
                "steps_per_quarter": 4,
                "chord_encoding": "triad",
            },
        ),
        "cat-drums_2bar_small": (
            "DrumsConverter",
            {"max_bars": 100, "slice_bars": 2, "steps_per_quarter": 4, "roll_input": True},
        ),
    }
)

#: Training length of a preset that names none (fine-tuning a published checkpoint).
DEFAULT_STEPS = 2000


@dataclass(frozen=True)
class Preset:
    """A named model recipe: base Magenta config + overrides (all JSON-serializable, so they go
    into the bundle manifest verbatim)."""

    name: str
    instrument: Instrument
    magenta_config: str
    hparams: Mapping[str, HParamValue] = field(default_factory=dict)
    converter: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    #: How many steps the recipe trains for when the caller names none: how long a model
    #: of this size needs on its data is part of the recipe, like its KL schedule.
    steps: int = DEFAULT_STEPS

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"preset {self.name!r}: steps must be >= 1, got {self.steps}")
        if self.magenta_config not in BASE_CONVERTERS:
            raise ValueError(
                f"preset {self.name!r}: unsupported magenta config {self.magenta_config!r}"
            )
        # Freeze the mappings so a caller cannot change a named preset in place.
        object.__setattr__(self, "hparams", MappingProxyType(dict(self.hparams)))
        object.__setattr__(self, "converter", MappingProxyType(dict(self.converter)))

    def build_config(self) -> Any:
        """A fresh Magenta Config for this preset."""
        return build_config(self.magenta_config, self.hparams, self.converter)

    def build_converter(self) -> Any:
        """A fresh data converter of this preset (what defines one of its training examples)."""
        return build_converter(self.magenta_config, self.converter)


def _preset(*args: Any, **kwargs: Any) -> tuple[str, Preset]:
    preset = Preset(*args, **kwargs)
    return preset.name, preset


# Bass notes live on the GM bass programs; the bass presets keep only those.
_BASS_CONVERTER = {"valid_programs": list(BASS_PROGRAMS)}
# The shipped bass models pitches 21-67 (A0-G4) instead of the melody converter's 21-108: the
# Freedoom bass parts lie in 20-71 (0.5% of their notes above G4), and a 47-pitch vocabulary
# keeps a sampled bass from landing in the guitar's or a piano's register.
# The bottom stays at A0 because the corpus is tuned down (11% of its notes are below E1).
_BASS_DEFAULT_CONVERTER = {**_BASS_CONVERTER, "max_pitch": 67}
# KL schedule of the shipped defaults. The published configs anneal beta with beta_rate 0.99999,
# i.e. over ~10^5 steps; the defaults train for a few thousand steps on two CPU cores, so beta
# ramps 100x faster and reaches max_beta by the end of training. Without that the KL term is
# still ~0 when training stops, the posterior drifts off N(0, I), and sampling from the prior
# (what the server does) decodes noise. max_beta 0.5 and 48 free bits are the MusicVAE paper's
# 2-bar settings: enough KL pressure for smooth slerp paths, enough free bits for faithful
# reconstructions.
_DEFAULT_KL = {"beta_rate": 0.999, "max_beta": 0.5, "free_bits": 48}
# Tiny models: a few thousand weights, so a test trains and decodes them in seconds.
_TINY = {
    "batch_size": 8,
    "z_size": 8,
    "enc_rnn_size": [16],
    "dec_rnn_size": [16],
    "free_bits": 0,
    "max_beta": 0.2,
}
_TINY_STEPS = 10

PRESETS: Mapping[str, Preset] = MappingProxyType(
    dict(
        [
            _preset(
                "guitar-big",
                "guitar",
                "cat-mel_2bar_big",
                description="production: cat-mel_2bar_big as published (fits Google's ckpt)",
            ),
            _preset(
                "bass-med-chords",
                "bass",
                "cat-mel_2bar_med_chords",
                converter=_BASS_CONVERTER,
                description="production: cat-mel_2bar_med_chords on bass programs 32-39",
            ),
            _preset(
                "drums-small",
                "drums",
                "cat-drums_2bar_small",
                description="production: cat-drums_2bar_small as published",
            ),
            _preset(
                "guitar-default",
                "guitar",
                "cat-mel_2bar_big",
                hparams={
                    "batch_size": 128,
                    "z_size": 128,
                    "enc_rnn_size": [256],
                    "dec_rnn_size": [256, 256],
                    **_DEFAULT_KL,
                },
                description="shipped default: cat-mel_2bar_big's model class, git-sized",
                steps=6000,
            ),
            _preset(
                "bass-default",
                "bass",
                "cat-mel_2bar_med_chords",
                hparams={
                    "batch_size": 128,
                    "z_size": 64,
                    "enc_rnn_size": [256],
                    "dec_rnn_size": [128, 128],
                    **_DEFAULT_KL,
                },
                converter=_BASS_DEFAULT_CONVERTER,
                description="shipped default: chord-conditioned bass, git-sized",
                steps=8000,
            ),
            _preset(
                "drums-default",
                "drums",
                "cat-drums_2bar_small",
                hparams={
                    "batch_size": 128,
                    "z_size": 128,
                    "enc_rnn_size": [256],
                    "dec_rnn_size": [128, 128],
                    **_DEFAULT_KL,
                },
                description="shipped default: cat-drums_2bar_small's model class, git-sized",
                steps=3000,
            ),
            _preset(
                "guitar-tiny",
                "guitar",
                "cat-mel_2bar_big",
                hparams=_TINY,
                description="tests",
                steps=_TINY_STEPS,
            ),
            _preset(
                "bass-tiny",
                "bass",
                "cat-mel_2bar_med_chords",
                hparams=_TINY,
                converter=_BASS_CONVERTER,
                description="tests",
                steps=_TINY_STEPS,
            ),
            _preset(
                "drums-tiny",
                "drums",
                "cat-drums_2bar_small",
                hparams=_TINY,
                description="tests",
                steps=_TINY_STEPS,
            ),
        ]
    )
)

#: Which preset each `--preset-set` of `metalosc-train all` uses per instrument.
PRESET_SETS: Mapping[str, Mapping[Instrument, str]] = MappingProxyType(
    {
        "production": {"guitar": "guitar-big", "bass": "bass-med-chords", "drums": "drums-small"},
        "default": {"guitar": "guitar-default", "bass": "bass-default", "drums": "drums-default"},
        "tiny": {"guitar": "guitar-tiny", "bass": "bass-tiny", "drums": "drums-tiny"},
    }
)


def stock_converter(instrument: Instrument) -> Any:
    """A fresh data converter of the instrument's production preset: what one training example
    of this instrument is under the published Magenta config (the bass's restricted to the GM
    bass programs). Convert counts examples with it."""
    return PRESETS[PRESET_SETS["production"][instrument]].build_converter()


def get_preset(name: str) -> Preset:
    """The named preset; KeyError listing the known names otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise KeyError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}") from None


def build_converter(magenta_config: str, overrides: Mapping[str, Any]) -> Any:
    """A fresh Magenta data converter: the base config's published converter arguments
    (:data:`BASE_CONVERTERS`) with ``overrides``. ValueError names an unsupported config or a bad
    override."""
    from magenta.models.music_vae import data  # deferred: ~8 s import

    _check_supported(magenta_config)
    class_name, kwargs = _converter_kwargs(magenta_config, overrides)
    try:
        return getattr(data, class_name)(**kwargs)
    except TypeError as e:
        raise ValueError(f"bad converter override for {magenta_config}: {e}") from None


def _check_supported(magenta_config: str) -> None:
    if magenta_config not in BASE_CONVERTERS:
        raise ValueError(
            f"unsupported magenta config {magenta_config!r}; "
            f"supported: {', '.join(sorted(BASE_CONVERTERS))}"
        )


def _converter_kwargs(
    magenta_config: str, overrides: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    import note_seq

    class_name, base = BASE_CONVERTERS[magenta_config]
    kwargs = {**base, **overrides}
    encoding = kwargs.get("chord_encoding")
    if encoding == "triad":
        kwargs["chord_encoding"] = note_seq.TriadChordOneHotEncoding()
    elif encoding is not None:
        raise ValueError(f"unsupported chord_encoding {encoding!r} (supported: 'triad')")
    if kwargs.get("valid_programs") is not None:
        kwargs["valid_programs"] = list(kwargs["valid_programs"])
    return class_name, kwargs


def build_config(
    magenta_config: str, hparams: Mapping[str, Any], converter: Mapping[str, Any]
) -> Any:
    """A fresh Magenta ``Config``: the named base config with ``hparams`` overrides and a data
    converter rebuilt with ``converter`` overrides.

    A new object on every call (deep copy of the base, new model and converter), so configs never
    share a built model (a built model cannot be deep-copied). Unknown config names, hparams or
    converter arguments raise ValueError naming them.
    """
    from magenta.models.music_vae import configs  # deferred: ~8 s import

    _check_supported(magenta_config)
    base = configs.CONFIG_MAP[magenta_config]
    hp = copy.deepcopy(base.hparams)
    known = hp.values()
    for key, value in hparams.items():
        if key not in known:
            raise ValueError(f"unknown hparam {key!r} for {magenta_config}")
        hp.set_hparam(key, list(value) if isinstance(value, list | tuple) else value)
    data_converter = build_converter(magenta_config, converter)
    return base._replace(
        model=copy.deepcopy(base.model),
        hparams=hp,
        data_converter=data_converter,
        note_sequence_augmenter=None,  # convert already transposes train windows
        train_examples_path=None,
        eval_examples_path=None,
    )


def output_encoding(magenta_config: str, converter: Any) -> MelodyEncoding | DrumsEncoding:
    """How the decoder output of ``converter`` (a Magenta data converter of ``magenta_config``)
    reads as notes, for a bundle manifest: the melody converter's pitch range and chord
    encoding, or the drum converter's pitch classes; velocity and resolution as its
    ``from_tensors`` writes them. ValueError for an unsupported config."""
    from magenta.models.music_vae import data

    _check_supported(magenta_config)
    class_name, _ = BASE_CONVERTERS[magenta_config]
    if class_name == "DrumsConverter":
        return DrumsEncoding(
            pitch_classes=[list(map(int, c)) for c in converter._pitch_classes],
            velocity=data.OUTPUT_VELOCITY,
            steps_per_quarter=int(converter._steps_per_quarter),
        )
    chords = converter._chord_encoding
    if chords is not None and type(chords).__name__ != "TriadChordOneHotEncoding":
        raise ValueError(f"unsupported chord encoding {type(chords).__name__}")
    return MelodyEncoding(
        min_pitch=int(converter._min_pitch),
        max_pitch=int(converter._max_pitch),
        velocity=data.OUTPUT_VELOCITY,
        steps_per_quarter=int(converter._steps_per_quarter),
        chords=None if chords is None else "triad",
    )
