"""The default band for the Unity client: one-shot samples rendered from a General MIDI soundfont.

The Unity client plays the daemon's notes with samples. So that a game hears the daemon before
anyone records a note, the package ships a "Default Band" sample rendered here by FluidSynth
from FluidR3_GM (Debian ``fluid-soundfont-gm``, MIT licence): the programs the band plays
(:data:`metalosc.runtime.PROGRAMS`: Distortion Guitar, Electric Bass (finger), the standard kit).

Which pitches (:func:`emitted_pitches`) come from the shipped bundles and the daemon's
arrangement, not from a list: a melody model decodes the pitches of its converter
(``min_pitch..max_pitch``: the manifest's overrides on the published Magenta arguments, on the
converter's own defaults); the daemon moves a guitar phrase into the key when it is decoded,
voices notes below :data:`~metalosc.runtime.POWER_CHORD_BELOW` as power chords (a perfect or a
diminished fifth above), and moves the phrase with its bass into the section's key when it is
picked — each move one of :data:`~metalosc.runtime.KEY_SHIFTS`. Both melodic instruments are
widened by the two moves (the bass only ever takes the second: a little wider than needed). The
drums play the one pitch each decoded class becomes (:func:`~metalosc.runtime.decoded_drum_pitch`).

Guitar and bass are sampled every :data:`SAMPLE_STEP` semitones from one above their lowest
pitch, so every pitch is at most one semitone from a sample (the client re-pitches the nearest
one); the drums once per pitch (drums are never re-pitched).

Rendering (:func:`render_bank`): one MIDI file per instrument (mido) with the notes one after
another at velocity 127, one FluidSynth run each (reverb and chorus off: dry one-shots, the game
adds its own room), cut into one sample per note; each is trimmed (from its first sound to where
it falls 60 dB under its peak, 10 ms fade), mixed to mono, and scaled by one gain per instrument
that puts its loudest sample at -1 dBFS, keeping the balance the soundfont's author set across
the kit and the range; then written as Ogg Vorbis (libsndfile). Files are named by the client's
convention (``DefaultBand.TryParseSampleName``): ``guitar_040_E2.ogg``, ``drums_036_kick.ogg``.
"""

from __future__ import annotations

import inspect
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import mido
import numpy as np
import numpy.typing as npt
import soundfile
import structlog
from metalosc.protocol import (
    INSTRUMENTS,
    KEY_NAMES,
    SHARED_FILE_MODE,
    DrumsEncoding,
    Instrument,
    MelodyEncoding,
    atomic_output,
    load_manifest,
)
from metalosc.runtime import (
    BASE_CONVERTERS,
    DRUM_CHANNEL,
    DRUM_CLASSES,
    KEY_SHIFTS,
    POWER_CHORD_BELOW,
    POWER_CHORD_INTERVAL,
    PROGRAMS,
    decoded_drum_pitch,
)
from metalosc.training import _unity_meta

log = structlog.get_logger(__name__)

Audio = npt.NDArray[np.float32]
"""Mono audio, float32 samples in -1..1 at :data:`SAMPLE_RATE`."""

REPO_ROOT = Path(__file__).resolve().parents[4]
"""The repository in a source checkout (training/src/metalosc/training/ -> the root)."""
DEFAULT_MODELS = REPO_ROOT / "models" / "default"
SAMPLE_DIR = Path("Samples~") / "DefaultBand" / "Resources" / "MetalOSC" / "DefaultBand"
"""Where the clips live inside the Unity package: importing the sample puts them under a
``Resources`` folder, where the client finds them by name (``DefaultBand.ResourcesFolder``)."""
DEFAULT_OUT = _unity_meta.PACKAGE_ROOT / SAMPLE_DIR
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
"""FluidR3_GM as Debian's fluid-soundfont-gm installs it."""
FLUIDSYNTH = "fluidsynth"

