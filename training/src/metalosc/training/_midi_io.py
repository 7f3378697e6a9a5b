"""NoteSequence I/O at the edges of the data stages: MIDI bytes in, TFRecords out.

The per-file stages (split, convert) are pure functions of one file or one song; this module is
the only place they touch the disk. TFRecords hold one serialized ``NoteSequence`` per record,
the format Magenta's own pipelines write, so any Magenta tool can read them.

Reading uses ``tf.compat.v1.io.tf_record_iterator`` rather than ``tf.data`` on purpose: it works
whether or not the calling process has already called ``tf.compat.v1.disable_v2_behavior()``
(the training stage does: Magenta builds its models as TF1 graphs), where eager ``tf.data``
iteration would not.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from note_seq.protobuf.music_pb2 import NoteSequence

__all__ = [
    "NoteSequence",
    "atomic_output",
    "find_midi_files",
    "read_note_sequences",
    "write_note_sequences",
    "write_text_atomic",
]

MIDI_SUFFIXES = (".mid", ".midi", ".kar")
_FILE_MODE = 0o644  # mkstemp creates 0600; outputs are shared data, readable by the team


def find_midi_files(root: Path) -> list[Path]:
    """Every MIDI file under ``root`` (recursive), sorted by relative path for determinism."""
    if not root.is_dir():
        raise NotADirectoryError(f"MIDI input directory does not exist: {root}")
    return sorted(
        (p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in MIDI_SUFFIXES),
        key=lambda p: p.relative_to(root).as_posix(),
    )


def read_note_sequences(path: Path) -> Iterator[NoteSequence]:
    """Yields the NoteSequences of a TFRecord file in file order."""
    import tensorflow as tf  # deferred: importing TF costs seconds, pure callers never need it

    if not path.is_file():
        raise FileNotFoundError(f"NoteSequence TFRecord file does not exist: {path}")
    for record in tf.compat.v1.io.tf_record_iterator(str(path)):
        yield NoteSequence.FromString(record)


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; it replaces ``path`` only if the block
    completes, so a crash mid-write never leaves a truncated file that a later stage (or the
    server) would take for a complete one. The one write-then-rename mechanism of this package."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp_name)
        os.chmod(tmp_name, _FILE_MODE)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_note_sequences(path: Path, sequences: Iterable[NoteSequence]) -> int:
    """Writes ``sequences`` to ``path`` atomically; returns how many were written."""
    import tensorflow as tf

    count = 0
    with atomic_output(path) as tmp, tf.io.TFRecordWriter(str(tmp)) as writer:
        for seq in sequences:
            writer.write(seq.SerializeToString())
            count += 1
    return count


def write_text_atomic(path: Path, text: str) -> None:
    """Writes a small text file (a summary) atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
