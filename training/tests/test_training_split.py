"""Split stage: track rules at their edges, what is kept, what is skipped and why.

Rules of this suite: MIDI inputs are built in code (``fixtures_midi``), never read from the
repo; the only outside data is the edge-case corpus (test-midi-files), read from the shared data
directory beside the checkout like the pipeline's corpora. No test here imports Magenta's models,
so the whole file runs in a few seconds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from metalosc.training._midi_io import read_note_sequences
from metalosc.training._split import (
    SkipReason,
    classify_track,
    extra_drums_source,
    groove_files,
    midi_source,
    render_split_summary,
    song_id,
    split_corpus,
    split_midi,
)

from .fixtures_midi import (
    CORRUPT_MIDI,
    DRUM_CHANNEL,
    Note,
    Song,
    Track,
    drum_beat,
    metal_song,
    midi_bytes,
    power_chord_riff,
    write_song,
)

# The corpora live beside the checkout, in ../shared/data/midi, where the pipeline reads them
# (``./dev train-defaults``), or wherever METALOSC_DATA points.
DATA = Path(
    os.environ.get("METALOSC_DATA")
    or Path(__file__).resolve().parents[2].parent / "shared/data/midi"
)
EDGE_CASE_MIDI = DATA / "test-midi-files" / "midi"


@pytest.mark.parametrize(
    ("program", "is_drum", "name", "expected"),
    [
        (23, False, "", None),  # tango accordion, last program before the guitars
        (24, False, "", "guitar"),
        (31, False, "", "guitar"),  # guitar harmonics, last guitar
        (32, False, "", "bass"),  # acoustic bass: a bass, not a guitar
        (39, False, "", "bass"),  # synth bass 2, last bass
        (40, False, "", None),  # violin: not a bass
        (0, False, "Bass", "bass"),  # no program set: the name is the only signal
        (29, False, "Bass", "bass"),  # bass played on an overdrive patch
        (0, False, "Gtr", "guitar"),
        (34, False, "Rhythm Gtr", "guitar"),
        (0, False, "Bass Guitar", "bass"),
        (0, False, "Bass Drum", None),  # a kick on a melodic channel is not a bass
        (33, False, "Bass Drum", None),
        (43, False, "Contrabass", None),  # strings, and the word is not "bass"
        (81, False, "Bass", None),  # a lead synth named "Bass": the program decides
        (0, True, "Bass", "drums"),  # channel 10 is drums whatever the name
        (33, True, "", "drums"),
    ],
)
def test_classify_track_edges(program: int, is_drum: bool, name: str, expected: str | None) -> None:
    assert classify_track(program, is_drum, name) == expected


def test_split_keeps_each_instrument_with_one_song_id() -> None:
    result = split_midi(midi_bytes(metal_song(bars=4)), "metal/song.mid", "test")

    assert result.skip_reason is None
    assert set(result.sequences) == {"guitar", "bass", "drums"}
    assert result.tracks == {"guitar": 1, "bass": 1, "drums": 1}
    ids = {seq.id for seq in result.sequences.values()}
    assert ids == {song_id("metal/song.mid", "test")}
    guitar, bass, drums = (result.sequences[i] for i in ("guitar", "bass", "drums"))
    assert {n.program for n in guitar.notes} == {30}
    assert {n.program for n in bass.notes} == {33}
    assert all(n.is_drum for n in drums.notes)
    assert len(guitar.notes) == len(power_chord_riff(bars=4))
    assert len(drums.notes) == len(drum_beat(bars=4))
    assert guitar.filename == "metal/song.mid"
    assert guitar.collection_name == "test"
    assert [i.name for i in bass.instrument_infos] == ["E.Bass"]


def test_split_keeps_tempo_map_and_time_signature() -> None:
    song = Song(
        tracks=[Track(power_chord_riff(bars=4), program=29)],
        tempos=((0.0, 120.0), (8.0, 160.0)),
        time_signatures=((0.0, 4, 4),),
    )
    guitar = split_midi(midi_bytes(song), "t.mid", "test").sequences["guitar"]

    assert [(t.time, round(t.qpm, 3)) for t in guitar.tempos] == [(0.0, 120.0), (4.0, 160.0)]
    assert [(ts.numerator, ts.denominator) for ts in guitar.time_signatures] == [(4, 4)]
    # the note on beat 12 sounds at 4 s (8 beats at 120) + 1.5 s (4 beats at 160)
    starts = sorted({round(n.start_time, 6) for n in guitar.notes})
    assert 5.5 in starts


@pytest.mark.parametrize(
    "signatures",
    [((0.0, 3, 4),), ((0.0, 4, 4), (8.0, 7, 8)), ((0.0, 6, 8),)],
    ids=["3/4", "4/4 then 7/8", "6/8"],
)
def test_split_skips_files_not_in_four_four(
    signatures: tuple[tuple[float, int, int], ...],
) -> None:
    song = Song(tracks=[Track(power_chord_riff(bars=4), program=30)], time_signatures=signatures)
    result = split_midi(midi_bytes(song), "waltz.mid", "test")
    assert result.skip_reason is SkipReason.NOT_4_4
    assert result.sequences == {}


def test_split_takes_a_file_without_time_signature_as_four_four() -> None:
    song = Song(tracks=[Track(power_chord_riff(bars=2), program=30)], time_signatures=())
    result = split_midi(midi_bytes(song), "plain.mid", "test")
    assert result.skip_reason is None
    assert set(result.sequences) == {"guitar"}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (CORRUPT_MIDI, SkipReason.TRUNCATED),
        (b"", SkipReason.NOT_MIDI),
        (b"this is not a midi file at all", SkipReason.NOT_MIDI),
        (
            midi_bytes(Song(tracks=[Track([Note(60, 0, 1)], program=0, name="Piano")])),
            SkipReason.NO_USABLE_TRACK,
        ),
        (midi_bytes(Song(tracks=[])), SkipReason.NO_USABLE_TRACK),
    ],
    ids=["truncated-header", "empty", "text", "piano-only", "no-tracks"],
)
def test_split_counts_bad_files_by_reason(data: bytes, reason: SkipReason) -> None:
    result = split_midi(data, "bad.mid", "test")
    assert result.skip_reason is reason
    assert result.sequences == {}


def test_song_ids_are_deterministic_from_relative_path() -> None:
    a = split_midi(midi_bytes(metal_song()), "x/a.mid", "c")
    again = split_midi(midi_bytes(metal_song(qpm=90)), "x/a.mid", "c")
    other = split_midi(midi_bytes(metal_song()), "x/b.mid", "c")
    assert a.song_id == again.song_id == song_id("x/a.mid", "c")
    assert a.song_id != other.song_id
    assert song_id("x/a.mid", "c") != song_id("x/a.mid", "d")
    assert a.song_id.startswith("/id/midi/c/")


def test_drums_only_source_ignores_melodic_tracks() -> None:
    result = split_midi(midi_bytes(metal_song()), "g.mid", "groove", instruments=("drums",))
    assert set(result.sequences) == {"drums"}


def test_split_corpus_writes_records_and_summary(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write_song(corpus / "a.mid", metal_song(bars=4))
    write_song(corpus / "sub" / "b.mid", metal_song(bars=8, qpm=150))
    write_song(
        corpus / "waltz.mid",
        Song(tracks=[Track(power_chord_riff(), program=30)], time_signatures=((0, 3, 4),)),
    )
    (corpus / "broken.mid").write_bytes(CORRUPT_MIDI)
    (corpus / "notes.txt").write_text("not midi, not looked at")
    drums = tmp_path / "drums"
    write_song(drums / "beat.mid", Song(tracks=[Track(drum_beat(), channel=DRUM_CHANNEL)]))

    out = tmp_path / "out"
    summary = split_corpus(
        [midi_source(corpus, "metal"), extra_drums_source(drums, collection="extra")],
        out,
        progress=False,
    )

    assert summary.files == 5
    assert summary.files_used == 3
    assert dict(summary.skips) == {"not_4_4": 1, "truncated": 1}
    assert dict(summary.songs_per_instrument) == {"guitar": 2, "bass": 2, "drums": 3}
    assert summary.bars_per_instrument["guitar"] == pytest.approx(12.0)
    guitar = list(read_note_sequences(out / "split" / "guitar.tfrecord"))
    assert [s.filename for s in guitar] == ["a.mid", "sub/b.mid"]
    drum_ids = [s.id for s in read_note_sequences(out / "split" / "drums.tfrecord")]
    assert drum_ids[-1] == song_id("beat.mid", "extra")
    saved = json.loads((out / "split" / "summary.json").read_text())
    assert saved["skips"] == {"not_4_4": 1, "truncated": 1}
    assert saved["songs"] == {"guitar": 2, "bass": 2, "drums": 3}
    assert render_split_summary(summary).row_count == 3 + len(SkipReason)
    assert not list((out / "split").glob(".*.tmp"))

    first = {p.name: p.read_bytes() for p in (out / "split").glob("*.tfrecord")}
    split_corpus([midi_source(corpus, "metal")], out, progress=False)
    split_corpus(
        [midi_source(corpus, "metal"), extra_drums_source(drums, collection="extra")],
        out,
        progress=False,
    )
    assert {p.name: p.read_bytes() for p in (out / "split").glob("*.tfrecord")} == first


def test_groove_filter_reads_info_csv(tmp_path: Path) -> None:
    rows = [
        ("rock", "beat", "4-4", "d1/1_rock.mid"),
        ("rock/halftime", "fill", "4-4", "d1/2_rock-halftime.mid"),
        ("punk", "beat", "4-4", "d1/3_punk.mid"),
        ("funk/rock", "beat", "4-4", "d1/4_funk-rock.mid"),
        ("rock", "beat", "6-8", "d1/5_rock.mid"),
        ("jazz", "beat", "4-4", "d1/6_jazz.mid"),
    ]
    lines = ["drummer,style,beat_type,time_signature,midi_filename"]
    for style, kind, ts, name in rows:
        lines.append(f"d1,{style},{kind},{ts},{name}")
        write_song(tmp_path / name, Song(tracks=[Track(drum_beat(1), channel=DRUM_CHANNEL)]))
    (tmp_path / "info.csv").write_text("\n".join(lines) + "\n")

    picked = [p.name for p in groove_files(tmp_path)]
    assert picked == ["1_rock.mid", "2_rock-halftime.mid", "3_punk.mid"]
    assert [p.name for p in groove_files(tmp_path, beat_types=("beat",))] == [
        "1_rock.mid",
        "3_punk.mid",
    ]
    source = extra_drums_source(tmp_path)
    assert source.instruments == ("drums",)
    assert len(source.files) == 3


def test_groove_filter_names_a_bad_info_csv(tmp_path: Path) -> None:
    (tmp_path / "info.csv").write_text("style,midi_filename\nrock,a.mid\n")
    with pytest.raises(ValueError, match=r"info\.csv: missing columns"):
        groove_files(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"info\.csv"):
        groove_files(tmp_path / "nowhere")


def test_split_survives_the_edge_case_corpus(tmp_path: Path) -> None:
    assert EDGE_CASE_MIDI.is_dir(), f"the edge-case corpus is missing: {EDGE_CASE_MIDI}"
    source = midi_source(EDGE_CASE_MIDI, "edge")
    summary = split_corpus([source], tmp_path, progress=False)
    assert summary.files == len(source.files) > 0
    assert summary.skips["unparseable"] == 0  # every skip is named (test_training_split_wild)
    assert summary.files_used + sum(summary.skips.values()) == summary.files
