"""Recording: what the daemon plays between ``/metal/record/start`` and ``/metal/record/stop``,
written as a multi-track MIDI file and its take log.

The transport tells the :class:`Recorder` of every cue as the bundle loop sends it
(:class:`~metalosc.server.CueObserver`): the recorder builds the take from those cues — the
notes that went out (muted instruments left out), the tempo each beat was played at, the
sections that started — and logs, bar by bar, what the conductor planned there (the phrases with
their latents and notes), so that ``metalosc replay`` can rebuild the take from the log alone
(``_takelog``). Control messages received while recording are logged with the beat they
arrived at. On stop both files are written atomically, off the event loop, into the record
directory: ``<name>.mid`` and ``<name>.take.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import trio
from metalosc.protocol import (
    SCENE_NAME_MAX,
    Instrument,
    Message,
    Ping,
    RecordStart,
    RecordStop,
    StateRequest,
    Subscribe,
    Unsubscribe,
    write_atomic,
)

from ._clock import BeatClock
from ._conductor import BarPlan
from ._cues import Cue
from ._midifile import take_midi
from ._take import Take, TakeBuilder
from ._takelog import (
    TAKE_LOG_SUFFIX,
    LoggedBar,
    LoggedControl,
    LoggedPhrase,
    LoggedRun,
    LoggedSection,
    TakeLog,
)

__all__ = ["RecordError", "Recorder", "SavedTake"]

log = structlog.get_logger("metalosc.server.record")

_NOT_CONTROLS = (Ping, StateRequest, Subscribe, Unsubscribe, RecordStart, RecordStop)
"""Messages that do not change the music, left out of a take's log."""


class RecordError(Exception):
    """A recording request that cannot be honoured (already recording, nothing to stop, a
    record directory that cannot be written); the message says why."""


@dataclass(frozen=True)
class SavedTake:
    """A take written: its name, MIDI file, take log, how many notes and beats it holds."""

    name: str
    midi: Path
    log: Path
    notes: int
    beats: float


class _Recording:
    """One recording in progress: the take being built and its log's pieces."""

    def __init__(self, name: str, started_unix: float) -> None:
        self.name = name
        self.started_unix = started_unix
        self.builder = TakeBuilder()
        self.phrases: list[LoggedPhrase] = []
        self.phrase_index: dict[tuple[Any, ...], int] = {}
        self.bars: dict[tuple[int, int], LoggedBar] = {}
        self.runs: dict[int, tuple[float, float]] = {}
        self.tempos: list[tuple[int, float, float]] = []
        self.mutes: list[tuple[int, float, tuple[Instrument, ...]]] = []
        self.controls: list[LoggedControl] = []


