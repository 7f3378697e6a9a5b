"""Tiny MIDI files for the training tests (no third-party MIDI in the repo).

MIDI files are written with mido, an independent writer, so the tests exercise the real
parse path (note_seq / pretty_midi) on bytes they did not produce themselves. Times are in
beats (quarter notes) so fixtures read like music; import with ``from .fixtures_midi import``.
The NoteSequence builders and the note material (riffs, bass lines, beats) are
:mod:`metalosc.runtime.testing`'s, re-exported here.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mido
from metalosc.runtime import DEFAULT_QPM, DRUM_CHANNEL, PROGRAMS
from metalosc.runtime.testing import (
    Note,
    bass_line,
    drum_beat,
    note_sequence,
    power_chord_riff,
    quantized,
    timed,
)

__all__ = [
    "CORRUPT_MIDI",
    "DRUM_CHANNEL",
    "TICKS_PER_BEAT",
    "Note",
    "Song",
    "Track",
    "add_chunk",
    "bass_line",
    "drum_beat",
    "insert_event",
    "metal_song",
    "midi_bytes",
    "note_sequence",
    "power_chord_riff",
    "quantized",
    "timed",
    "write_song",
]

TICKS_PER_BEAT = 480

#: A MIDI file that is not one: the header chunk is cut off after a few bytes.
CORRUPT_MIDI = b"MThd\x00\x00\x00\x06\x00\x01\x00"


@dataclass(frozen=True)
class Track:
    """One MIDI track: a name, a GM program (0-based), a channel, notes."""

    notes: Sequence[Note]
    program: int = 0
    name: str = ""
    channel: int = 0
    set_program: bool = True
    program_at: float = 0.0
    """Beat of the program change (after the first notes: a pickup)."""
    programs: Sequence[tuple[float, int, int]] = ()
    """More program changes: (beat, channel, program) — a conductor track's, or a switch."""


@dataclass(frozen=True)
class Song:
    """A type-1 MIDI file: a conductor track (tempo map, time signatures) plus tracks.

    ``tempos`` are (beat, qpm), ``time_signatures`` (beat, numerator, denominator); an empty
    ``time_signatures`` writes none (MIDI's default 4/4).
    """

    tracks: Sequence[Track]
    tempos: Sequence[tuple[float, float]] = ((0.0, DEFAULT_QPM),)
    time_signatures: Sequence[tuple[float, int, int]] = ((0.0, 4, 4),)
    extra: dict[str, str] = field(default_factory=dict)


def _ticks(beats: float) -> int:
    return round(beats * TICKS_PER_BEAT)


def _absolute_to_delta(events: list[tuple[int, int, mido.Message]]) -> mido.MidiTrack:
    track = mido.MidiTrack()
    now = 0
    for tick, _, message in sorted(events, key=lambda e: (e[0], e[1])):
        track.append(message.copy(time=tick - now))
        now = tick
    return track


def midi_bytes(song: Song) -> bytes:
    """The song as Standard MIDI File bytes."""
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    conductor: list[tuple[int, int, mido.Message]] = []
    for beat, qpm in song.tempos:
        conductor.append(
            (_ticks(beat), 0, mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(qpm)))
        )
    for beat, numerator, denominator in song.time_signatures:
        conductor.append(
            (
                _ticks(beat),
                0,
                mido.MetaMessage("time_signature", numerator=numerator, denominator=denominator),
            )
        )
    midi.tracks.append(_absolute_to_delta(conductor))
    for track in song.tracks:
        events: list[tuple[int, int, mido.Message]] = []
        if track.name:
            events.append((0, 0, mido.MetaMessage("track_name", name=track.name)))
        if track.set_program:
            change = mido.Message("program_change", program=track.program, channel=track.channel)
            events.append((_ticks(track.program_at), 1, change))
        for beat, channel, program in track.programs:
            change = mido.Message("program_change", program=program, channel=channel)
            events.append((_ticks(beat), 1, change))
        for note in track.notes:
            on = mido.Message(
                "note_on", note=note.pitch, velocity=note.velocity, channel=track.channel
            )
            off = mido.Message("note_off", note=note.pitch, velocity=0, channel=track.channel)
            events.append((_ticks(note.start), 3, on))
            events.append((_ticks(note.end), 2, off))
        midi.tracks.append(_absolute_to_delta(events))
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def _chunks(midi: bytes) -> list[tuple[int, int]]:
    """(start, end) of every chunk after the header."""
    out = []
    position = 8 + struct.unpack_from(">L", midi, 4)[0]
    while position + 8 <= len(midi):
        end = position + 8 + struct.unpack_from(">L", midi, position + 4)[0]
        out.append((position, end))
        position = end
    return out


def insert_event(midi: bytes, track: int, raw: bytes) -> bytes:
    """``midi`` with the raw event bytes ``raw`` (delta time included) first in track ``track``
    (from 0), the track's length fixed: for events mido refuses to write."""
    start, end = _chunks(midi)[track]
    body = raw + midi[start + 8 : end]
    return midi[:start] + b"MTrk" + struct.pack(">L", len(body)) + body + midi[end:]


def add_chunk(midi: bytes, name: bytes, body: bytes, before_track: int | None = None) -> bytes:
    """``midi`` with a chunk of type ``name`` before track ``before_track`` (None: at the end)."""
    chunk = name + struct.pack(">L", len(body)) + body
    if before_track is None:
        return midi + chunk
    start, _ = _chunks(midi)[before_track]
    return midi[:start] + chunk + midi[start:]


def write_song(path: Path, song: Song) -> Path:
    """Writes the song to ``path`` (parents created) and returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(midi_bytes(song))
    return path


def metal_song(bars: int = 4, *, qpm: float = DEFAULT_QPM) -> Song:
    """Guitar (program 30), bass (33), drums (channel 10) and a piano the splitter ignores."""
    return Song(
        tracks=[
            Track(power_chord_riff(bars=bars), program=PROGRAMS["guitar"], name="Lead"),
            Track(bass_line(bars=bars), program=PROGRAMS["bass"], name="E.Bass"),
            Track(drum_beat(bars=bars), program=0, name="Drums", channel=DRUM_CHANNEL),
            Track([Note(60, 0, 4)], program=0, name="Piano", channel=1),
        ],
        tempos=((0.0, qpm),),
    )
