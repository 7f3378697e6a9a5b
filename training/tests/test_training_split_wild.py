"""Split stage on MIDI files as people really write them: programs set elsewhere or late,
overlapping notes, broken meta events, hostile spans, unknown chunks, and the reasons given.

Every input is built here with mido (and, for faults mido refuses to write, by patching its
bytes); the only outside data is the public parser test suite read from the shared data
directory, as in ``test_training_split``.
"""

from __future__ import annotations

import json
import struct
import tracemalloc
from pathlib import Path

import mido
import pytest
from metalosc.training._midi_read import MAX_FILE_BYTES, MAX_TICKS
from metalosc.training._split import (
    SkipReason,
    midi_source,
    split_corpus,
    split_midi,
)

from .fixtures_midi import (
    DRUM_CHANNEL,
    TICKS_PER_BEAT,
    Note,
    Song,
    Track,
    add_chunk,
    bass_line,
    drum_beat,
    insert_event,
    metal_song,
    midi_bytes,
    power_chord_riff,
)
from .test_training_split import EDGE_CASE_MIDI

GUITAR, BASS = 30, 33


def starts_and_ends(result_notes: list[tuple[float, float]]) -> list[tuple[float, float]]:
    return sorted((round(s, 6), round(e, 6)) for s, e in result_notes)


# --- 5. an instrument per part ------------------------------------------------------------


def test_a_conductor_track_that_sets_every_channels_program_is_obeyed() -> None:
    # As notation programs export: one track sets the programs, the parts never do.
    riff, bass = power_chord_riff(bars=2), bass_line(bars=2)
    song = Song(
        tracks=[
            Track([], set_program=False, programs=((0.0, 0, GUITAR), (0.0, 1, BASS))),
            Track(riff, channel=0, set_program=False),
            Track(bass, channel=1, set_program=False),
        ]
    )
    result = split_midi(midi_bytes(song), "conductor.mid", "test")
    assert result.skip_reason is None
    assert {n.program for n in result.sequences["guitar"].notes} == {GUITAR}
    assert len(result.sequences["guitar"].notes) == len(riff)
    assert {n.program for n in result.sequences["bass"].notes} == {BASS}
    assert len(result.sequences["bass"].notes) == len(bass)


@pytest.mark.parametrize("where", ["first", "last"], ids=["setup-track-first", "setup-track-last"])
def test_a_program_set_in_another_track_applies_wherever_that_track_is(where: str) -> None:
    riff = power_chord_riff(bars=2)
    setup = Track([], set_program=False, programs=((0.0, 3, GUITAR),))
    part = Track(riff, channel=3, set_program=False, name="Lead")
    song = Song(tracks=[setup, part] if where == "first" else [part, setup])
    result = split_midi(midi_bytes(song), "setup.mid", "test")
    assert result.skip_reason is None
    assert len(result.sequences["guitar"].notes) == len(riff)


def test_a_pickup_before_the_program_change_plays_the_parts_program() -> None:
    pickup = [Note(40, 0.0, 0.5), Note(43, 0.5, 1.0)]
    riff = [Note(n.pitch, n.start + 1.0, n.end + 1.0) for n in power_chord_riff(bars=2)]
    song = Song(tracks=[Track(pickup + riff, program=GUITAR, program_at=1.0)])
    guitar = split_midi(midi_bytes(song), "pickup.mid", "test").sequences["guitar"]
    assert len(guitar.notes) == len(pickup) + len(riff)  # the pickup is not lost
    assert {n.program for n in guitar.notes} == {GUITAR}
    assert min(n.start_time for n in guitar.notes) == 0.0


def test_a_part_whose_only_program_comes_late_is_not_program_0_and_not_skipped() -> None:
    # A bass whose program change comes after all but its last note: today a whole-file skip.
    line = bass_line(bars=2)
    song = Song(tracks=[Track(line, program=BASS, program_at=line[-1].start)])
    result = split_midi(midi_bytes(song), "late.mid", "test")
    assert result.skip_reason is None
    assert len(result.sequences["bass"].notes) == len(line)


