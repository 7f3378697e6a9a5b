"""Files written whole or not at all: the one write-then-rename mechanism of every package.

Bundles, generated sources, MIDI takes, scene files and training outputs are read by other
processes (a reloading daemon, the next training stage, a DAW); a crash or a full disk mid-write
must leave the old file, never a truncated one that looks complete.
"""

from __future__ import annotations

import contextlib
import glob
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["SHARED_FILE_MODE", "atomic_output", "write_atomic"]

SHARED_FILE_MODE = 0o644
"""Mode of a new file: readable by the service user as well (``mkstemp`` creates 0600)."""


@contextlib.contextmanager
def atomic_output(path: Path, *, mode: int | None = None) -> Iterator[Path]:
    """A temporary path beside ``path`` to write to; it replaces ``path`` only if the block
    completes.

    The data is fsynced before the rename and the directory after it, so the new file survives a
    power cut once this returns. ``mode``: the file's permission bits (default: the replaced
    file's, else :data:`SHARED_FILE_MODE`). A failure (a full disk: ``OSError`` ENOSPC) removes
    the temporary file and keeps the old one. A process killed mid-write cannot clean up: its
    temporary file is named with its pid and removed by the next write of the same file once
    that pid is gone.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode is None:
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else SHARED_FILE_MODE
    _remove_stale_temps(path)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent
    )
    os.close(fd)
    try:
        yield Path(tmp_name)
        os.chmod(tmp_name, mode)
        _fsync(tmp_name)
        os.replace(tmp_name, path)
        _fsync(path.parent)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes | str, *, mode: int | None = None) -> None:
    """Write ``data`` (``str``: UTF-8 with ``\\n`` line ends) to ``path`` through
    :func:`atomic_output`. Raises ``OSError`` when the directory cannot be written; the old file
    is then untouched."""
    with atomic_output(path, mode=mode) as tmp:
        if isinstance(data, str):
            with tmp.open("w", encoding="utf-8", newline="\n") as f:
                f.write(data)
        else:
            tmp.write_bytes(data)


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
