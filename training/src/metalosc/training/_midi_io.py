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

import errno
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from metalosc.protocol import atomic_output
from note_seq.protobuf.music_pb2 import NoteSequence

__all__ = [
    "NoteSequence",
    "find_midi_files",
    "read_note_sequences",
    "write_note_sequences",
]

MIDI_SUFFIXES = (".mid", ".midi", ".kar")


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


def write_note_sequences(path: Path, sequences: Iterable[NoteSequence]) -> int:
    """Writes ``sequences`` to ``path`` atomically; returns how many were written.

    Raises ``OSError`` (errno ENOSPC, naming ``path``) when the disk fills up; ``path`` then
    keeps its old content and no temporary file is left.
    """
    import tensorflow as tf

    count = 0
    try:
        with atomic_output(path) as tmp, tf.io.TFRecordWriter(str(tmp)) as writer:
            for seq in sequences:
                writer.write(seq.SerializeToString())
                count += 1
    except tf.errors.OpError as exc:
        # TF's file layer reports an OS failure as its own error with only the text of errno;
        # a full disk is turned back into the OSError every other writer here raises
        if os.strerror(errno.ENOSPC) in exc.message:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from exc
        raise
    return count
