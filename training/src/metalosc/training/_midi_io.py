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
import errno
import glob
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
    server) would take for a complete one. The one write-then-rename mechanism of this package.

    The data is fsynced before the rename and the directory after it, so the new file survives a
    power cut too once this returns. A failure (a full disk: ``OSError`` ENOSPC) removes the
    temporary file and keeps the old one. A process killed mid-write cannot clean up: its
    temporary file is named with its pid and removed by the next write of the same file once
    that pid is gone.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(path)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent
    )
    os.close(fd)
    try:
        yield Path(tmp_name)
        os.chmod(tmp_name, _FILE_MODE)
        _fsync(tmp_name)
        os.replace(tmp_name, path)
        _fsync(path.parent)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def _fsync(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temps(path: Path) -> None:
    """Delete temporary files of ``path`` left by writers that no longer run."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = stale.name[len(path.name) + 2 :].split(".", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            stale.unlink(missing_ok=True)


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


def write_text_atomic(path: Path, text: str) -> None:
    """Writes a small text file (a summary) atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
