"""``metalosc listen``: hear a running daemon — its notes played through FluidSynth, each on its
bundle's timetag, or sent to a MIDI port for a DAW's own instruments.

The listener is a subscriber like any game: one UDP socket, ``/metal/subscribe`` with its own
port and a lease, renewed every ``renew_s`` seconds for as long as it runs (so it never lapses),
and ``/metal/unsubscribe`` when it stops. Every ``/metal/note`` in a bundle becomes a
:class:`TimedNote` due at the bundle's timetag (unix seconds; arrival time for an immediate
bundle) — the daemon sends bundles ``lookahead`` seconds early precisely so that a listener can
schedule them — and goes to every sink:

* :class:`WavSink` renders the live audio into a WAV file: frame 0 is the moment it started
  (unix seconds, logged), a note due at unix *t* starts at frame ``(t - start) · rate``, and
  rendering follows the wall clock ``latency`` seconds behind, so notes that arrive on time are
  placed sample-accurately (those that arrive later are counted as late);
* :class:`SoundCardSink` plays through FluidSynth's audio driver, each note on at its time;
* :class:`MidiOutSink` sends note-on/off to a MIDI output (a new ALSA virtual port by default:
  mido on python-rtmidi), each at its time.
"""

from __future__ import annotations

import heapq
import itertools
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import structlog
import trio
from metalosc.protocol import (
    Bundle,
    Instrument,
    Note,
    ProtocolError,
    SectionStarted,
    State,
    Subscribe,
    Unsubscribe,
    decode_packet,
    encode,
)

from ._midifile import CHANNELS
from ._synth import BandSynth, FrameScheduler, WavWriter

__all__ = [
    "DEFAULT_LEASE_S",
    "ListenOptions",
    "ListenReport",
    "MidiOutSink",
    "NoteSink",
    "SoundCardSink",
    "TimedNote",
    "WavSink",
    "listen",
    "notes_of",
    "run_listener",
]

log = structlog.get_logger("metalosc.server.listen")

DEFAULT_LEASE_S = 30
"""The lease the listener asks for: long enough that a missed renewal or two does not drop it,
short enough that the daemon forgets a listener that was killed within half a minute."""
RENEW_FRACTION = 1 / 3
"""The listener renews its subscription every third of its lease."""
SILENCE_WARNING_S = 3.0
"""Seconds without a word from the daemon before the listener says so."""


@dataclass(frozen=True)
class TimedNote:
    """A note to sound: instrument, MIDI pitch and velocity, when (unix seconds) and for how
    long (seconds)."""

    instrument: Instrument
    pitch: int
    velocity: int
    at_unix: float
    duration_s: float

    @property
    def channel(self) -> int:
        """The instrument's MIDI channel (0-based; drums on 9)."""
        return CHANNELS[self.instrument]


def notes_of(bundle: Bundle, arrived_unix: float) -> list[TimedNote]:
    """The notes of ``bundle``, due at its timetag (unix seconds), or at ``arrived_unix`` for an
    immediate one."""
    at = bundle.timetag if bundle.timetag is not None else arrived_unix
    return [
        TimedNote(m.instrument, m.pitch, m.velocity, at, m.duration_s)
        for m in bundle.messages
        if isinstance(m, Note)
    ]


class NoteSink(Protocol):
    """Where the listener's notes go. ``play`` must not block."""

    def play(self, note: TimedNote) -> None:
        """Sound ``note`` at its time."""
        ...