def test_a_parts_own_program_wins_over_a_conductor_track() -> None:
    riff = power_chord_riff(bars=1)
    song = Song(
        tracks=[
            Track([], set_program=False, programs=((0.0, 0, 0),)),  # piano on channel 1 ...
            Track(riff, program=GUITAR, program_at=1.0),  # ... but this part sets its guitar
        ]
    )
    guitar = split_midi(midi_bytes(song), "both.mid", "test").sequences["guitar"]
    assert len(guitar.notes) == len(riff)


def test_a_deliberate_switch_of_program_keeps_each_section_on_its_program() -> None:
    # A lead synth (81) that becomes an overdriven guitar (29) at bar 3: only the guitar
    # section is guitar, as before.
    lead = [Note(60, b / 2, b / 2 + 0.5) for b in range(16)]
    riff = [Note(n.pitch, n.start + 8.0, n.end + 8.0) for n in power_chord_riff(bars=2)]
    song = Song(tracks=[Track(lead + riff, program=81, programs=((8.0, 0, 29),), name="Lead")])
    result = split_midi(midi_bytes(song), "switch.mid", "test")
    assert len(result.sequences["guitar"].notes) == len(riff)
    assert {n.program for n in result.sequences["guitar"].notes} == {29}
    assert result.dropped_parts == (
        'track 2 "Lead", channel 1: program 81 (Lead 2 (sawtooth)) is not a guitar or a bass',
    )


def test_a_note_plays_the_program_of_its_onset_not_of_its_end() -> None:
    # The program changes while a guitar note still sounds: the note stays a guitar note.
    notes = [Note(40, 0.0, 2.0), Note(60, 2.0, 3.0)]
    song = Song(tracks=[Track(notes, program=GUITAR, programs=((1.0, 0, 0),))])
    guitar = split_midi(midi_bytes(song), "onset.mid", "test").sequences["guitar"]
    assert [(n.pitch, n.program) for n in guitar.notes] == [(40, GUITAR)]


# --- 6. overlapping notes of one pitch ----------------------------------------------------


def _guitar_notes(notes: list[Note], channel: int = 0) -> list[tuple[float, float]]:
    song = Song(tracks=[Track(notes, program=GUITAR, channel=channel)])
    result = split_midi(midi_bytes(song), "overlap.mid", "test")
    which = "drums" if channel == DRUM_CHANNEL else "guitar"
    return [(n.start_time, n.end_time) for n in result.sequences[which].notes]


def test_overlapping_notes_of_one_pitch_end_first_in_first_out() -> None:
    # on 40 @0, on 40 @240, off @480, off @720 (480 ticks a beat, 120 qpm: 0.5 s a beat)
    assert TICKS_PER_BEAT == 480
    notes = _guitar_notes([Note(40, 0.0, 1.0), Note(40, 0.5, 1.5)])
    assert starts_and_ends(notes) == [(0.0, 0.5), (0.25, 0.75)]


def test_three_overlapping_notes_of_one_pitch_each_keep_their_end() -> None:
    notes = _guitar_notes([Note(40, 0.0, 1.0), Note(40, 0.25, 1.25), Note(40, 0.5, 1.5)])
    assert starts_and_ends(notes) == [(0.0, 0.5), (0.125, 0.625), (0.25, 0.75)]


def test_overlapping_drum_hits_of_one_pitch_each_keep_their_end() -> None:
    notes = _guitar_notes([Note(42, 0.0, 2.0), Note(42, 1.0, 3.0)], channel=DRUM_CHANNEL)
    assert starts_and_ends(notes) == [(0.0, 1.0), (0.5, 1.5)]


def test_note_offs_written_as_note_on_velocity_0_pair_the_same_way() -> None:
    midi = mido.MidiFile(type=0, ticks_per_beat=TICKS_PER_BEAT)
    track = mido.MidiTrack(
        [
            mido.Message("program_change", program=GUITAR),
            mido.Message("note_on", note=40, velocity=90, time=0),
            mido.Message("note_on", note=40, velocity=80, time=240),
            mido.Message("note_on", note=40, velocity=0, time=240),
            mido.Message("note_on", note=40, velocity=0, time=240),
        ]
    )
    midi.tracks.append(track)
    data = _save(midi)
    guitar = split_midi(data, "vel0.mid", "test").sequences["guitar"]
    assert sorted((n.start_time, n.end_time, n.velocity) for n in guitar.notes) == [
        (0.0, 0.5, 90),
        (0.25, 0.75, 80),
    ]


