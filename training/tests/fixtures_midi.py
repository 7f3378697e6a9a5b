"""Tiny MIDI and NoteSequence builders for the training tests (no third-party MIDI in the repo).

MIDI files are written with mido, an independent writer, so the tests exercise the real
parse path (note_seq / pretty_midi) on bytes they did not produce themselves. Times are in
beats (quarter notes) so fixtures read like music; import with ``from .fixtures_midi import``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import mido
from note_seq.protobuf import music_pb2

TICKS_PER_BEAT = 480
DRUM_CHANNEL = 9  # MIDI channel 10, 0-based

#: A MIDI file that is not one: the header chunk is cut off after a few bytes.
CORRUPT_MIDI = b"MThd\x00\x00\x00\x06\x00\x01\x00"


@dataclass(frozen=True)
class Note:
    """One note: pitch, start and end in beats, velocity."""

    pitch: int
    start: float
    end: float
    velocity: int = 100


@dataclass(frozen=True)
class Track:
    """One MIDI track: a name, a GM program (0-based), a channel, notes."""

    notes: Sequence[Note]
    program: int = 0
    name: str = ""
    channel: int = 0
    set_program: bool = True


@dataclass(frozen=True)
class Song:
    """A type-1 MIDI file: a conductor track (tempo map, time signatures) plus tracks.

    ``tempos`` are (beat, qpm), ``time_signatures`` (beat, numerator, denominator); an empty
    ``time_signatures`` writes none (MIDI's default 4/4).
    """

    tracks: Sequence[Track]
    tempos: Sequence[tuple[float, float]] = ((0.0, 120.0),)
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
            events.append(
                (0, 1, mido.Message("program_change", program=track.program, channel=track.channel))
            )
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


def write_song(path: Path, song: Song) -> Path:
    """Writes the song to ``path`` (parents created) and returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(midi_bytes(song))
    return path


def power_chord_riff(root: int = 40, bars: int = 4, velocity: int = 100) -> list[Note]:
    """Eighth-note power chords (root, fifth, octave) walking E-E-G-A per bar: a Metal riff."""
    notes: list[Note] = []
    roots = [root, root, root + 3, root + 5]
    for bar in range(bars):
        for eighth in range(8):
            start = bar * 4 + eighth * 0.5
            r = roots[(bar * 8 + eighth) // 4 % len(roots)]
            for interval in (0, 7, 12):
                notes.append(Note(r + interval, start, start + 0.5, velocity))
    return notes


def bass_line(root: int = 28, bars: int = 4, velocity: int = 100) -> list[Note]:
    """Eighth-note bass following :func:`power_chord_riff`'s roots an octave lower."""
    return [
        Note(n.pitch - 12, n.start, n.end, velocity)
        for n in power_chord_riff(root + 12, bars, velocity)
        if (n.pitch - root - 12) in (0, 3, 5)
    ]


def drum_beat(bars: int = 4, velocity: int = 100) -> list[Note]:
    """A rock beat: kick on 1 and 3, snare on 2 and 4, closed hi-hat eighths."""
    notes: list[Note] = []
    for bar in range(bars):
        for beat in range(4):
            t = bar * 4 + beat
            notes.append(Note(36 if beat % 2 == 0 else 38, t, t + 0.25, velocity))
        for eighth in range(8):
            t = bar * 4 + eighth * 0.5
            notes.append(Note(42, t, t + 0.25, velocity))
    return notes


def metal_song(bars: int = 4, *, qpm: float = 120.0) -> Song:
    """Guitar (program 30), bass (33), drums (channel 10) and a piano the splitter ignores."""
    return Song(
        tracks=[
            Track(power_chord_riff(bars=bars), program=30, name="Lead"),
            Track(bass_line(bars=bars), program=33, name="E.Bass"),
            Track(drum_beat(bars=bars), program=0, name="Drums", channel=DRUM_CHANNEL),
            Track([Note(60, 0, 4)], program=0, name="Piano", channel=1),
        ],
        tempos=((0.0, qpm),),
    )


def note_sequence(
    notes: Sequence[Note],
    *,
    qpm: float = 120.0,
    is_drum: bool = False,
    program: int = 0,
    instrument: int = 0,
) -> music_pb2.NoteSequence:
    """An unquantized NoteSequence (seconds at ``qpm``, 4/4) holding ``notes`` on one track."""
    seq = music_pb2.NoteSequence(ticks_per_quarter=220)
    seq.tempos.add(time=0.0, qpm=qpm)
    seq.time_signatures.add(time=0.0, numerator=4, denominator=4)
    seconds = 60.0 / qpm
    for n in notes:
        seq.notes.add(
            pitch=n.pitch,
            velocity=n.velocity,
            start_time=n.start * seconds,
            end_time=n.end * seconds,
            is_drum=is_drum,
            program=program,
            instrument=instrument,
        )
    seq.total_time = max((n.end_time for n in seq.notes), default=0.0)
    return seq


# -- hand-made 2-bar phrases (NoteSequences) for the harmony and quality measures -----------


def quantized(
    notes: list[tuple[int, int]], *, steps_per_quarter: int = 4
) -> music_pb2.NoteSequence:
    """A quantized bass phrase from (pitch, start step) pairs, each a 16th long."""
    seq = music_pb2.NoteSequence()
    seq.tempos.add(qpm=120.0)
    seq.quantization_info.steps_per_quarter = steps_per_quarter
    for pitch, step in notes:
        note = seq.notes.add(pitch=pitch, velocity=100)
        note.quantized_start_step = step
        note.quantized_end_step = step + 1
    seq.total_quantized_steps = 2 * 4 * steps_per_quarter
    return seq


def timed(notes: list[tuple[int, float]], qpm: float = 120.0) -> music_pb2.NoteSequence:
    """An unquantized phrase from (pitch, start seconds) pairs."""
    seq = music_pb2.NoteSequence()
    seq.tempos.add(qpm=qpm)
    for pitch, start in notes:
        seq.notes.add(pitch=pitch, velocity=100, start_time=start, end_time=start + 0.1)
    return seq