SAMPLE_STEP = 3
"""Semitones between two samples of a melodic instrument (the client's
``DefaultBand.SampleStep``)."""
MAX_SHIFT = SAMPLE_STEP // 2
"""The furthest any melodic pitch is from its nearest sample, in semitones."""
KEY_MOVES = 2
"""How many times the daemon may move a melodic phrase into a key (module docstring)."""
SAMPLE_RATE = 44100
VELOCITY = 127
"""The client scales a sample by velocity (``SampleSelection.Gain``: 127 plays it as recorded)."""
PEAK_DBFS = -1.0
TRIM_DB = -60.0
"""A sample ends where it stays this far under its peak."""
ONSET_DB = -60.0
"""A sample starts where it first rises to this far under its peak."""
FADE_S = 0.01
VORBIS_COMPRESSION = 0.6
"""libsndfile's compression level for Vorbis (0 best quality .. 1 smallest): about 80 kbit/s
mono."""

NOTICE_NAME = "NOTICE.md"
NOTICE = """\
# Default Band samples

One-shot samples of three General MIDI sounds of the **FluidR3_GM** soundfont (Distortion Guitar,
Electric Bass (finger), the standard drum kit), rendered by FluidSynth with
`metalosc-train band-samples` from the MetalOSC repository (trimmed, mono, normalised, Ogg Vorbis).
Files are named `<instrument>_<MIDI pitch>_<note or drum>.ogg`.

FluidR3_GM: Copyright © 2000-2002, 2008 Frank Wen; Debian packaging (`fluid-soundfont-gm`)
© 2008 Toby Smithe. "Fluid was constructed in part from samples found in the public domain that I
edited/cleaned/remixed/programmed and largely from recordings of my own." Released under the MIT
licence:

> Permission is hereby granted, free of charge, to any person obtaining a copy of this software and
> associated documentation files (the "Software"), to deal in the Software without restriction,
> including without limitation the rights to use, copy, modify, merge, publish, distribute,
> sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is
> furnished to do so, subject to the following conditions:
>
> The above copyright notice and this permission notice shall be included in all copies or
> substantial portions of the Software.
>
> THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT
> NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
> NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
> DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT
> OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.
"""


class BandSampleError(Exception):
    """The bank cannot be rendered: a missing program or soundfont, a bundle whose pitches
    cannot be read, FluidSynth failing. The message names the cause."""


@dataclass(frozen=True)
class Voice:
    """How one instrument is rendered: GM program and channel, how long each key is held, and
    the longest a sample may ring (hold plus release)."""

    program: int
    channel: int
    hold_s: float
    length_s: float


VOICES: Mapping[Instrument, Voice] = MappingProxyType(
    {
        # Held 2 s: a whole note at 120 bpm; the client stops a sample when its note ends.
        "guitar": Voice(PROGRAMS["guitar"], 0, 2.0, 2.5),
        "bass": Voice(PROGRAMS["bass"], 1, 2.0, 2.5),
        # Drums ring out whatever the note length: a crash needs its 3 s.
        "drums": Voice(PROGRAMS["drums"], DRUM_CHANNEL, 0.1, 3.0),
    }
)


@dataclass(frozen=True)
class Sample:
    """One rendered sample: its file name, instrument, MIDI pitch, length (seconds), and its
    peak and RMS level (dBFS) after normalisation."""

    name: str
    instrument: Instrument
    pitch: int
    seconds: float
    peak_dbfs: float
    rms_dbfs: float


# --- which pitches ----------------------------------------------------------------------------