def test_restruck_notes_and_other_channels_are_unchanged() -> None:
    # off and on at one tick (a re-strike) and the same pitch on two channels: no overlap
    assert starts_and_ends(_guitar_notes([Note(40, 0.0, 1.0), Note(40, 1.0, 2.0)])) == [
        (0.0, 0.5),
        (0.5, 1.0),
    ]
    song = Song(
        tracks=[
            Track([Note(40, 0.0, 2.0)], program=GUITAR, channel=0),
            Track([Note(40, 1.0, 1.5)], program=GUITAR, channel=1),
        ]
    )
    guitar = split_midi(midi_bytes(song), "two.mid", "test").sequences["guitar"]
    assert starts_and_ends([(n.start_time, n.end_time) for n in guitar.notes]) == [
        (0.0, 1.0),
        (0.5, 0.75),
    ]


# --- 7. meta events that do not matter ----------------------------------------------------


def _save(midi: mido.MidiFile) -> bytes:
    import io

    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def _with_raw_meta(raw: bytes, track: int = 0) -> bytes:
    return insert_event(midi_bytes(metal_song(bars=2)), track, b"\x00" + raw)


@pytest.mark.parametrize(
    ("raw", "repair"),
    [
        (b"\xff\x59\x02\x08\x00", "malformed key_signature dropped"),  # 8 sharps
        (b"\xff\x59\x02\x00\x05", "malformed key_signature dropped"),  # mode 5
        (b"\xff\x59\x01\x00", "malformed key_signature dropped"),  # one byte short
        (b"\xff\x51\x02\x07\xa1", "malformed set_tempo dropped"),  # a 2-byte tempo
        (b"\xff\x51\x03\x00\x00\x00", "tempo of 0 dropped"),  # 0 µs a beat
        (b"\xff\x58\x02\x04\x02", "short time_signature completed"),
        (b"\xff\x58\x04\x00\x02\x18\x08", "malformed time_signature dropped"),  # 0/4
    ],
    ids=["8-sharps", "mode-5", "short-key", "short-tempo", "tempo-0", "short-meter", "meter-0"],
)
def test_a_malformed_meta_event_is_repaired_or_dropped_and_counted(raw: bytes, repair: str) -> None:
    result = split_midi(_with_raw_meta(raw), "meta.mid", "test")
    assert result.skip_reason is None, result.detail
    assert set(result.sequences) == {"guitar", "bass", "drums"}
    assert result.repairs == {repair: 1}
    assert [t.qpm for t in result.sequences["guitar"].tempos] == [120.0]


@pytest.mark.parametrize(
    "raw",
    [
        b"\xff\x54\x05\x60\x00\x00\x00\x00",  # SMPTE offset
        b"\xff\x54\x03\x60\x00\x00",  # a short SMPTE offset
        b"\xff\x01\x04\xff\xfe\x00\x80",  # text that is no encoding's
        b"\xff\x06\x00",  # an empty marker
        b"\xff\x7f\x03\x00\x00\x41",  # sequencer specific
        b"\xff\x0a\x01\x00",  # a meta type no one defines
    ],
    ids=["smpte-offset", "short-smpte-offset", "bad-text", "empty-marker", "seq-specific", "0x0a"],
)
def test_meta_events_that_do_not_matter_never_lose_the_file(raw: bytes) -> None:
    result = split_midi(_with_raw_meta(raw, track=1), "meta.mid", "test")
    assert result.skip_reason is None, result.detail
    assert len(result.sequences["guitar"].notes) == len(power_chord_riff(bars=2))


