"""NoteSequence TFRecord and MIDI-file I/O of the data stages: atomic writes, clear errors."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from metalosc.protocol import write_atomic
from metalosc.training._midi_io import (
    NoteSequence,
    find_midi_files,
    read_note_sequences,
    write_note_sequences,
)

from .fixtures_midi import Note, note_sequence


def _seqs(n: int) -> list[NoteSequence]:
    out = []
    for i in range(n):
        seq = note_sequence([Note(40 + i, 0, 1)])
        seq.id = f"song-{i}"
        out.append(seq)
    return out


def test_records_round_trip_in_order(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "x.tfrecord"
    assert write_note_sequences(path, _seqs(3)) == 3
    assert [s.id for s in read_note_sequences(path)] == ["song-0", "song-1", "song-2"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "x.tfrecord"
    write_note_sequences(path, _seqs(2))
    before = path.read_bytes()

    def broken() -> Iterator[NoteSequence]:
        yield from _seqs(1)
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError, match="disk on fire"):
        write_note_sequences(path, broken())
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.tfrecord"]


def test_text_is_written_atomically(tmp_path: Path) -> None:
    path = tmp_path / "summary.json"
    write_atomic(path, "{}\n")
    write_atomic(path, '{"files": 1}\n')
    assert path.read_text() == '{"files": 1}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_missing_inputs_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"nope\.tfrecord"):
        list(read_note_sequences(tmp_path / "nope.tfrecord"))
    with pytest.raises(NotADirectoryError, match="midi-here"):
        find_midi_files(tmp_path / "midi-here")


def test_find_midi_files_is_recursive_and_sorted(tmp_path: Path) -> None:
    for name in ("b/2.mid", "a.MID", "b/1.midi", "c/readme.txt", "song.kar"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = [p.relative_to(tmp_path).as_posix() for p in find_midi_files(tmp_path)]
    assert found == ["a.MID", "b/1.midi", "b/2.mid", "song.kar"]
