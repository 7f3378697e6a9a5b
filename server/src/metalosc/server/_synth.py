"""FluidSynth as the band: a General MIDI soundfont playing the daemon's notes, to a WAV file or
to the sound card.

:class:`BandSynth` is one FluidSynth synthesizer (through the ``pyfluidsynth`` binding) with the
band's programs on the band's channels (Distortion Guitar, Electric Bass, the GM kit on channel
10). :class:`FrameScheduler` applies events at exact sample frames while it renders — a note
asked for at frame *n* starts at frame *n*, give or take FluidSynth's 64-frame block — which is
how both the live listener's WAV and an offline render keep every note on its beat.
:func:`render_midi_wav` renders a whole MIDI file offline (its own programs and tempo map).

FluidSynth is optional for the daemon: without the library or a soundfont, everything here raises
:class:`SynthUnavailableError` with the command that installs what is missing.
"""

from __future__ import annotations

import heapq
import itertools
import os
import tempfile
import wave
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
from metalosc.protocol import INSTRUMENTS
from metalosc.runtime import PROGRAMS

from ._midifile import CHANNELS

__all__ = [
    "DEFAULT_SOUNDFONT",
    "SAMPLE_RATE",
    "BandSynth",
    "FrameScheduler",
    "SynthUnavailableError",
    "WavWriter",
    "render_midi_wav",
]

DEFAULT_SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
"""Debian's ``fluid-soundfont-gm``: a complete General MIDI soundfont."""
SAMPLE_RATE = 44100
"""Frames per second of everything rendered (CD rate)."""
GAIN = 0.5
"""FluidSynth's master gain: its default (0.2) leaves a three-piece band 14 dB below full
scale; 0.5 brings loud passages near -6 dBFS without clipping (measured on the default
models' takes)."""
INSTALL_HINT = "apt-get install fluidsynth fluid-soundfont-gm"

Samples = npt.NDArray[np.int16]
"""Rendered audio: ``[frames, 2]`` int16, stereo."""


class SynthUnavailableError(Exception):
    """FluidSynth or the soundfont cannot be had; the message says what to install."""


def _fluidsynth() -> ModuleType:
    try:
        import fluidsynth
    except (ImportError, OSError) as exc:  # the binding loads libfluidsynth when imported
        raise SynthUnavailableError(
            f"the FluidSynth library cannot be loaded ({exc}): {INSTALL_HINT}"
        ) from exc
    module: ModuleType = fluidsynth
    return module


class BandSynth:
    """A FluidSynth synthesizer playing ``soundfont`` with the band's GM programs on the band's
    channels (``programs``: channel → program, default the band's), at ``sample_rate`` frames
    per second.

    Raises :class:`SynthUnavailableError` when the library or the soundfont cannot be loaded.
    FluidSynth's API is thread-safe: notes may be played from one thread while another renders.
    """

    def __init__(
        self,
        soundfont: Path = DEFAULT_SOUNDFONT,
        *,
        sample_rate: int = SAMPLE_RATE,
        gain: float = GAIN,
        programs: Mapping[int, int] | None = None,
    ) -> None:
        if not soundfont.is_file():
            raise SynthUnavailableError(f"no soundfont at {soundfont}: {INSTALL_HINT}")
        fluidsynth = _fluidsynth()
        self.sample_rate = sample_rate
        self.soundfont = soundfont
        self._synth: Any = fluidsynth.Synth(gain=gain, samplerate=float(sample_rate))
        self._driver_started = False
        sfid = self._synth.sfload(str(soundfont))
        if sfid == -1:
            self._synth.delete()
            raise SynthUnavailableError(f"FluidSynth cannot load the soundfont {soundfont}")
        self._sfid = sfid
        band = {CHANNELS[i]: PROGRAMS[i] for i in INSTRUMENTS}
        for channel, program in (band if programs is None else programs).items():
            self.program(channel, program)

    def program(self, channel: int, program: int) -> None:
        """Select GM ``program`` (0-based) on ``channel`` (0-based; channel 9 plays drum kits)."""
        self._synth.program_change(channel, program)

    def note_on(self, channel: int, pitch: int, velocity: int) -> None:
        """Start ``pitch`` on ``channel`` (velocity 0 ends it, as in MIDI)."""
        self._synth.noteon(channel, pitch, velocity)

    def note_off(self, channel: int, pitch: int) -> None:
        """End ``pitch`` on ``channel``."""
        self._synth.noteoff(channel, pitch)

    def control(self, channel: int, control: int, value: int) -> None:
        """A MIDI control change."""
        self._synth.cc(channel, control, value)

    def pitch_bend(self, channel: int, value: int) -> None:
        """A MIDI pitch bend, -8192..8191."""
        self._synth.pitch_bend(channel, value)

    def render(self, frames: int) -> Samples:
        """The next ``frames`` frames of audio, ``[frames, 2]`` int16."""
        if frames <= 0:
            return np.zeros((0, 2), dtype=np.int16)
        data = self._synth.get_samples(frames)
        return np.asarray(data, dtype=np.int16).reshape(frames, 2)

    def start_audio(self, driver: str | None = None) -> None:
        """Play to the sound card through FluidSynth's own audio driver (``driver``: ``alsa``,
        ``pulseaudio``, ``jack`` …; default FluidSynth's). Raises
        :class:`SynthUnavailableError` when no audio output can be opened."""
        try:
            self._synth.start(driver=driver) if driver else self._synth.start()
        except Exception as exc:  # the binding raises bare Exceptions for a missing driver
            raise SynthUnavailableError(f"no audio output ({exc})") from exc
        if not getattr(self._synth, "audio_driver", None):
            raise SynthUnavailableError(
                "FluidSynth could not open an audio output (no sound card?): "
                "use --wav FILE or --midi-out"
            )
        self._driver_started = True

    def close(self) -> None:
        """Free the synthesizer (and its audio driver)."""
        self._synth.delete()