def test_repairs_are_counted_in_the_split_summary(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.mid").write_bytes(_with_raw_meta(b"\xff\x59\x02\x08\x00"))
    (corpus / "b.mid").write_bytes(_with_raw_meta(b"\xff\x59\x02\x09\x01"))
    summary = split_corpus([midi_source(corpus, "c")], tmp_path / "out", progress=False)
    assert summary.files_used == 2
    saved = json.loads((tmp_path / "out" / "split" / "summary.json").read_text())
    assert saved["repairs"] == {"malformed key_signature dropped": 2}
    assert saved["repaired_files"] == {
        "c/a.mid": {"malformed key_signature dropped": 1},
        "c/b.mid": {"malformed key_signature dropped": 1},
    }


# --- 8. cost bounded whatever the file holds -----------------------------------------------


def _hostile(after_notes: int, last: mido.Message | mido.MetaMessage) -> bytes:
    midi = mido.MidiFile(type=1, ticks_per_beat=TICKS_PER_BEAT)
    track = mido.MidiTrack([mido.Message("program_change", program=GUITAR)])
    for _ in range(8):
        track.append(mido.Message("note_on", note=40, velocity=100, time=0))
        track.append(mido.Message("note_off", note=40, velocity=0, time=240))
    track.append(last.copy(time=after_notes))
    midi.tracks.append(track)
    return _save(midi)


@pytest.mark.timeout(20)
@pytest.mark.parametrize(
    ("last", "dropped"),
    [
        (mido.MetaMessage("marker", text="x"), 0),  # a marker never matters: not even read
        (mido.Message("control_change", control=7, value=1), 1),
        (mido.MetaMessage("set_tempo", tempo=400_000), 1),
        (mido.Message("pitchwheel", pitch=100), 1),
    ],
    ids=["marker", "control-change", "tempo", "pitch-bend"],
)
def test_one_event_2_28_ticks_late_costs_little_and_loses_no_note(
    last: mido.Message | mido.MetaMessage, dropped: int
) -> None:
    data = _hostile(2**28, last)
    assert len(data) < 150
    tracemalloc.start()
    try:
        result = split_midi(data, "hostile.mid", "test")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MiB"  # it took 6.3 GB
    assert result.skip_reason is None
    assert len(result.sequences["guitar"].notes) == 8
    assert result.repairs.get("events long after the last note dropped", 0) == dropped
    assert result.repairs["variable-length number over 4 bytes read"] == 1  # 2**28 needs 5


def test_notes_beyond_the_tick_limit_are_skipped_with_a_named_reason() -> None:
    data = _hostile(2**28, mido.Message("note_on", note=41, velocity=100))
    data = insert_event(data, 0, b"")  # unchanged bytes, same path as a real file
    tracemalloc.start()
    try:
        result = split_midi(data, "far.mid", "test")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20
    assert result.skip_reason is SkipReason.TOO_BIG
    assert result.detail == f"notes 268437376 ticks in; at most {MAX_TICKS} ticks are read"


def test_a_file_too_large_to_read_is_skipped_before_it_is_parsed() -> None:
    data = midi_bytes(metal_song(bars=1)) + b"\x00" * MAX_FILE_BYTES
    result = split_midi(data, "huge.mid", "test")
    assert result.skip_reason is SkipReason.TOO_BIG
    assert result.detail == f"{len(data)} bytes; at most {MAX_FILE_BYTES} are read"


def test_events_just_after_the_last_note_are_kept() -> None:
    # only events far beyond the tick limit are dropped: a normal tail stays as it was
    data = _hostile(TICKS_PER_BEAT, mido.Message("control_change", control=7, value=1))
    result = split_midi(data, "tail.mid", "test")
    assert result.repairs == {}
    assert [c.control_number for c in result.sequences["guitar"].control_changes] == [7]


# --- 9. skip reasons name the cause -------------------------------------------------------


def _header(midi: bytes, *, file_format: int | None = None, division: int | None = None) -> bytes:
    old_format, tracks, old_division = struct.unpack_from(">HHH", midi, 8)
    header = struct.pack(
        ">HHH",
        old_format if file_format is None else file_format,
        tracks,
        old_division if division is None else division,
    )
    return midi[:8] + header + midi[14:]


GOOD = midi_bytes(metal_song(bars=2))


@pytest.mark.parametrize(
    ("data", "reason", "detail"),
    [
        (
            _header(GOOD, division=0xE728),  # -25 fps, 40 ticks a frame
            SkipReason.UNSUPPORTED,
            "SMPTE time division (25 frames per second, 40 ticks per frame) is not supported",
        ),
        (
            _header(GOOD, division=0xE250),  # -30 fps, 80 ticks a frame
            SkipReason.UNSUPPORTED,
            "SMPTE time division (30 frames per second, 80 ticks per frame) is not supported",
        ),
        (
            _header(GOOD, file_format=2),
            SkipReason.UNSUPPORTED,
            "format 2 (independent patterns) is not supported",
        ),
        (_header(GOOD, file_format=7), SkipReason.UNSUPPORTED, "unknown MIDI file format 7"),
        (_header(GOOD, division=0), SkipReason.MALFORMED, "a time division of 0 ticks per beat"),
        (GOOD[:-40], SkipReason.TRUNCATED, "track 4 declares 192 bytes but 185 remain"),
        (GOOD[:10], SkipReason.TRUNCATED, "the file ends inside its header"),
        (
            GOOD[: GOOD.rindex(b"MTrk")],
            SkipReason.TRUNCATED,
            "the header declares 5 tracks, the file has 4",
        ),
        (b"", SkipReason.NOT_MIDI, "empty file"),
        (b"RIFF\x00\x00\x00\x00RMID", SkipReason.NOT_MIDI, "no MThd header"),
        (
            insert_event(GOOD, 1, b"\x00\x40\x40"),  # a data byte where an event starts
            SkipReason.MALFORMED,
            "track 2: data byte 0x40 where an event should start",
        ),
        (
            insert_event(GOOD, 1, b"\x00\x90\x40\x90\x00"),  # a status byte inside a note-on
            SkipReason.MALFORMED,
            "track 2: byte 0x90 inside a channel message at tick 0",
        ),
    ],
    ids=[
        "smpte-25",
        "smpte-30",
        "format-2",
        "format-7",
        "division-0",
        "cut-in-a-track",
        "cut-in-the-header",
        "cut-between-chunks",
        "empty",
        "riff",
        "stray-data-byte",
        "status-in-data",
    ],
)
def test_a_skipped_file_says_why_in_words(data: bytes, reason: SkipReason, detail: str) -> None:
    result = split_midi(data, "bad.mid", "test")
    assert result.skip_reason is reason
    assert detail in result.detail
    assert "Error" not in result.detail  # never a bare exception name


def test_the_summary_lists_every_skipped_file_and_every_part_not_taken(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    song = Song(
        tracks=[
            Track(power_chord_riff(bars=2), program=GUITAR, name="Lead"),
            Track(drum_beat(bars=2), name="Drums", channel=10),  # channel 11, not 10
            Track([Note(60, 0, 4)], program=0, name="Piano", channel=2),
        ]
    )
    (corpus / "used.mid").write_bytes(midi_bytes(song))
    (corpus / "smpte.mid").write_bytes(_header(GOOD, division=0xE728))
    (corpus / "cut.mid").write_bytes(GOOD[:-40])
    (corpus / "piano.mid").write_bytes(midi_bytes(Song(tracks=[Track([Note(60, 0, 1)])])))

    split_corpus([midi_source(corpus, "c")], tmp_path / "out", progress=False)
    saved = json.loads((tmp_path / "out" / "split" / "summary.json").read_text())
    assert saved["skipped"] == {
        "c/cut.mid": "truncated: track 4 declares 192 bytes but 185 remain",
        "c/piano.mid": "no_usable_track: none of its 1 parts is taken (see dropped_parts)",
        "c/smpte.mid": "unsupported: SMPTE time division (25 frames per second, 40 ticks per "
        "frame) is not supported",
    }
    assert saved["dropped_parts"] == {
        "c/piano.mid": [
            "track 2, channel 1: program 0 (Acoustic Grand Piano) is not a guitar or a bass"
        ],
        "c/used.mid": [
            'track 3 "Drums", channel 11: named like drums on channel 11 without a drum program:'
            " not taken as drums",
            'track 4 "Piano", channel 3: program 0 (Acoustic Grand Piano) is not a guitar or a'
            " bass",
        ],
    }


# --- 10. chunks a reader does not know ----------------------------------------------------


@pytest.mark.parametrize(
    ("where", "name"),
    [(0, b"Junk"), (1, b"XFIH"), (3, b"MTrK"), (None, b"XFKM")],
    ids=["before-all-tracks", "after-the-conductor", "between-tracks", "at-the-end"],
)
def test_a_chunk_of_an_unknown_type_is_skipped(where: int | None, name: bytes) -> None:
    data = add_chunk(GOOD, name, b"This is not a MIDI track...", before_track=where)
    result = split_midi(data, "junk.mid", "test")
    assert result.skip_reason is None, result.detail
    assert set(result.sequences) == {"guitar", "bass", "drums"}
    assert result.repairs == {"unknown chunk skipped": 1}


def test_an_unknown_chunk_cut_off_at_the_end_and_trailing_bytes_are_ignored() -> None:
    cut = add_chunk(GOOD, b"Junk", b"0123456789")[:-4]
    assert split_midi(cut, "cut.mid", "test").repairs == {"unknown chunk skipped": 1}
    extra = split_midi(GOOD + b"\x2a", "extra.mid", "test")
    assert extra.skip_reason is None
    assert extra.repairs == {"bytes after the last chunk ignored": 1}


# The edge-case corpus: what happens to each file, and why that is right.
EDGE_SKIPS = {
    # not a MIDI file at all
    "test-empty-file.mid": ("not_midi", "empty file"),
    "test-not-a-midi-file.mid": ("not_midi", "no MThd header: not a Standard MIDI File"),
    # a track chunk declares one byte more than the file holds
    "test-corrupt-file-missing-byte.mid": (
        "truncated",
        "track 1 declares 246 bytes but 245 remain",
    ),
    # format 2 tracks are independent patterns, not parts played together
    "test-2-tracks-type-2.mid": (
        "unsupported",
        "format 2 (independent patterns) is not supported",
    ),
}
EDGE_USED = {
    # every GM sound: the guitars and basses are taken, the rest listed as not taken
    "test-all-gm-sounds.mid": {"guitar", "bass"},
    "test-all-gm2-sounds.mid": {"guitar", "bass"},
    "test-all-gs-sounds.mid": {"guitar", "bass"},
    "test-all-microsoft-gs-wavetable-synth-sounds.mid": {"guitar", "bass"},
    "test-all-xg-sounds.mid": {"guitar", "bass"},
    # channel 10
    "test-all-gm-percussion.mid": {"drums"},
    "test-control-00-20-bank-select.mid": {"drums"},
    "test-sysex-gs-40-1x-15-drum-part-change.mid": {"drums"},
}
EDGE_REPAIRS = {
    "test-non-midi-track.mid": {"unknown chunk skipped": 1},
    "test-corrupt-file-extra-byte.mid": {"bytes after the last chunk ignored": 1},
    "test-illegal-message-all.mid": {"system message dropped": 13},
}


def test_every_file_of_the_edge_case_corpus_is_read_or_skipped_for_a_named_reason(
    tmp_path: Path,
) -> None:
    assert EDGE_CASE_MIDI.is_dir(), f"the edge-case corpus is missing: {EDGE_CASE_MIDI}"
    files = sorted(EDGE_CASE_MIDI.glob("*.mid"))
    assert len(files) == 72
    for path in files:
        result = split_midi(path.read_bytes(), path.name, "edge")
        reason = result.skip_reason.value if result.skip_reason else None
        if path.name in EDGE_SKIPS:
            assert (reason, result.detail) == EDGE_SKIPS[path.name], path.name
        elif path.name in EDGE_USED:
            assert reason is None, (path.name, result.detail)
            assert set(result.sequences) == EDGE_USED[path.name], path.name
        else:
            # Everything else is a piano scale or a test of a controller, a sysex or a meta
            # event: readable, and without a guitar, a bass or drums.
            assert reason == "no_usable_track", (path.name, reason, result.detail)
            assert all("is not a guitar or a bass" in p for p in result.dropped_parts), path.name
        if path.name.startswith("test-illegal-message-"):
            assert sum(result.repairs.values()) >= 1, path.name
        if path.name in EDGE_REPAIRS:
            assert result.repairs == EDGE_REPAIRS[path.name], path.name
