"""Standard MIDI Files as people really write them: read leniently, repaired, bounded in cost.

note_seq's ``midi_to_note_sequence`` parses through pretty_midi and mido, which give up on a whole
file for faults that do not touch its music — a chunk type they do not know, a key signature of
8 sharps, a 2-byte tempo — and name the failure by an exception class, or not at all (an SMPTE
time division ends in "Note end time must be greater than start time"). Their cost is also set by
the file: pretty_midi tabulates the time of every tick up to the last event, so one marker
2**28 ticks late costs gigabytes. And pretty_midi pairs note-offs with *every* open note of the
pitch and gives each note the program current when it *ends*, which loses notes of real files.

So a file is read here first, into the events that matter for training, and handed on to
pretty_midi and note_seq already clean:

- :func:`read_midi` walks the chunks itself (the SMF spec says to skip chunk types one does not
  know), checks the header before anything else (format, SMPTE division), reads every track
  event by event (with mido building each message, so what is kept is what mido would keep) and
  drops or repairs what cannot matter: meta events other than tempo, time and key signature and
  the track name, malformed metas (counted), system messages that have no place in a file,
  sysex. Whole-file problems are :class:`MidiFileError` with a kind and a sentence.
- It bounds the cost: a file over :data:`MAX_FILE_BYTES` is not read, notes beyond
  :data:`MAX_TICKS` are refused, and other events far beyond the last note are dropped, so the
  tick table pretty_midi builds never exceeds MAX_TICKS entries.
- :func:`to_pretty_midi` assembles the instruments itself — one per (track, channel) part, with
  the program that governs the part for every note of it and note-offs paired first in, first out
  — and lets pretty_midi keep the tempo map and signatures exactly as before (from track 0).
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from collections import Counter, OrderedDict, defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, cast

import mido
import pretty_midi
from metalosc.runtime import DRUM_CHANNEL
from mido.messages.specs import SPEC_BY_STATUS
from mido.midifiles.meta import build_meta_message

__all__ = [
    "MAX_FILE_BYTES",
    "MAX_TICKS",
    "MidiContent",
    "MidiFileError",
    "Part",
    "read_midi",
    "to_pretty_midi",
]

FaultKind = Literal["not_midi", "truncated", "unsupported", "too_big", "malformed"]

MAX_FILE_BYTES = 1024 * 1024
"""Larger files are not read: 1 MiB is ~350 k events, ~6 s and ~200 MB to split (the largest
file of the shipped corpora is 155 kB)."""
MAX_TICKS = 2**22
"""The last note may sound at most this many ticks in, so pretty_midi's tick table stays under
~35 MB (4.2 M ticks: 73 minutes at 480 ticks per beat and 120 qpm, 36 at 960)."""

_KEPT_CHANNEL = {0x80, 0x90, 0xB0, 0xC0, 0xE0}
"""Note off/on, control change, program change, pitch bend: what pretty_midi reads."""
_SYSTEM_DATA = {0xF1: 1, 0xF2: 2, 0xF3: 1}
"""Data bytes of the system common messages; every other system message (F4-F6, F8-FE) has none."""
_META_NAMES = {
    0x00: "sequence_number",
    0x01: "text",
    0x02: "copyright",
    0x03: "track_name",
    0x04: "instrument_name",
    0x05: "lyrics",
    0x06: "marker",
    0x07: "cue_marker",
    0x20: "channel_prefix",
    0x21: "midi_port",
    0x2F: "end_of_track",
    0x51: "set_tempo",
    0x54: "smpte_offset",
    0x58: "time_signature",
    0x59: "key_signature",
    0x7F: "sequencer_specific",
}
_KEPT_META = {0x03, 0x51, 0x58, 0x59}


class MidiFileError(Exception):
    """A file that cannot be used as a whole: ``kind`` (``not_midi``, ``truncated``,
    ``unsupported``, ``too_big``, ``malformed``) and ``detail``, a sentence naming the cause."""

    def __init__(self, kind: FaultKind, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind: FaultKind = kind
        self.detail = detail


Event = tuple[int, mido.Message | mido.MetaMessage]
"""(absolute tick, message)."""


@dataclass
class MidiContent:
    """What a file holds that matters for training: per track its events at absolute ticks, and
    ``repairs``, how many of each kind of fault were dropped or repaired on the way."""

    format: int
    ticks_per_beat: int
    tracks: list[list[Event]]
    repairs: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Part:
    """One (track, channel) of a file that has notes: where it is, what it is named and the
    program that governs it (see :func:`to_pretty_midi`). ``track`` and ``channel`` count from 1,
    as people do (drums are on channel 10)."""

    track: int
    channel: int
    name: str
    program: int

    @property
    def label(self) -> str:
        """``track 3 "Lead", channel 2`` — how a summary names the part."""
        name = f' "{self.name}"' if self.name else ""
        return f"track {self.track}{name}, channel {self.channel}"


def _u32(data: bytes, position: int) -> int:
    return cast(int, struct.unpack_from(">L", data, position)[0])


def _vlq(body: bytes, position: int, track: int, repairs: Counter[str]) -> tuple[int, int]:
    """A variable-length quantity and where it ends. The spec allows 4 bytes at most; a longer
    one (mido writes 2**28 so) is still unambiguous, and read (counted): whatever it holds, the
    tick limit bounds what it can cost."""
    value = 0
    start = position
    while True:
        if position >= len(body):
            raise MidiFileError("malformed", f"track {track} ends inside an event")
        byte = body[position]
        position += 1
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            if position - start > 4:
                repairs["variable-length number over 4 bytes read"] += 1
            return value, position


def _take(body: bytes, position: int, size: int, track: int) -> bytes:
    if position + size > len(body):
        raise MidiFileError("malformed", f"track {track} ends inside an event")
    return body[position : position + size]


def _meta(kind: int, data: bytes, repairs: Counter[str]) -> mido.MetaMessage | None:
    """The meta event to keep, or None (what does not matter is dropped; what is malformed is
    dropped and counted, or repaired where the rest of it is sure)."""
    if kind not in _KEPT_META:
        return None  # text, markers, SMPTE offset, ...: nothing a model is trained on
    name = _META_NAMES[kind]
    values = list(data)
    if kind == 0x58 and len(values) in (2, 3):
        # numerator and denominator are there; MIDI clocks per click and 32nds per quarter
        # only matter to metronomes: their usual values complete it
        values = values + [24, 8][len(values) - 2 :]
        repairs["short time_signature completed"] += 1
    try:
        message = build_meta_message(kind, values, 0)
    except Exception:  # mido raises KeySignatureError, IndexError, ValueError...
        repairs[f"malformed {name} dropped"] += 1
        return None
    if kind == 0x51 and message.tempo == 0:
        repairs["tempo of 0 dropped"] += 1
        return None
    if kind == 0x58 and (values[0] == 0 or values[1] > 30):
        repairs["malformed time_signature dropped"] += 1
        return None
    return cast(mido.MetaMessage, message)


def _read_track(body: bytes, track: int, repairs: Counter[str]) -> list[Event]:
    events: list[Event] = []
    position = 0
    tick = 0
    status: int | None = None
    while position < len(body):
        delta, position = _vlq(body, position, track, repairs)
        tick += delta
        first = _take(body, position, 1, track)[0]
        if first == 0xFF:
            kind = _take(body, position + 1, 1, track)[0]
            size, position = _vlq(body, position + 2, track, repairs)
            data = _take(body, position, size, track)
            position += size
            if kind == 0x2F:
                if position < len(body):
                    repairs["data after end_of_track ignored"] += 1
                break
            meta = _meta(kind, data, repairs)
            if meta is not None:
                events.append((tick, meta))
            # Running status goes on through metas and sysex: players do so (the edge-case
            # corpus has a scale whose running status spans a sysex).
            continue
        if first in (0xF0, 0xF7):
            size, position = _vlq(body, position + 1, track, repairs)
            _take(body, position, size, track)
            position += size
            continue
        if first > 0xF0:
            # System common and real-time messages are for cables, not files; F4, F5 and
            # F9, FD are even undefined. None has data but F1-F3, so they can be stepped over.
            _take(body, position + 1, _SYSTEM_DATA.get(first, 0), track)
            position += 1 + _SYSTEM_DATA.get(first, 0)
            repairs["system message dropped"] += 1
            continue
        if first >= 0x80:
            status = first
            position += 1
        elif status is None:
            raise MidiFileError(
                "malformed", f"track {track}: data byte 0x{first:02X} where an event should start"
            )
        size = cast(int, SPEC_BY_STATUS[status]["length"]) - 1
        data = _take(body, position, size, track)
        position += size
        bad = next((b for b in data if b >= 0x80), None)
        if bad is not None:
            raise MidiFileError(
                "malformed",
                f"track {track}: byte 0x{bad:02X} inside a channel message at tick {tick}",
            )
        if status & 0xF0 in _KEPT_CHANNEL:
            events.append((tick, mido.Message.from_bytes([status, *data])))
    return events


def _chunk_name(raw: bytes) -> str | None:
    text = raw.decode("latin-1")
    return text if text.isascii() and text.isprintable() else None


def read_midi(data: bytes) -> MidiContent:
    """The events of a Standard MIDI File that matter for training, repairs counted.

    Raises :class:`MidiFileError` naming the cause when the file cannot be used at all.
    """
    if not data:
        raise MidiFileError("not_midi", "empty file")
    if len(data) > MAX_FILE_BYTES:
        raise MidiFileError("too_big", f"{len(data)} bytes; at most {MAX_FILE_BYTES} are read")
    if not data.startswith(b"MThd"):
        raise MidiFileError("not_midi", "no MThd header: not a Standard MIDI File")
    if len(data) < 14:
        raise MidiFileError("truncated", "the file ends inside its header")
    header_size = _u32(data, 4)
    if header_size < 6:
        raise MidiFileError("malformed", f"a header of {header_size} bytes (6 expected)")
    file_format, declared, division = struct.unpack_from(">HHH", data, 8)
    if division & 0x8000:
        fps = 256 - (division >> 8)
        raise MidiFileError(
            "unsupported",
            f"SMPTE time division ({fps} frames per second, {division & 0xFF} ticks per frame) "
            "is not supported",
        )
    if division == 0:
        raise MidiFileError("malformed", "a time division of 0 ticks per beat")
    if file_format == 2:
        raise MidiFileError("unsupported", "format 2 (independent patterns) is not supported")
    if file_format > 2:
        raise MidiFileError("unsupported", f"unknown MIDI file format {file_format}")

    repairs: Counter[str] = Counter()
    tracks: list[list[Event]] = []
    position = 8 + header_size
    if position > len(data):
        raise MidiFileError("truncated", "the file ends inside its header")
    while position < len(data):
        name = _chunk_name(data[position : position + 4]) if len(data) - position >= 8 else None
        if name is None:
            repairs["bytes after the last chunk ignored"] += 1
            break
        size = _u32(data, position + 4)
        start, end = position + 8, position + 8 + size
        if name != "MTrk":
            # The SMF spec: a reader skips the chunk types it does not know.
            repairs["unknown chunk skipped"] += 1
            if end > len(data):
                break
        elif end > len(data):
            raise MidiFileError(
                "truncated",
                f"track {len(tracks) + 1} declares {size} bytes but {len(data) - start} remain",
            )
        else:
            tracks.append(_read_track(data[start:end], len(tracks) + 1, repairs))
        position = end
    if len(tracks) < declared:
        raise MidiFileError(
            "truncated", f"the header declares {declared} tracks, the file has {len(tracks)}"
        )
    if len(tracks) > declared:
        repairs["more tracks than the header declares"] += 1
    content = MidiContent(file_format, division, tracks, repairs)
    _bound_span(content)
    return content


def _bound_span(content: MidiContent) -> None:
    """Refuses notes beyond :data:`MAX_TICKS`; drops other events that lie beyond it after the
    last note, which can change nothing that sounds (see module docstring)."""
    notes = [t for events in content.tracks for t, m in events if m.type in ("note_on", "note_off")]
    last_note = max(notes, default=0)
    if last_note > MAX_TICKS:
        raise MidiFileError(
            "too_big", f"notes {last_note} ticks in; at most {MAX_TICKS} ticks are read"
        )
    last = max((t for events in content.tracks for t, _ in events), default=0)
    if last <= MAX_TICKS:
        return
    for events in content.tracks:
        kept = [(t, m) for t, m in events if t <= last_note]
        content.repairs["events long after the last note dropped"] += len(events) - len(kept)
        events[:] = kept


class _Programs:
    """Which program a note plays when its own track has set none on its channel before it.

    Real files set programs where pretty_midi does not look: a pickup's notes come before their
    track's program change, and notation programs export a conductor track that sets every
    channel's program for the other tracks. A note before its track's first program change on
    the channel plays that first program; a note on a channel its track never sets plays the
    program the channel has in the file at its onset (the latest change in any track, else the
    first); only a channel no track sets is program 0, GM's default.
    """

    def __init__(self, content: MidiContent) -> None:
        self._own_first: dict[tuple[int, int], int] = {}
        changes: defaultdict[int, list[tuple[int, int, int]]] = defaultdict(list)
        for index, events in enumerate(content.tracks):
            for tick, message in events:
                if message.type == "program_change":
                    self._own_first.setdefault((index, message.channel), message.program)
                    changes[message.channel].append((tick, index, message.program))
        self._changes = {c: sorted(v) for c, v in changes.items()}
        self._ticks = {c: [t for t, _, _ in v] for c, v in self._changes.items()}

    def before_own(self, track: int, channel: int, tick: int) -> int:
        """The program of a note at ``tick`` before any program change of its own track."""
        own = self._own_first.get((track, channel))
        if own is not None:
            return own
        changes = self._changes.get(channel)
        if not changes:
            return 0
        latest = bisect_right(self._ticks[channel], tick) - 1
        return changes[max(latest, 0)][2]


def _conductor(content: MidiContent) -> pretty_midi.PrettyMIDI:
    """pretty_midi on track 0's tempo and signature events alone (it reads them from track 0
    only), with a tick table reaching the last event."""
    track = mido.MidiTrack()
    previous = 0
    for tick, message in content.tracks[0] if content.tracks else []:
        if message.is_meta and message.type != "track_name":
            track.append(message.copy(time=tick - previous))
            previous = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    last = max((t for events in content.tracks for t, _ in events), default=0)
    end = mido.MidiTrack([mido.MetaMessage("end_of_track", time=last)])
    midi = mido.MidiFile(type=1, ticks_per_beat=content.ticks_per_beat)
    midi.tracks.extend([track, end])
    return pretty_midi.PrettyMIDI(mido_object=midi)


def to_pretty_midi(content: MidiContent) -> tuple[pretty_midi.PrettyMIDI, list[Part]]:
    """The file as a PrettyMIDI for ``note_seq.midi_to_note_sequence``, and the part each of its
    instruments is.

    As pretty_midi does, one instrument per (track, channel, program), created when its first
    note ends, channel 10 is drums, a note-off never ends a note begun on the same tick and notes
    never ended are dropped. Unlike it, a note plays the program set on its channel at its
    *onset* (not at its end), notes before their track sets a program play the program the part
    or the file sets for the channel (see :class:`_Programs`) rather than 0, and a note-off ends
    the *oldest* note of its pitch still sounding on the channel (first in, first out) rather
    than all of them, so overlapping notes of one pitch keep their own ends.
    """
    pm = _conductor(content)
    programs = _Programs(content)
    instruments: OrderedDict[tuple[int, int, int], pretty_midi.Instrument] = OrderedDict()
    parts: list[Part] = []
    controls: defaultdict[tuple[int, int], list[pretty_midi.ControlChange]] = defaultdict(list)
    bends: defaultdict[tuple[int, int], list[pretty_midi.PitchBend]] = defaultdict(list)
    for index, events in enumerate(content.tracks):
        name = ""
        current: dict[int, int] = {}  # channel -> program set by this track so far
        sounding: defaultdict[tuple[int, int], deque[tuple[int, int, int]]] = defaultdict(deque)
        for tick, message in events:
            kind = message.type
            if kind == "track_name":
                name = message.name
            elif kind == "program_change":
                current[message.channel] = message.program
            elif kind == "note_on" and message.velocity > 0:
                channel = message.channel
                program = current.get(channel)
                if program is None:
                    program = programs.before_own(index, channel, tick)
                sounding[(channel, message.note)].append((tick, message.velocity, program))
            elif kind in ("note_on", "note_off"):
                key = (message.channel, message.note)
                queue = sounding.get(key)
                if not queue:
                    continue
                older = next((n for n in queue if n[0] != tick), None)
                if older is None:  # only notes begun on this very tick: zero-length, dropped
                    del sounding[key]
                    continue
                queue.remove(older)
                start, velocity, program = older
                instrument_key = (index, message.channel, program)
                instrument = instruments.get(instrument_key)
                if instrument is None:
                    instrument = pretty_midi.Instrument(
                        program, message.channel == DRUM_CHANNEL, name
                    )
                    instruments[instrument_key] = instrument
                    parts.append(Part(index + 1, message.channel + 1, name, program))
                instrument.notes.append(
                    pretty_midi.Note(
                        velocity, message.note, pm.tick_to_time(start), pm.tick_to_time(tick)
                    )
                )
            elif kind == "control_change":
                change = pretty_midi.ControlChange(
                    message.control, message.value, pm.tick_to_time(tick)
                )
                controls[(index, message.channel)].append(change)
            elif kind == "pitchwheel":
                bend = pretty_midi.PitchBend(message.pitch, pm.tick_to_time(tick))
                bends[(index, message.channel)].append(bend)
    _attach(instruments, controls, bends)
    pm.instruments = list(instruments.values())
    return pm, parts


def _attach(
    instruments: OrderedDict[tuple[int, int, int], pretty_midi.Instrument],
    controls: Mapping[tuple[int, int], list[pretty_midi.ControlChange]],
    bends: Mapping[tuple[int, int], list[pretty_midi.PitchBend]],
) -> None:
    """Gives each instrument the controller and pitch-bend events of its (track, channel): all of
    them when the part plays one program (as pretty_midi does), else each event goes to the
    program whose first note starts last at or before it (before the first note: the first)."""
    by_part: defaultdict[tuple[int, int], list[tuple[float, pretty_midi.Instrument]]]
    by_part = defaultdict(list)
    for (track, channel, _), instrument in instruments.items():
        first = min(note.start for note in instrument.notes)
        by_part[(track, channel)].append((first, instrument))
    for part, owners in by_part.items():
        owners.sort(key=lambda owner: owner[0])
        starts = [start for start, _ in owners]
        for change in controls.get(part, []):
            owners[max(bisect_right(starts, change.time) - 1, 0)][1].control_changes.append(change)
        for bend in bends.get(part, []):
            owners[max(bisect_right(starts, bend.time) - 1, 0)][1].pitch_bends.append(bend)
