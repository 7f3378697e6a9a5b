"""Saved scenes on disk: the state directory's ``scenes.json``, written atomically.

A scene is latents (``[z_size]`` float64 per instrument) and a key, so the file is JSON that a
person can read and diff: ``{"format": "metalosc-scenes", "version": 1, "scenes": {name: {"key":
"E", "guitar": [...], "bass": [...], "drums": [...]}}}``; a JSON float round-trips a float64
exactly. Writing never blocks the event loop: :meth:`SceneStore.changed` hands the store a
snapshot and wakes :meth:`SceneStore.run`, which writes the newest one in a worker thread (a burst
of saves is one write, and writes are at least ``min_interval`` seconds apart: a flood of saves
costs one file a second, not a core) to a temporary file in the same directory, fsyncs it and
``os.replace``\\ s it over the old one, so a crash leaves the old file or the new one, never half.

At start (:meth:`SceneStore.load`) the scenes of the seed file named in the settings come first,
then the saved ones (a saved scene wins over a seeded one of the same name). A state file that
cannot be read is logged with its path and reason, renamed aside (``scenes.json.corrupt-<unix
time>``) rather than overwritten, and the daemon starts with the seeded scenes; a broken seed file
is a settings error (:class:`SceneFileError`). A scene whose latent sizes are not the loaded
models' (saved with other models) is skipped with a log line naming it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
import structlog
import trio
from metalosc.protocol import (
    INSTRUMENTS,
    KEY_NAMES,
    KEY_PITCH_CLASSES,
    Instrument,
    KeyName,
    SceneName as SceneNameType,
    write_atomic,
)
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ._conductor import Scene

__all__ = ["SCENES_FILE", "SceneFileError", "SceneStore", "read_scene_file", "write_scene_file"]

log = structlog.get_logger("metalosc.server.scenes")

SCENES_FILE = "scenes.json"
"""The scene file's name in the state directory."""
SCENES_FORMAT = "metalosc-scenes"
SCENES_VERSION = 1


class SceneFileError(Exception):
    """A scene file that cannot be used; the message names the file and the reason."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


Latent = Annotated[list[float], Field(min_length=1, max_length=4096)]


class _SceneRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    key: KeyName
    guitar: Latent
    bass: Latent
    drums: Latent


class _SceneFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["metalosc-scenes"]
    version: Literal[1]
    scenes: dict[SceneNameType, _SceneRecord]


def _record(scene: Scene) -> _SceneRecord:
    return _SceneRecord(
        key=KEY_NAMES[scene.key % 12],
        guitar=[float(v) for v in scene.guitar],
        bass=[float(v) for v in scene.bass],
        drums=[float(v) for v in scene.drums],
    )


def _scene(record: _SceneRecord) -> Scene:
    return Scene(
        np.array(record.guitar, dtype=np.float64),
        np.array(record.bass, dtype=np.float64),
        np.array(record.drums, dtype=np.float64),
        KEY_PITCH_CLASSES[record.key],
    )


def scene_file_bytes(scenes: Mapping[str, Scene]) -> bytes:
    """The file's contents for ``scenes``: UTF-8 JSON, names sorted, one scene per block."""
    document = _SceneFile(
        format=SCENES_FORMAT,
        version=SCENES_VERSION,
        scenes={name: _record(scenes[name]) for name in sorted(scenes)},
    )
    return (json.dumps(document.model_dump(), indent=1) + "\n").encode("utf-8")


