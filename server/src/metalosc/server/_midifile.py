"""Takes as Standard MIDI Files, and MIDI files read back as notes (with mido).

A take is written as a type-1 file that MuseScore and any DAW open: a conductor track (4/4, the
tempo map, a marker and a key signature where each section starts) and one track per instrument
on the General MIDI programs the band plays (:data:`metalosc.runtime.PROGRAMS`: Distortion
Guitar, Electric Bass, the drum kit on channel 10). Beats become ticks at
:data:`TICKS_PER_BEAT`, exactly for the daemon's sixteenth-note grid.

MIDI has no way to hold two notes of one pitch on one channel at once (a note-off ends both), so a
note that would still sound when the same pitch starts again is ended there.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import mido
from metalosc.protocol import INSTRUMENTS, Instrument, write_atomic
from metalosc.runtime import BEATS_PER_BAR, DRUM_CHANNEL, PROGRAMS

from ._take import Take, TakeNote

__all__ = [
    "CHANNELS",
    "TICKS_PER_BEAT",
    "TRACK_NAMES",
    "MidiFileError",
    "MidiNote",
    "MidiScore",
    "read_midi",
    "take_midi",
    "write_take",
]

TICKS_PER_BEAT = 480
"""Ticks per beat of a written take: a sixteenth is 120 ticks, a triplet eighth 160."""
CHANNELS: Mapping[Instrument, int] = MappingProxyType(
    {"guitar": 0, "bass": 1, "drums": DRUM_CHANNEL}
)
"""The MIDI channel (0-based) of each instrument; the drums on GM's percussion channel."""
TRACK_NAMES: Mapping[Instrument, str] = MappingProxyType(
    {"guitar": "Distortion Guitar", "bass": "Electric Bass", "drums": "Drums"}
)
"""Each instrument's track name."""


class MidiFileError(Exception):
    """A MIDI file that cannot be read; the message names it and says why."""


@dataclass(frozen=True)
class MidiNote:
    """A note read from a MIDI file: its track's name, channel (0-based), pitch, velocity, and
    onset and end in ticks and in beats."""

    track: str
    channel: int
    pitch: int
    velocity: int
    start_tick: int
    end_tick: int
    start: float
    end: float

    @property
    def instrument(self) -> Instrument | None:
        """The band's instrument this note was written for, by its channel (``None``: another)."""
        for instrument, channel in CHANNELS.items():
            if channel == self.channel:
                return instrument
        return None


@dataclass(frozen=True)
class MidiScore:
    """What :func:`read_midi` read: the notes in onset order, the tempo map as (beat, bpm), the
    markers as (beat, text), ticks per beat, the length in beats and the file's programs per
    channel (the first program change of each)."""

    notes: tuple[MidiNote, ...]
    tempos: tuple[tuple[float, float], ...]
    markers: tuple[tuple[float, str], ...]
    ticks_per_beat: int
    beats: float
    programs: Mapping[int, int]


def _ticks(beat: float) -> int:
    return round(beat * TICKS_PER_BEAT)


def _playable(notes: Iterable[TakeNote]) -> list[tuple[int, int, int, int]]:
    """(start tick, end tick, pitch, velocity) of one channel's notes, in onset order, with a
    note cut where its pitch starts again and same-onset duplicates merged (loudest kept)."""
    by_pitch: dict[int, list[tuple[int, int, int]]] = {}
    for note in notes:
        start, end = _ticks(note.start), _ticks(note.end)
        if end <= start:
            end = start + 1
        by_pitch.setdefault(note.pitch, []).append((start, end, note.velocity))
    out: list[tuple[int, int, int, int]] = []
    for pitch, spans in by_pitch.items():
        spans.sort()
        merged: list[tuple[int, int, int]] = []
        for start, end, velocity in spans:
            if merged and merged[-1][0] == start:
                s, e, v = merged[-1]
                merged[-1] = (s, max(e, end), max(v, velocity))
                continue
            if merged and merged[-1][1] > start:
                s, _, v = merged[-1]
                merged[-1] = (s, start, v)
            merged.append((start, end, velocity))
        out.extend((s, e, pitch, v) for s, e, v in merged)
    out.sort()
    return out


def _timed(events: list[tuple[int, int, mido.Message | mido.MetaMessage]]) -> mido.MidiTrack:
    """A track from (tick, order, message): sorted, delta times, ended."""
    track = mido.MidiTrack()
    now = 0
    for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(message.copy(time=tick - now))
        now = tick
    return track