class WavSink:
    """Renders the notes into a WAV file as they come, in a thread of its own (:meth:`run`).

    ``synth`` plays; frame 0 is unix time ``start_unix``; rendering runs ``latency`` seconds
    behind the wall clock (``clock``, unix seconds) and stops after ``seconds`` (``None``: when
    :meth:`stop` is called). The file appears, whole, when :meth:`run` returns."""

    def __init__(
        self,
        synth: BandSynth,
        path: Path,
        *,
        start_unix: float,
        seconds: float | None,
        latency: float = 0.1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.synth = synth
        self.path = path
        self.start_unix = start_unix
        self.seconds = seconds
        self.latency = latency
        self.clock = clock
        self.scheduler = FrameScheduler(synth)
        self.notes = 0
        self._incoming: queue.SimpleQueue[TimedNote] = queue.SimpleQueue()
        self._stop = threading.Event()

    def play(self, note: TimedNote) -> None:
        """Queue ``note`` for the render thread."""
        self._incoming.put(note)

    def stop(self) -> None:
        """End the recording at the next block (the file is then finished)."""
        self._stop.set()

    def _frame(self, unix: float) -> int:
        return round((unix - self.start_unix) * self.synth.sample_rate)

    def _take_incoming(self) -> None:
        synth = self.synth
        while True:
            try:
                note = self._incoming.get_nowait()
            except queue.Empty:
                return
            self.notes += 1
            channel, pitch, velocity = note.channel, note.pitch, note.velocity
            on = self._frame(note.at_unix)
            off = max(on + 1, self._frame(note.at_unix + note.duration_s))
            self.scheduler.at(on, partial(synth.note_on, channel, pitch, velocity))
            self.scheduler.at(off, partial(synth.note_off, channel, pitch))

    def run(self) -> int:
        """Render until ``seconds`` of audio are written or :meth:`stop` is called; finish the
        file and return the notes it was given (blocking: call it from a worker thread)."""
        rate = self.synth.sample_rate
        end = None if self.seconds is None else round(self.seconds * rate)
        writer = WavWriter(self.path, rate)
        try:
            while True:
                self._take_incoming()
                target = self._frame(self.clock() - self.latency)
                if end is not None:
                    target = min(target, end)
                if target > self.scheduler.frame:
                    writer.write(self.scheduler.render_to(target))
                if (end is not None and self.scheduler.frame >= end) or self._stop.is_set():
                    break
                self._stop.wait(0.01)
        except BaseException:
            writer.discard()
            raise
        writer.close()
        if self.scheduler.late:
            log.warning("listen_late_notes", late=self.scheduler.late // 2)
        return self.notes


@dataclass(order=True)
class _Due:
    at_unix: float
    order: int
    action: Callable[[], None] = field(compare=False)


class _Timed:
    """Actions run in the trio thread at their unix times (trio's sleep is about a millisecond
    late: fine for a sound card's or a DAW's buffer, which is longer)."""

    def __init__(self) -> None:
        self._queue: list[_Due] = []
        self._order = itertools.count()
        self._wake = trio.Event()

    def at(self, unix: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, _Due(unix, next(self._order), action))
        self._wake.set()

    async def run(self) -> None:
        while True:
            if not self._queue:
                self._wake = trio.Event()
                await self._wake.wait()
                continue
            due = self._queue[0]
            wait = due.at_unix - time.time()
            if wait > 0:
                self._wake = trio.Event()
                with trio.move_on_after(wait):
                    await self._wake.wait()
                continue
            heapq.heappop(self._queue).action()


class SoundCardSink:
    """Plays the notes through ``synth``'s audio driver (:meth:`BandSynth.start_audio` first),
    each switched on and off at its time by :meth:`run`."""

    def __init__(self, synth: BandSynth) -> None:
        self.synth = synth
        self._timed = _Timed()

    def play(self, note: TimedNote) -> None:
        """Schedule ``note``."""
        synth, channel, pitch = self.synth, note.channel, note.pitch
        self._timed.at(note.at_unix, lambda: synth.note_on(channel, pitch, note.velocity))
        self._timed.at(note.at_unix + note.duration_s, lambda: synth.note_off(channel, pitch))

    async def run(self) -> None:
        """Forever: switch notes on and off at their times."""
        await self._timed.run()


class MidiOutSink:
    """Sends the notes to ``port`` (a mido output port) as note-on/off on the band's channels,
    each at its time (:meth:`run`); all notes off when closed."""

    def __init__(self, port: Any) -> None:
        self.port = port
        self._timed = _Timed()

    @classmethod
    def open(cls, name: str, *, virtual: bool = True) -> MidiOutSink:
        """A sink on a new ALSA virtual output port called ``name`` (``virtual``), or on the
        existing output port ``name``. Raises ``OSError`` naming the port when it cannot be
        opened (no ALSA sequencer, an unknown port)."""
        import mido

        try:
            port = mido.open_output(name, virtual=virtual)
        except Exception as exc:  # rtmidi raises its own SystemError subclasses
            kind = "a virtual MIDI port" if virtual else "the MIDI port"
            raise OSError(f"cannot open {kind} {name!r}: {exc}") from exc
        return cls(port)

    def play(self, note: TimedNote) -> None:
        """Schedule ``note``."""
        import mido

        on = mido.Message("note_on", channel=note.channel, note=note.pitch, velocity=note.velocity)
        off = mido.Message("note_off", channel=note.channel, note=note.pitch)
        self._timed.at(note.at_unix, lambda: self.port.send(on))
        self._timed.at(note.at_unix + note.duration_s, lambda: self.port.send(off))

    async def run(self) -> None:
        """Forever: send notes at their times."""
        await self._timed.run()

    def close(self) -> None:
        """Silence every channel and close the port."""
        try:
            self.port.reset()
        finally:
            self.port.close()


@dataclass
class ListenReport:
    """What a listener heard: bundles, notes, and whether the daemon ever answered."""

    bundles: int = 0
    notes: int = 0
    answered: bool = False
    sections: list[SectionStarted] = field(default_factory=list)


async def listen(
    server: tuple[str, int],
    sinks: Sequence[NoteSink],
    *,
    bind: str = "127.0.0.1",
    lease_s: int = DEFAULT_LEASE_S,
    report: ListenReport | None = None,
    task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Subscribe to the daemon at ``server`` from a socket on ``bind`` and hand every note it
    sends to the ``sinks``, until cancelled; then unsubscribe. The subscription asks for
    ``lease_s`` seconds and is renewed every third of that. Reports the socket's address once
    its first subscribe is sent; counts what it heard in ``report``."""
    report = report if report is not None else ListenReport()
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await sock.bind((bind, 0))
    with sock:
        address = sock.getsockname()
        subscribe = encode(Subscribe(port=address[1], mode="bundle", lease=lease_s))
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_renew, sock, server, subscribe, lease_s * RENEW_FRACTION)
                nursery.start_soon(_warn_if_silent, report, server)
                task_status.started((address[0], address[1]))
                await _receive(sock, sinks, report)
        finally:
            with trio.CancelScope(shield=True):
                await sock.sendto(encode(Unsubscribe()), server)
            log.info("listen_stopped", bundles=report.bundles, notes=report.notes)


async def _renew(sock: Any, server: tuple[str, int], subscribe: bytes, every_s: float) -> None:
    while True:
        await sock.sendto(subscribe, server)
        await trio.sleep(every_s)


async def _warn_if_silent(report: ListenReport, server: tuple[str, int]) -> None:
    await trio.sleep(SILENCE_WARNING_S)
    if not report.answered:
        log.warning(
            "listen_no_answer",
            server=f"{server[0]}:{server[1]}",
            hint="is `metalosc serve` running there? still trying",
        )


async def _receive(sock: Any, sinks: Sequence[NoteSink], report: ListenReport) -> None:
    while True:
        data, _ = await sock.recvfrom(65536)
        arrived = time.time()
        try:
            packet = decode_packet(data, outgoing=True)
        except ProtocolError as exc:
            log.warning("listen_bad_packet", reason=exc.reason)
            continue
        if not report.answered:
            report.answered = True
            log.info("listen_subscribed")
        if isinstance(packet, State):
            continue
        if not isinstance(packet, Bundle):
            continue
        report.bundles += 1
        for message in packet.messages:
            if isinstance(message, SectionStarted):
                report.sections.append(message)
                log.info(
                    "listen_section",
                    index=message.index,
                    label=message.label,
                    key=message.key,
                    tension=round(message.tension, 2),
                )
        for note in notes_of(packet, arrived):
            report.notes += 1
            for sink in sinks:
                sink.play(note)


@dataclass(frozen=True)
class ListenOptions:
    """What ``metalosc listen`` was asked: the daemon's address, the local address to bind,
    the soundfont, a MIDI output port (``None``: none; ``virtual``: a new ALSA port of that
    name), a WAV file and for how many seconds (``None``: until stopped), the lease to ask
    for, and FluidSynth's audio driver (``None``: its default)."""

    server: tuple[str, int]
    bind: str = "127.0.0.1"
    soundfont: Path | None = None
    midi_out: str | None = None
    virtual: bool = True
    wav: Path | None = None
    seconds: float | None = None
    lease_s: int = DEFAULT_LEASE_S
    audio_driver: str | None = None


async def run_listener(
    options: ListenOptions, stop: trio.Event | None = None, report: ListenReport | None = None
) -> ListenReport:
    """Listen as ``options`` say until ``options.seconds`` have passed or ``stop`` is set, then
    finish the WAV file, close the ports and unsubscribe; what was heard.

    Sound goes to the WAV file when one is named, else to the sound card unless only a MIDI
    port was asked for. Raises ``SynthUnavailableError`` without FluidSynth, its soundfont or
    (for the sound card) an audio output, and ``OSError`` for a MIDI port that cannot be opened.
    """
    from ._synth import DEFAULT_SOUNDFONT

    report = report if report is not None else ListenReport()
    stop = stop if stop is not None else trio.Event()
    sinks: list[NoteSink] = []
    synth: BandSynth | None = None
    midi: MidiOutSink | None = None
    wav: WavSink | None = None
    card: SoundCardSink | None = None
    try:
        if options.wav is not None or options.midi_out is None:
            synth = BandSynth(options.soundfont or DEFAULT_SOUNDFONT)
        if options.wav is not None:
            assert synth is not None
            start = time.time()
            wav = WavSink(synth, options.wav, start_unix=start, seconds=options.seconds)
            log.info(
                "listen_wav_started",
                path=str(options.wav),
                start_unix=start,
                seconds=options.seconds,
                sample_rate=synth.sample_rate,
            )
            sinks.append(wav)
        elif synth is not None:
            synth.start_audio(options.audio_driver)
            card = SoundCardSink(synth)
            sinks.append(card)
        if options.midi_out is not None:
            midi = MidiOutSink.open(options.midi_out, virtual=options.virtual)
            log.info("listen_midi_out", port=options.midi_out, virtual=options.virtual)
            sinks.append(midi)
        async with trio.open_nursery() as nursery:
            await nursery.start(
                partial(
                    listen,
                    options.server,
                    sinks,
                    bind=options.bind,
                    lease_s=options.lease_s,
                    report=report,
                )
            )
            for timed in (card, midi):
                if timed is not None:
                    nursery.start_soon(timed.run)
            if wav is not None:
                recorder = wav

                async def stop_wav() -> None:
                    await stop.wait()
                    recorder.stop()

                nursery.start_soon(stop_wav)
                await trio.to_thread.run_sync(recorder.run)
                log.info("listen_wav_written", path=str(options.wav), notes=recorder.notes)
            elif options.seconds is not None:
                with trio.move_on_after(options.seconds):
                    await stop.wait()
            else:
                await stop.wait()
            nursery.cancel_scope.cancel()
    finally:
        if midi is not None:
            midi.close()
        if synth is not None:
            synth.close()
    return report