class Recorder:
    """Records takes into ``directory`` (created on demand).

    ``clock`` gives each beat's tempo; ``settings`` (JSON-ready) and ``seed`` go into every
    take log.
    """

    def __init__(
        self,
        directory: Path,
        clock: BeatClock,
        *,
        settings: dict[str, Any],
        seed: int | None,
    ) -> None:
        self.directory = directory
        self.clock = clock
        self.settings = settings
        self.seed = seed
        self._recording: _Recording | None = None

    @property
    def recording(self) -> str | None:
        """The name of the take being recorded, ``None`` when not recording."""
        return self._recording.name if self._recording is not None else None

    def paths(self, name: str) -> tuple[Path, Path]:
        """The MIDI file and take log a take called ``name`` is written to."""
        return self.directory / f"{name}.mid", self.directory / f"{name}{TAKE_LOG_SUFFIX}"

    def _free_name(self, name: str) -> str:
        """``name``, or ``name-2``, ``name-3`` … when a take of that name exists: a new take
        never replaces an old one. The name is shortened to make room for the number, so that
        it stays a valid name (at most ``SCENE_NAME_MAX`` characters)."""
        candidate, n = name, 1
        while any(p.exists() for p in self.paths(candidate)):
            n += 1
            suffix = f"-{n}"
            candidate = name[: SCENE_NAME_MAX - len(suffix)] + suffix
        return candidate

    def start(self, name: str) -> str:
        """Start recording a take called ``name`` (or ``name-N`` when taken, returned) from the
        next cue sent. Raises :class:`RecordError` while recording or when the record
        directory cannot be made."""
        if self._recording is not None:
            raise RecordError(
                f"already recording {self._recording.name!r}: /metal/record/stop first"
            )
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RecordError(f"cannot make the record directory {self.directory}: {exc}") from exc
        taken = self._free_name(name)
        self._recording = _Recording(taken, time.time())
        midi, _ = self.paths(taken)
        log.info("recording_started", take=taken, midi=str(midi), seed=self.seed)
        return taken

    # -- what the transport and the controller tell it -------------------------------------

    def cue_sent(
        self, run: int, plan: BarPlan | None, cue: Cue, muted: frozenset[Instrument]
    ) -> None:
        """The transport sent ``cue`` of ``run`` (:class:`~metalosc.server.CueObserver`)."""
        rec = self._recording
        if rec is None:
            return
        bpm = self.clock.bpm_at(cue.beat)
        rec.builder.cue(run, cue, muted, bpm)
        first, _ = rec.runs.get(run, (cue.beat, cue.beat))
        rec.runs[run] = (first, cue.beat)
        if not rec.tempos or (cue.beat_marker and rec.tempos[-1][2] != bpm):
            rec.tempos.append((run, cue.beat, bpm))
        silenced = tuple(sorted(muted))
        if not rec.mutes or rec.mutes[-1][2] != silenced:
            rec.mutes.append((run, cue.beat, silenced))
        bar = plan.bar if plan is not None else int(cue.beat // 4)
        if (run, bar) not in rec.bars:
            rec.bars[(run, bar)] = self._logged_bar(rec, run, bar, plan)

    def _logged_bar(self, rec: _Recording, run: int, bar: int, plan: BarPlan | None) -> LoggedBar:
        if plan is None:
            return LoggedBar(run=run, bar=bar, silent=True)
        indices: dict[Instrument, int] = {}
        for instrument, phrase in plan.phrases.items():
            entry = LoggedPhrase.of(phrase)
            key = (entry.instrument, entry.id, entry.key, entry.notes, entry.z)
            index = rec.phrase_index.get(key)
            if index is None:
                index = rec.phrase_index[key] = len(rec.phrases)
                rec.phrases.append(entry)
            indices[instrument] = index
        section = None
        if plan.section is not None:
            section = LoggedSection.of(plan.section)
        if plan.phrase_start:
            ids = {i: p.id for i, p in plan.phrases.items()}
            log.info("recording_phrase", take=rec.name, run=run, bar=bar, ids=ids)
            log.debug(
                "recording_latents",
                take=rec.name,
                run=run,
                bar=bar,
                z={i: [round(float(v), 6) for v in p.z] for i, p in plan.phrases.items()},
            )
        return LoggedBar(
            run=run,
            bar=bar,
            half=plan.half,
            tension=plan.tension,
            phrase_start=plan.phrase_start,
            phrases=indices,
            section=section,
        )

    def control(self, message: Message, run: int, beat: float | None) -> None:
        """A control message was applied while ``beat`` of ``run`` sounded (``None``: stopped);
        while recording it is logged."""
        rec = self._recording
        if rec is None or isinstance(message, _NOT_CONTROLS):
            return
        rec.controls.append(
            LoggedControl(
                unix=time.time(),
                run=run,
                beat=beat,
                address=message.address,
                args=json.loads(message.model_dump_json()),
            )
        )

    # -- stop ------------------------------------------------------------------------------

    async def stop(self) -> SavedTake:
        """Stop recording and write the take's MIDI file and log (atomically, in a worker
        thread). Raises :class:`RecordError` when not recording or when the files cannot be
        written (the take is then lost, and the error says where it should have gone)."""
        rec = self._recording
        if rec is None:
            raise RecordError("not recording: /metal/record/start first")
        self._recording = None
        take = rec.builder.take()
        take_log = self._log(rec, take)
        midi, log_path = self.paths(rec.name)
        try:
            await trio.to_thread.run_sync(_write, take, take_log, midi, log_path)
        except OSError as exc:
            log.error("recording_failed", take=rec.name, midi=str(midi), error=str(exc))
            raise RecordError(f"cannot write the take to {midi}: {exc}") from exc
        saved = SavedTake(rec.name, midi, log_path, len(take.notes), take.beats)
        log.info(
            "recording_saved",
            take=rec.name,
            midi=str(midi),
            log=str(log_path),
            notes=saved.notes,
            beats=saved.beats,
            seed=self.seed,
            phrases=len(take_log.phrases),
        )
        return saved

    def _log(self, rec: _Recording, take: Take) -> TakeLog:
        return TakeLog(
            name=rec.name,
            midi=self.paths(rec.name)[0].name,
            notes=len(take.notes),
            seed=self.seed,
            settings=self.settings,
            started_unix=rec.started_unix,
            stopped_unix=time.time(),
            phrases=tuple(rec.phrases),
            bars=tuple(rec.bars[k] for k in sorted(rec.bars)),
            runs=tuple(
                LoggedRun(run=r, first_beat=a, last_beat=b)
                for r, (a, b) in sorted(rec.runs.items())
            ),
            tempos=tuple(rec.tempos),
            mutes=tuple(rec.mutes),
            controls=tuple(rec.controls),
        )


def _write(take: Take, take_log: TakeLog, midi: Path, log_path: Path) -> None:
    import io

    buffer = io.BytesIO()
    take_midi(take, title=take_log.name).save(file=buffer)
    write_atomic(midi, buffer.getvalue())
    write_atomic(log_path, (take_log.model_dump_json(indent=1) + "\n").encode("utf-8"))