def take_midi(take: Take, *, title: str = "MetalOSC") -> mido.MidiFile:
    """``take`` as a type-1 MIDI file (module docstring); ``title`` names the conductor track."""
    end = _ticks(take.beats)
    conductor: list[tuple[int, int, mido.Message | mido.MetaMessage]] = [
        (0, 0, mido.MetaMessage("track_name", name=title)),
        (0, 1, mido.MetaMessage("time_signature", numerator=BEATS_PER_BAR, denominator=4)),
    ]
    for beat, bpm in take.tempos:
        tempo = mido.bpm2tempo(bpm)
        conductor.append((_ticks(beat), 2, mido.MetaMessage("set_tempo", tempo=tempo)))
    key = None
    for mark in take.sections:
        tick = _ticks(mark.beat)
        if mark.key != key:
            key = mark.key
            conductor.append((tick, 3, mido.MetaMessage("key_signature", key=f"{key}m")))
        label = mark.label or f"section {mark.index}"
        text = f"{label} ({mark.key} minor, tension {mark.tension:.2f})"
        conductor.append((tick, 4, mido.MetaMessage("marker", text=text)))
    conductor.append((end, 9, mido.MetaMessage("end_of_track")))
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    midi.tracks.append(_timed(conductor))
    for instrument in INSTRUMENTS:
        channel = CHANNELS[instrument]
        events: list[tuple[int, int, mido.Message | mido.MetaMessage]] = [
            (0, 0, mido.MetaMessage("track_name", name=TRACK_NAMES[instrument])),
            (0, 1, mido.Message("program_change", channel=channel, program=PROGRAMS[instrument])),
        ]
        last = 0
        for start, stop, pitch, velocity in _playable(take.part(instrument)):
            # at one tick, note-offs go before note-ons: a repeated note sounds again
            events.append(
                (start, 3, mido.Message("note_on", channel=channel, note=pitch, velocity=velocity))
            )
            events.append((stop, 2, mido.Message("note_off", channel=channel, note=pitch)))
            last = max(last, stop)
        events.append((max(end, last), 9, mido.MetaMessage("end_of_track")))
        midi.tracks.append(_timed(events))
    return midi


def write_take(take: Take, path: Path, *, title: str = "MetalOSC") -> None:
    """Write ``take`` as a MIDI file at ``path``, atomically."""
    import io

    buffer = io.BytesIO()
    take_midi(take, title=title).save(file=buffer)
    write_atomic(path, buffer.getvalue())


def read_midi(path: Path) -> MidiScore:
    """The notes, tempo map and markers of the MIDI file at ``path``, in beats.

    Raises :class:`MidiFileError` naming the file when it is missing or not MIDI. A note-on
    without its note-off ends at the end of its track.
    """
    try:
        midi = mido.MidiFile(path)
    except (OSError, EOFError, ValueError, KeyError, IndexError) as exc:
        raise MidiFileError(f"{path}: not a readable MIDI file ({exc})") from exc
    if midi.type == 2:
        raise MidiFileError(f"{path}: a type-2 MIDI file (independent songs) is not supported")
    tpb = midi.ticks_per_beat
    notes: list[MidiNote] = []
    tempos: list[tuple[float, float]] = []
    markers: list[tuple[float, str]] = []
    programs: dict[int, int] = {}
    length = 0
    for track in midi.tracks:
        name = ""
        tick = 0
        sounding: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for message in track:
            tick += message.time
            if message.type == "track_name" and not name:
                name = message.name
            elif message.type == "set_tempo":
                tempos.append((tick / tpb, mido.tempo2bpm(message.tempo)))
            elif message.type == "marker":
                markers.append((tick / tpb, message.text))
            elif message.type == "program_change":
                programs.setdefault(message.channel, message.program)
            elif message.type == "note_on" and message.velocity > 0:
                sounding.setdefault((message.channel, message.note), []).append(
                    (tick, message.velocity)
                )
            elif message.type in ("note_off", "note_on"):
                started = sounding.get((message.channel, message.note))
                if started:
                    start, velocity = started.pop(0)
                    notes.append(
                        _note(name, message.channel, message.note, velocity, start, tick, tpb)
                    )
        for (channel, pitch), left in sounding.items():
            notes.extend(_note(name, channel, pitch, v, s, tick, tpb) for s, v in left)
        length = max(length, tick)
    notes.sort(key=lambda n: (n.start_tick, n.channel, n.pitch, n.end_tick))
    tempos.sort()
    markers.sort()
    if not tempos or tempos[0][0] > 0:
        tempos.insert(0, (0.0, 120.0))  # the MIDI default until a tempo is set
    return MidiScore(tuple(notes), tuple(tempos), tuple(markers), tpb, length / tpb, programs)


def _note(
    track: str, channel: int, pitch: int, velocity: int, start: int, end: int, tpb: int
) -> MidiNote:
    return MidiNote(track, channel, pitch, velocity, start, end, start / tpb, end / tpb)


def seconds_at(tempos: Sequence[tuple[float, float]], beat: float) -> float:
    """Seconds from beat 0 to ``beat`` under the tempo map ``tempos`` ((beat, bpm), sorted,
    the first at beat 0)."""
    seconds = 0.0
    for k, (at, bpm) in enumerate(tempos):
        following = tempos[k + 1][0] if k + 1 < len(tempos) else None
        if following is not None and following <= beat:
            seconds += (following - at) * 60.0 / bpm
            continue
        return seconds + (beat - at) * 60.0 / bpm
    return seconds