def decoded_pitch_range(bundle_dir: Path) -> range:
    """The MIDI pitches the melody model in `bundle_dir` can decode: its converter's
    ``min_pitch..max_pitch`` (manifest overrides on the published arguments, on the converter
    class's defaults). A bundle with an ONNX decoder (what the daemon serves) must say the same
    in its encoding. BandSampleError for a broken bundle, a converter without a pitch range, or
    a decoder that disagrees with its converter.
    """
    try:
        manifest = load_manifest(bundle_dir)
    except Exception as e:  # ModelBundleError, named by the manifest loader
        raise BandSampleError(str(e)) from None
    if manifest.magenta_config not in BASE_CONVERTERS:
        raise BandSampleError(f"{bundle_dir}: unsupported config {manifest.magenta_config!r}")
    from magenta.models.music_vae import data  # deferred: ~8 s import

    class_name, published = BASE_CONVERTERS[manifest.magenta_config]
    parameters = inspect.signature(getattr(data, class_name)).parameters
    if "min_pitch" not in parameters or "max_pitch" not in parameters:
        raise BandSampleError(f"{bundle_dir}: {class_name} has no pitch range (not a melody model)")
    arguments = {**published, **manifest.converter}
    low = int(arguments.get("min_pitch", parameters["min_pitch"].default))
    high = int(arguments.get("max_pitch", parameters["max_pitch"].default))
    encoding = manifest.decoder.encoding if manifest.decoder is not None else None
    if isinstance(encoding, MelodyEncoding) and (encoding.min_pitch, encoding.max_pitch) != (
        low,
        high,
    ):
        raise BandSampleError(
            f"{bundle_dir}: ONNX decoder plays {encoding.min_pitch}..{encoding.max_pitch}, "
            f"its converter {low}..{high}"
        )
    return range(low, high + 1)


def _drum_pitches(bundle_dir: Path) -> tuple[int, ...]:
    """The GM pitch each class of the drums model in `bundle_dir` decodes to, sorted."""
    try:
        manifest = load_manifest(bundle_dir)
    except Exception as e:
        raise BandSampleError(str(e)) from None
    if "pitch_classes" in manifest.converter:
        raise BandSampleError(f"{bundle_dir}: custom drum pitch classes are not supported")
    pitches = tuple(sorted(decoded_drum_pitch(c) for c in DRUM_CLASSES))
    encoding = manifest.decoder.encoding if manifest.decoder is not None else None
    if isinstance(encoding, DrumsEncoding):
        played = tuple(sorted(classes[0] for classes in encoding.pitch_classes))
        if played != pitches:
            raise BandSampleError(f"{bundle_dir}: ONNX decoder plays drums {played}, not {pitches}")
    return pitches


def _moved(pitches: Iterable[int]) -> set[int]:
    return {p + s for p in pitches for s in KEY_SHIFTS if 0 <= p + s <= 127}


def _with_power_chords(pitches: set[int]) -> set[int]:
    fifths = {
        p + interval
        for p in pitches
        if p < POWER_CHORD_BELOW
        for interval in (POWER_CHORD_INTERVAL, POWER_CHORD_INTERVAL - 1)
    }
    return pitches | {p for p in fifths if p <= 127}


def emitted_pitches(models_dir: Path = DEFAULT_MODELS) -> dict[Instrument, tuple[int, ...]]:
    """Every MIDI pitch the daemon can send per instrument with the bundles in `models_dir`
    (module docstring), sorted."""
    guitar = _moved(decoded_pitch_range(models_dir / "guitar"))
    for _ in range(KEY_MOVES - 1):
        guitar = _moved(_with_power_chords(guitar))
    bass: set[int] = set(decoded_pitch_range(models_dir / "bass"))
    for _ in range(KEY_MOVES):
        bass = _moved(bass)
    return {
        "guitar": tuple(sorted(guitar)),
        "bass": tuple(sorted(bass)),
        "drums": _drum_pitches(models_dir / "drums"),
    }


def covering_pitches(pitches: Sequence[int], step: int = SAMPLE_STEP) -> tuple[int, ...]:
    """Sample pitches every `step` semitones from ``min + step // 2``, so that every pitch of
    ``min(pitches)..max(pitches)`` is at most ``step // 2`` semitones from one."""
    if not pitches:
        return ()
    half = step // 2
    low, high = min(pitches), max(pitches)
    return tuple(sorted({min(p, 127) for p in range(low + half, high + half + 1, step)}))