def read_scene_file(path: Path) -> dict[str, Scene]:
    """The scenes in ``path``; ``{}`` when it does not exist. Raises :class:`SceneFileError`
    naming the file for anything else that keeps it from being read (not JSON, another format,
    a bad name, key or latent)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise SceneFileError(path, f"cannot be read ({exc.strerror or exc})") from exc
    try:
        document = _SceneFile.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        raise SceneFileError(path, f"not a scene file ({where}: {first['msg']})") from exc
    return {name: _scene(record) for name, record in document.scenes.items()}


def write_scene_file(path: Path, scenes: Mapping[str, Scene]) -> None:
    """Write ``scenes`` to ``path`` atomically (temporary file, fsync, ``os.replace``), making
    its directory if needed. Raises ``OSError`` when the directory cannot be written; the old
    file is then untouched."""
    write_atomic(path, scene_file_bytes(scenes), mode=0o600)  # a designer's own work: private


def _fits(name: str, scene: Scene, z_sizes: Mapping[Instrument, int], source: Path) -> bool:
    for instrument in INSTRUMENTS:
        size = len(scene[instrument])
        if size != z_sizes[instrument]:
            log.warning(
                "scene_incompatible",
                scene=name,
                path=str(source),
                instrument=instrument,
                z_size=size,
                model_z_size=z_sizes[instrument],
            )
            return False
    return True


MIN_WRITE_INTERVAL_S = 1.0
"""Seconds at least between two writes of the scene file: 64 scenes are ~0.5 MB of JSON that
took 31 ms of Python to build on a busy 2-core machine."""


class SceneStore:
    """The scenes kept in ``path`` (``None``: not kept, they last as long as the process),
    seeded from ``seed`` (a scene file, or ``None``); files written at least ``min_interval``
    seconds (trio time) apart."""

    def __init__(
        self,
        path: Path | None,
        seed: Path | None = None,
        min_interval: float = MIN_WRITE_INTERVAL_S,
    ) -> None:
        self.path = path
        self.seed = seed
        self.min_interval = min_interval
        self.writes = 0
        """Files written so far (a test can wait for one)."""
        self._pending: dict[str, Scene] | None = None
        self._wake = trio.Event()
        self._written = trio.Event()

    def load(self, z_sizes: Mapping[Instrument, int]) -> dict[str, Scene]:
        """The scenes to start with: seeded, then saved; those whose latent sizes differ from
        ``z_sizes`` skipped (logged). Blocking file I/O: call it before the music starts, or
        in a worker thread. Raises :class:`SceneFileError` for a broken seed file."""
        scenes: dict[str, Scene] = {}
        if self.seed is not None:
            if not self.seed.is_file():
                raise SceneFileError(self.seed, "scene seed file not found")
            seeded = read_scene_file(self.seed)
            scenes.update((n, s) for n, s in seeded.items() if _fits(n, s, z_sizes, self.seed))
            log.info("scenes_seeded", path=str(self.seed), scenes=sorted(seeded))
        if self.path is not None:
            try:
                saved = read_scene_file(self.path)
            except SceneFileError as exc:
                aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
                try:
                    os.replace(self.path, aside)
                    kept = str(aside)
                except OSError as move:
                    kept = f"left in place ({move.strerror or move})"
                log.error("scenes_file_corrupt", path=str(self.path), reason=exc.reason, kept=kept)
                saved = {}
            scenes.update((n, s) for n, s in saved.items() if _fits(n, s, z_sizes, self.path))
            log.info("scenes_loaded", path=str(self.path), scenes=sorted(saved))
        return scenes

    def changed(self, scenes: Mapping[str, Scene]) -> None:
        """The saved scenes are now ``scenes``: write them soon (:meth:`run`). Never blocks."""
        if self.path is None:
            return
        self._pending = dict(scenes)
        self._wake.set()

    async def written(self) -> None:
        """Wait until the next file is written."""
        await self._written.wait()

    async def run(self) -> None:
        """Forever: write the newest scenes handed to :meth:`changed`, in a worker thread, at
        most once per ``min_interval`` seconds. A failed write is logged (the scenes stay in
        memory; the next change tries again); on cancellation, scenes not yet written are
        written first."""
        try:
            while True:
                await self._wake.wait()
                self._wake = trio.Event()
                await self._flush()
                await trio.sleep(self.min_interval)  # changes meanwhile: one write after
        finally:
            if self._pending is not None:
                with trio.CancelScope(shield=True), trio.move_on_after(5.0):
                    await self._flush()

    async def _flush(self) -> None:
        scenes, self._pending = self._pending, None
        if scenes is None or self.path is None:
            return
        try:
            await trio.to_thread.run_sync(write_scene_file, self.path, scenes)
        except OSError as exc:
            log.error("scenes_write_failed", path=str(self.path), error=str(exc))
            return
        self.writes += 1
        log.info("scenes_written", path=str(self.path), scenes=len(scenes))
        self._written.set()
        self._written = trio.Event()
