"""The take log: everything a recording needs to be played again, as one JSON file.

Written beside the take's MIDI file (``<name>.take.json``) when a recording stops. It holds the
seed and settings the daemon ran with, every bar played while recording as the conductor planned
it — which phrase each instrument played, which of its two bars, the section that started there
— with each phrase's latent vector (the *latent path*), its decoded notes and key, the recorded
span of each run of the transport, the tempo and mute changes at the beats where they took
effect, and every control message received with the beat it arrived at.

Why the notes and not only the latents: MusicVAE's decoder samples every step from a softmax at
the sampling temperature, so a latent alone does not fix its notes; and the daemon decodes in the
background, concurrently with the music, so the seed alone does not fix which latents play when.
What the models produced is therefore logged, and ``metalosc replay`` rebuilds the take from
it through the daemon's own cue layout (:func:`metalosc.server.cues_for`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
from metalosc.protocol import Instrument
from metalosc.runtime import Phrase, PhraseNote
from pydantic import BaseModel, ConfigDict, ValidationError

from ._conductor import BarPlan, Section, SectionOrder

__all__ = [
    "TAKE_LOG_SUFFIX",
    "LoggedBar",
    "LoggedControl",
    "LoggedPhrase",
    "LoggedRun",
    "LoggedSection",
    "TakeLog",
    "TakeLogError",
    "read_take_log",
]

TAKE_LOG_SUFFIX = ".take.json"
"""A take log's file name is the take's name and this suffix."""


class TakeLogError(Exception):
    """A take log that cannot be read; the message names the file and the first problem."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LoggedPhrase(_Frozen):
    """One phrase played: instrument, id, the key it was moved into (pitch class, ``None``: as
    decoded), its intensity and chords, its latent ``z`` and its notes as (pitch, velocity, start
    beat, end beat) from the phrase start."""

    instrument: Instrument
    id: int
    key: int | None
    intensity: float
    chords: tuple[str, ...]
    z: tuple[float, ...]
    notes: tuple[tuple[int, int, float, float], ...]

    @classmethod
    def of(cls, phrase: Phrase) -> LoggedPhrase:
        """The log entry of ``phrase``."""
        return cls(
            instrument=phrase.instrument,
            id=phrase.id,
            key=phrase.key,
            intensity=float(phrase.intensity),
            chords=tuple(phrase.chords),
            z=tuple(float(v) for v in np.asarray(phrase.z).ravel()),
            notes=tuple((n.pitch, n.velocity, n.start_beat, n.end_beat) for n in phrase.notes),
        )

    def phrase(self) -> Phrase:
        """The phrase again (without its features and bass candidates, which play no note)."""
        return Phrase(
            instrument=self.instrument,
            z=np.asarray(self.z, dtype=np.float64),
            notes=tuple(PhraseNote(p, v, s, e) for p, v, s, e in self.notes),
            intensity=self.intensity,
            chords=self.chords,
            id=self.id,
            key=self.key,
        )


class LoggedSection(_Frozen):
    """A section that started while recording, as :class:`~metalosc.server.Section` has it."""

    index: int
    label: str
    key: int
    tension: float
    temperature: float
    pattern: str
    start_bar: int
    phrases: int

    @classmethod
    def of(cls, section: Section) -> LoggedSection:
        """The loggable fields of the conductor's ``section`` (its phrases are logged apart)."""
        return cls(**{name: getattr(section, name) for name in cls.model_fields})

    def section(self, groove: Phrase) -> Section:
        """The conductor's :class:`~metalosc.server.Section` again, playing ``groove``."""
        return Section(
            **self.model_dump(), riffs={}, groove=groove, order=SectionOrder(self.key, None, None)
        )


class LoggedBar(_Frozen):
    """One bar of the transport's ``run`` as the conductor planned it: the index of each
    instrument's phrase in :attr:`TakeLog.phrases`, which of its bars (``half``), the tension,
    whether a phrase starts here and the section that does; ``silent`` when nothing had been
    decoded yet (the beat still ran)."""

    run: int
    bar: int
    silent: bool = False
    half: int = 0
    tension: float = 0.0
    phrase_start: bool = False
    phrases: dict[Instrument, int] = {}
    section: LoggedSection | None = None


class LoggedRun(_Frozen):
    """The span of one run of the transport that was recorded: its first and last cue's beat
    (beats since that run's play)."""

    run: int
    first_beat: float
    last_beat: float


class LoggedControl(_Frozen):
    """A control message received while recording: when (unix seconds), where in the music
    (``run`` and ``beat`` sounding then; ``None`` while stopped), its address and its
    arguments by name."""

    unix: float
    run: int
    beat: float | None
    address: str
    args: dict[str, Any]


class TakeLog(_Frozen):
    """A take's log (module docstring). ``tempos`` are (run, beat, bpm) and ``mutes`` (run,
    beat, muted instruments) at the first cue each held for; ``midi`` is the take's MIDI file
    name (beside the log) and ``notes`` how many notes it holds."""

    format: Literal[1] = 1
    name: str
    midi: str
    notes: int
    seed: int | None
    settings: dict[str, Any]
    started_unix: float
    stopped_unix: float
    phrases: tuple[LoggedPhrase, ...]
    bars: tuple[LoggedBar, ...]
    runs: tuple[LoggedRun, ...]
    tempos: tuple[tuple[int, float, float], ...]
    mutes: tuple[tuple[int, float, tuple[Instrument, ...]], ...]
    controls: tuple[LoggedControl, ...]

    def plan(self, bar: LoggedBar, phrases: list[Phrase]) -> BarPlan | None:
        """The conductor's plan of ``bar`` again, from the log's ``phrases`` (as :meth:`phrases`
        made them); ``None`` for a silent bar."""
        if bar.silent:
            return None
        chosen = {i: phrases[k] for i, k in bar.phrases.items()}
        section = None
        if bar.section is not None:
            groove = chosen.get("drums") or next(iter(chosen.values()))
            section = bar.section.section(groove)
        return BarPlan(bar.bar, chosen, bar.half, bar.tension, bar.phrase_start, None, section)

    def played_phrases(self) -> list[Phrase]:
        """Every logged phrase as a :class:`~metalosc.runtime.Phrase`, in log order."""
        return [p.phrase() for p in self.phrases]


def read_take_log(path: Path) -> TakeLog:
    """The take log at ``path``. Raises :class:`TakeLogError` naming the file when it is
    missing, not JSON, or not a take log."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TakeLogError(f"{path}: cannot read the take log ({exc})") from exc
    try:
        return TakeLog.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "the file"
        raise TakeLogError(f"{path}: not a take log ({where}: {first['msg']})") from exc