def sample_pitches(models_dir: Path = DEFAULT_MODELS) -> dict[Instrument, tuple[int, ...]]:
    """The pitches the bank samples: covering pitches for guitar and bass, every drum note."""
    emitted = emitted_pitches(models_dir)
    return {
        "guitar": covering_pitches(emitted["guitar"]),
        "bass": covering_pitches(emitted["bass"]),
        "drums": emitted["drums"],
    }


def sample_name(instrument: Instrument, pitch: int) -> str:
    """The file name of a sample: ``guitar_040_E2.ogg`` (sharps as ``s``: ``Cs3``; octaves
    numbered so that MIDI 60 is C4), ``drums_036_kick.ogg``."""
    if not 0 <= pitch <= 127:
        raise ValueError(f"MIDI pitch {pitch} outside 0..127")
    if instrument == "drums":
        names = {decoded_drum_pitch(c): c for c in DRUM_CLASSES}
        if pitch not in names:
            raise ValueError(f"{pitch} is not a drum note the drums model plays")
        label = names[pitch]
    else:
        label = KEY_NAMES[pitch % 12].replace("#", "s") + str(pitch // 12 - 1)
    return f"{instrument}_{pitch:03d}_{label}.ogg"


# --- rendering --------------------------------------------------------------------------------

_TICKS_PER_SECOND = 960  # 480 ticks per beat at mido's default 120 bpm


BEND_RANGE = 12
"""Pitch-bend sensitivity set for bent notes (RPN 0), in semitones."""


def note_midi(
    voice: Voice,
    pitches: Sequence[int],
    spacing_s: float,
    bends: Mapping[int, int] | None = None,
) -> mido.MidiFile:
    """A MIDI file playing `pitches` one after another, `spacing_s` apart, each held
    ``voice.hold_s``, ending `spacing_s` after the last onset. A note with an entry in `bends`
    (semitones, within ±:data:`BEND_RANGE`) is played bent by that much."""
    bends = bends or {}
    channel = voice.channel
    events: list[tuple[int, int, mido.Message]] = []  # (tick, order, message)
    for i, pitch in enumerate(pitches):
        on = round(i * spacing_s * _TICKS_PER_SECOND)
        off = on + round(voice.hold_s * _TICKS_PER_SECOND)
        bend = bends.get(pitch, 0)
        if abs(bend) > BEND_RANGE:
            raise ValueError(f"a bend of {bend} semitones is beyond ±{BEND_RANGE}")
        if bend:
            wheel = max(-8192, min(8191, round(bend / BEND_RANGE * 8192)))
            events.append((on, 1, mido.Message("pitchwheel", channel=channel, pitch=wheel)))
        events.append((on, 2, mido.Message("note_on", channel=channel, note=pitch - bend,
                                           velocity=VELOCITY)))  # fmt: skip
        events.append((off, 0, mido.Message("note_off", channel=channel, note=pitch - bend)))
        if bend:
            # Back to centre once the note has rung out, before the next one starts.
            rest = on + round(voice.length_s * _TICKS_PER_SECOND)
            events.append((rest, 0, mido.Message("pitchwheel", channel=channel, pitch=0)))
    events.sort(key=lambda e: (e[0], e[1]))
    track = mido.MidiTrack()
    if channel != DRUM_CHANNEL:
        track.append(mido.Message("program_change", channel=channel, program=voice.program))
    if bends:
        # RPN 0 (pitch-bend sensitivity) = BEND_RANGE semitones, then the null RPN.
        for control, value in (
            (101, 0),
            (100, 0),
            (6, BEND_RANGE),
            (38, 0),
            (101, 127),
            (100, 127),
        ):
            track.append(mido.Message("control_change", channel=channel, control=control,
                                      value=value))  # fmt: skip
    tick = 0
    for at, _, message in events:
        track.append(message.copy(time=at - tick))
        tick = at
    end = round(len(pitches) * spacing_s * _TICKS_PER_SECOND)
    track.append(mido.MetaMessage("end_of_track", time=end - tick))
    midi = mido.MidiFile(ticks_per_beat=480)
    midi.tracks.append(track)
    return midi


def _fluidsynth(midi: Path, wav: Path, soundfont: Path, program: str) -> None:
    command = [
        program, "-n", "-i", "-q", "-R", "0", "-C", "0", "-g", "1.0",
        "-r", str(SAMPLE_RATE), "-O", "float", "-T", "wav", "-F", str(wav), str(soundfont),
        str(midi),
    ]  # fmt: skip
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)
    except FileNotFoundError:
        raise BandSampleError(f"{program} not found: sudo apt-get install fluidsynth") from None
    except subprocess.TimeoutExpired:
        raise BandSampleError(f"{program} took over 900 s rendering {midi.name}") from None
    if result.returncode != 0 or not wav.exists():
        detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise BandSampleError(f"{program} failed on {midi.name} (exit {result.returncode}): "
                              f"{detail[0]}")  # fmt: skip