class FrameScheduler:
    """Events applied at exact frames of ``synth``'s output while it renders.

    ``at(frame, action)`` queues ``action()`` for ``frame``; :meth:`render_to` renders up to a
    frame, stopping at every queued frame on the way to apply what is due there. An event for a
    frame already rendered is applied at once (and counted in ``late``)."""

    def __init__(self, synth: BandSynth) -> None:
        self.synth = synth
        self.frame = 0
        """Frames rendered so far."""
        self.late = 0
        self._queue: list[tuple[int, int, Callable[[], None]]] = []
        self._order = itertools.count()

    def at(self, frame: int, action: Callable[[], None]) -> None:
        """Apply ``action`` when rendering reaches ``frame`` (events at one frame keep their
        order)."""
        if frame < self.frame:
            self.late += 1
            frame = self.frame
        heapq.heappush(self._queue, (frame, next(self._order), action))

    def render_to(self, frame: int) -> Samples:
        """Render frames ``self.frame`` .. ``frame`` with every event applied on its frame."""
        chunks: list[Samples] = []
        while self.frame < frame:
            while self._queue and self._queue[0][0] <= self.frame:
                heapq.heappop(self._queue)[2]()
            stop = frame if not self._queue else min(frame, self._queue[0][0])
            chunks.append(self.synth.render(stop - self.frame))
            self.frame = stop
        while self._queue and self._queue[0][0] <= self.frame:
            heapq.heappop(self._queue)[2]()
        if not chunks:
            return np.zeros((0, 2), dtype=np.int16)
        return np.concatenate(chunks)

    @property
    def pending(self) -> int:
        """Events queued and not yet applied."""
        return len(self._queue)


class WavWriter:
    """A 16-bit stereo WAV file written as it is rendered, into a temporary file beside ``path``
    that replaces ``path`` only on :meth:`close` (a listener stopped midway leaves no
    half-written file where a good one was; :meth:`discard` drops it)."""

    def __init__(self, path: Path, sample_rate: int = SAMPLE_RATE) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        self._tmp = Path(name)
        self._wav = wave.open(str(self._tmp), "wb")  # noqa: SIM115 - closed by close/discard
        self._wav.setnchannels(2)
        self._wav.setsampwidth(2)
        self._wav.setframerate(sample_rate)
        self.frames = 0

    def write(self, samples: Samples) -> None:
        """Append ``[frames, 2]`` int16 samples."""
        self._wav.writeframes(np.ascontiguousarray(samples, dtype="<i2").tobytes())
        self.frames += len(samples)

    def close(self) -> None:
        """Finish the file and put it in place."""
        self._wav.close()
        os.chmod(self._tmp, 0o644)
        os.replace(self._tmp, self.path)

    def discard(self) -> None:
        """Drop what was written."""
        self._wav.close()
        self._tmp.unlink(missing_ok=True)


def render_midi_wav(
    midi_path: Path,
    out: Path,
    soundfont: Path = DEFAULT_SOUNDFONT,
    *,
    tail_s: float = 2.0,
    sample_rate: int = SAMPLE_RATE,
) -> float:
    """Render the MIDI file ``midi_path`` through FluidSynth to the WAV file ``out``
    (atomically) with its own tempo map and programs, plus ``tail_s`` seconds for the last
    notes to ring out. Returns the WAV's length in seconds.

    Raises :class:`SynthUnavailableError` without FluidSynth or the soundfont, and
    ``MidiFileError`` for a file that is not MIDI."""
    import mido

    from ._midifile import MidiFileError

    try:
        midi = mido.MidiFile(midi_path)
    except (OSError, EOFError, ValueError, KeyError, IndexError) as exc:
        raise MidiFileError(f"{midi_path}: not a readable MIDI file ({exc})") from exc
    synth = BandSynth(soundfont, sample_rate=sample_rate)
    scheduler = FrameScheduler(synth)
    writer = WavWriter(out, sample_rate)
    try:
        seconds = 0.0
        for message in midi:  # merged tracks, times in seconds through the tempo map
            seconds += message.time
            action = _synth_action(synth, message)
            if action is not None:
                scheduler.at(round(seconds * sample_rate), action)
        end = round((seconds + tail_s) * sample_rate)
        block = sample_rate  # a second at a time: memory stays flat for long takes
        while scheduler.frame < end:
            writer.write(scheduler.render_to(min(end, scheduler.frame + block)))
    except BaseException:
        writer.discard()
        synth.close()
        raise
    writer.close()
    synth.close()
    return writer.frames / sample_rate


def _synth_action(synth: BandSynth, message: Any) -> Callable[[], None] | None:
    kind = message.type
    if kind == "note_on":
        return lambda: synth.note_on(message.channel, message.note, message.velocity)
    if kind == "note_off":
        return lambda: synth.note_off(message.channel, message.note)
    if kind == "program_change":
        return lambda: synth.program(message.channel, message.program)
    if kind == "control_change":
        return lambda: synth.control(message.channel, message.control, message.value)
    if kind == "pitchwheel":
        return lambda: synth.pitch_bend(message.channel, message.pitch)
    return None