def _db(value: float) -> float:
    return 20.0 * float(np.log10(value)) if value > 0 else float("-inf")


def trim(audio: Audio, rate: int = SAMPLE_RATE) -> Audio:
    """`audio` (mono float) from its first sound (:data:`ONSET_DB` under its peak) to where it
    last rises above :data:`TRIM_DB` under its peak, with a :data:`FADE_S` fade-out; empty for
    silence."""
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak == 0.0:
        return audio[:0]
    loud = np.flatnonzero(np.abs(audio) >= peak * 10 ** (ONSET_DB / 20))
    quiet = np.flatnonzero(np.abs(audio) >= peak * 10 ** (TRIM_DB / 20))
    out = audio[loud[0] : quiet[-1] + 1].astype(np.float32)
    fade = min(len(out), round(FADE_S * rate))
    if fade:
        out[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    return out


def _render(
    instrument: Instrument,
    pitches: Sequence[int],
    bends: Mapping[int, int],
    soundfont: Path,
    program: str,
    work: Path,
) -> list[Audio]:
    """One FluidSynth run: the trimmed sound of each of `pitches` (empty where it is silent)."""
    voice = VOICES[instrument]
    spacing = voice.length_s + 0.5  # silence between notes: no tail reaches the next onset
    midi_path = work / f"{instrument}.mid"
    wav_path = work / f"{instrument}.wav"
    note_midi(voice, pitches, spacing, bends).save(midi_path)
    _fluidsynth(midi_path, wav_path, soundfont, program)
    audio, rate = soundfile.read(wav_path, dtype="float32", always_2d=True)
    wav_path.unlink()
    if rate != SAMPLE_RATE:
        raise BandSampleError(f"{program} rendered at {rate} Hz, expected {SAMPLE_RATE}")
    mono = audio.mean(axis=1)
    length = round(voice.length_s * SAMPLE_RATE)
    starts = [round(i * spacing * SAMPLE_RATE) for i in range(len(pitches))]
    return [trim(mono[start : start + length]) for start in starts]


def _render_instrument(
    instrument: Instrument, pitches: Sequence[int], soundfont: Path, program: str, work: Path
) -> list[Audio]:
    """Each of `pitches` as the soundfont plays it. Where a preset has no sound for a pitch
    (FluidR3's guitars end at C8), FluidSynth plays the nearest pitch that sounds, bent up or
    down by at most :data:`BEND_RANGE` semitones."""
    cuts = _render(instrument, pitches, {}, soundfont, program, work)
    silent = [p for p, cut in zip(pitches, cuts, strict=True) if cut.size == 0]
    if not silent:
        return cuts
    sounding = [p for p, cut in zip(pitches, cuts, strict=True) if cut.size]
    if instrument == "drums" or not sounding:
        raise BandSampleError(f"{soundfont.name} has no {instrument} sound at {silent}")
    bends = {p: p - min(sounding, key=lambda q: (abs(q - p), q)) for p in silent}
    too_far = [p for p, bend in bends.items() if abs(bend) > BEND_RANGE]
    if too_far:
        raise BandSampleError(
            f"{soundfont.name} has no {instrument} sound within {BEND_RANGE} semitones of {too_far}"
        )
    log.info("band_bend", instrument=instrument, bent=bends)
    bent = dict(
        zip(silent, _render(instrument, silent, bends, soundfont, program, work), strict=True)
    )
    if any(cut.size == 0 for cut in bent.values()):
        raise BandSampleError(f"{soundfont.name}: bent {instrument} notes stayed silent")
    return [bent.get(p, cut) for p, cut in zip(pitches, cuts, strict=True)]


def _write_ogg(path: Path, audio: Audio) -> None:
    with atomic_output(path, mode=SHARED_FILE_MODE) as tmp:
        soundfile.write(tmp, audio, SAMPLE_RATE, format="OGG", subtype="VORBIS",
                        compression_level=VORBIS_COMPRESSION)  # fmt: skip


def render_bank(
    out_dir: Path = DEFAULT_OUT,
    *,
    models_dir: Path = DEFAULT_MODELS,
    soundfont: Path = SOUNDFONT,
    fluidsynth: str = FLUIDSYNTH,
    instruments: Sequence[Instrument] = INSTRUMENTS,
) -> list[Sample]:
    """Renders the bank into `out_dir` (module docstring) and returns what it wrote.

    Each file is written whole (a temporary file renamed over it); sample files of the
    convention that the bank no longer has are removed, other files are left alone. When
    `out_dir` lies inside the Unity package, its ``.meta`` files are brought up to date.
    BandSampleError names a missing soundfont or program, or a failed render.
    """
    if not soundfont.is_file():
        raise BandSampleError(
            f"soundfont {soundfont} not found: sudo apt-get install fluid-soundfont-gm"
        )
    if shutil.which(fluidsynth) is None:
        raise BandSampleError(f"{fluidsynth} not found: sudo apt-get install fluidsynth")
    wanted = sample_pitches(models_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    samples: list[Sample] = []
    with tempfile.TemporaryDirectory(prefix="metalosc-band-") as tmp:
        for instrument in instruments:
            pitches = wanted[instrument]
            log.info("band_render", instrument=instrument, samples=len(pitches),
                     low=pitches[0], high=pitches[-1])  # fmt: skip
            cuts = _render_instrument(instrument, pitches, soundfont, fluidsynth, Path(tmp))
            gain = 10 ** (PEAK_DBFS / 20) / max(float(np.max(np.abs(c))) for c in cuts)
            for pitch, cut in zip(pitches, cuts, strict=True):
                audio = cut * np.float32(gain)
                name = sample_name(instrument, pitch)
                _write_ogg(out_dir / name, audio)
                samples.append(
                    Sample(
                        name=name,
                        instrument=instrument,
                        pitch=pitch,
                        seconds=len(audio) / SAMPLE_RATE,
                        peak_dbfs=_db(float(np.max(np.abs(audio)))),
                        rms_dbfs=_db(float(np.sqrt(np.mean(np.square(audio))))),
                    )
                )
    notice = out_dir / NOTICE_NAME
    if not notice.exists() or notice.read_text(encoding="utf-8") != NOTICE:
        notice.write_text(NOTICE, encoding="utf-8")
    written = {s.name for s in samples}
    for old in sorted(out_dir.glob("*.ogg")):
        if old.name.split("_", 1)[0] in instruments and old.name not in written:
            old.unlink()
            log.info("band_sample_removed", file=old.name)
    package = _package_root(out_dir)
    if package is not None:
        _unity_meta.write(package)
    return samples


def _package_root(folder: Path) -> Path | None:
    """The Unity package `folder` lies in (the nearest folder above with a package.json)."""
    for parent in [folder, *folder.resolve().parents]:
        if (parent / "package.json").is_file():
            return parent
    return None
