"""`form`: is the daemon's music shaped like the music the models learnt from?

:func:`run_form` plays the bundles with the *daemon's own* music engine —
:func:`metalosc.server.perform`: its conductor, buffers and generator, no sockets — for ``bars``
bars at each tension, and measures every performance with :func:`metalosc.runtime.measure_form`;
with the identical code it measures every song of the corpus that has guitar, bass and drums
(split exactly as training splits them). The report gives the corpus's quartiles and each
performance's figures, and says whether each figure lies inside the corpus's interquartile
range. The performances are written as multi-track MIDI (what the daemon would have played, one
file per tension) and, when MuseScore 3 is installed, the first ``score_bars`` bars of each are
rendered to PNG pages to look at.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import structlog
import trio
from metalosc.protocol import INSTRUMENTS, write_atomic
from metalosc.runtime import (
    DEFAULT_QPM,
    FormMeasures,
    Performance,
    TimedNote,
    measure_form,
    render_scores,
)
from metalosc.training._generate import MIDI_INSTRUMENT, write_midi
from metalosc.training._midi_io import NoteSequence, find_midi_files
from metalosc.training._split import seconds_to_beats, split_midi
from rich.table import Table

__all__ = [
    "DEFAULT_TENSIONS",
    "CorpusForm",
    "FormReport",
    "PerformedForm",
    "corpus_form",
    "performance_sequence",
    "render_form_report",
    "run_form",
]

log = structlog.get_logger(__name__)

DEFAULT_TENSIONS = (0.0, 0.2, 0.5, 0.9)
FORM_FILE = "form.json"
MEASURES = FormMeasures.MEASURES
CALM_NOTES_PER_BAR = 2.5
"""At tension 0 the guitar must play at least this many notes a bar (half the corpus guitar's
lower quartile), in every bar."""


@dataclass(frozen=True)
class CorpusForm:
    """The corpus's form: per measure the (p25, median, p75) over its songs, and the songs."""

    songs: tuple[str, ...]
    quartiles: dict[str, tuple[float, float, float]]
    per_song: dict[str, FormMeasures]

    def inside(self, measure: str, value: float) -> bool:
        """Whether ``value`` lies in the interquartile range of ``measure``."""
        low, _, high = self.quartiles[measure]
        return not math.isnan(value) and low <= value <= high


@dataclass(frozen=True)
class PerformedForm:
    """One performance: its tension, measures, onsets per guitar bar, sections, stand-ins and
    MIDI file."""

    tension: float
    measures: FormMeasures
    guitar_onsets_per_bar: float
    sections: int
    stand_ins: int
    midi: Path


@dataclass(frozen=True)
class FormReport:
    """Everything `form` measured; ``to_json`` is what ``form.json`` holds."""

    bundles_dir: Path
    corpus_dir: Path
    bars: int
    seed: int
    corpus: CorpusForm
    performances: tuple[PerformedForm, ...]
    scores: tuple[Path, ...]
    render: str

    def inside_all(self) -> bool:
        """Whether every form measure of every performance is inside the corpus's IQR."""
        return all(
            self.corpus.inside(name, getattr(p.measures, name))
            for p in self.performances
            for name in MEASURES
        )

    def calm_plays(self) -> bool:
        """Whether at the calmest tension played the guitar sounds in every bar with at least
        :data:`CALM_NOTES_PER_BAR` notes a bar."""
        calm = min(self.performances, key=lambda p: p.tension)
        m = calm.measures
        return m.guitar_bars_sounding >= 1.0 and m.guitar_notes_per_bar >= CALM_NOTES_PER_BAR

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes null)."""
        return {
            "bundles_dir": str(self.bundles_dir),
            "corpus_dir": str(self.corpus_dir),
            "bars": self.bars,
            "seed": self.seed,
            "corpus": {
                "songs": len(self.corpus.songs),
                "quartiles": {
                    name: {"p25": q[0], "median": q[1], "p75": q[2]}
                    for name, q in self.corpus.quartiles.items()
                },
            },
            "performances": [
                {
                    "tension": p.tension,
                    "measures": {k: _finite(v) for k, v in _all_measures(p.measures).items()},
                    "inside_iqr": {
                        n: self.corpus.inside(n, getattr(p.measures, n)) for n in MEASURES
                    },
                    "guitar_onsets_per_bar": p.guitar_onsets_per_bar,
                    "sections": p.sections,
                    "stand_ins": p.stand_ins,
                    "midi": str(p.midi),
                }
                for p in self.performances
            ],
            "inside_all": self.inside_all(),
            "calm_plays": self.calm_plays(),
            "scores": [str(s) for s in self.scores],
            "render": self.render,
        }


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else value


def _all_measures(measures: FormMeasures) -> dict[str, float]:
    return {
        **measures.values(),
        "guitar_notes_per_bar": measures.guitar_notes_per_bar,
        "guitar_bars_sounding": measures.guitar_bars_sounding,
    }


# -- the corpus -----------------------------------------------------------------------------


def _beats(seq: NoteSequence) -> tuple[TimedNote, ...]:
    notes = (
        TimedNote(n.pitch, seconds_to_beats(seq, n.start_time), seconds_to_beats(seq, n.end_time))
        for n in seq.notes
    )
    return tuple(sorted(notes, key=lambda n: (n.start, n.pitch)))


def song_performance(midi: bytes, relative_path: str) -> Performance | None:
    """A corpus song as training splits it, in beats through its tempo map; ``None`` when the
    split finds no guitar, bass *and* drums in it (or skips it)."""
    split = split_midi(midi, relative_path, "corpus")
    if split.skip_reason is not None or set(split.sequences) != set(INSTRUMENTS):
        return None
    parts = {i: _beats(split.sequences[i]) for i in INSTRUMENTS}
    end = max((n.end for notes in parts.values() for n in notes), default=0.0)
    bars = int(end // 4)
    if bars < 2:
        return None
    return Performance(parts["guitar"], parts["bass"], parts["drums"], bars)


def corpus_form(corpus_dir: Path) -> CorpusForm:
    """The form measures of every song under ``corpus_dir`` that has guitar, bass and drums, and
    their quartiles. Raises ``ValueError`` when no song qualifies."""
    per_song: dict[str, FormMeasures] = {}
    for path in find_midi_files(corpus_dir):
        relative = path.relative_to(corpus_dir).as_posix()
        performance = song_performance(path.read_bytes(), relative)
        if performance is not None:
            per_song[relative] = measure_form(performance)
    if not per_song:
        raise ValueError(f"{corpus_dir}: no song with guitar, bass and drums")
    quartiles = {}
    for name in (*MEASURES, "guitar_notes_per_bar", "guitar_bars_sounding"):
        values = np.array([getattr(m, name) for m in per_song.values()], dtype=np.float64)
        values = values[~np.isnan(values)]
        q25, q50, q75 = (float(np.percentile(values, q)) for q in (25, 50, 75))
        quartiles[name] = (q25, q50, q75)
    log.info("form.corpus", songs=len(per_song), corpus=str(corpus_dir))
    return CorpusForm(tuple(per_song), quartiles, per_song)


# -- the daemon -----------------------------------------------------------------------------


def performance_sequence(
    performance: Performance,
    qpm: float = DEFAULT_QPM,
    keys: Sequence[tuple[int, int]] = (),
) -> NoteSequence:
    """``performance`` as a multi-track NoteSequence at ``qpm`` (guitar, bass, drums on the
    tracks generate writes them on), for MIDI files and scores; ``keys`` are (bar, pitch class)
    of the minor keys played from those bars on, written as key signatures."""
    from metalosc.runtime import PROGRAMS

    seq = NoteSequence(ticks_per_quarter=220)
    seq.tempos.add(qpm=qpm)
    seq.time_signatures.add(numerator=4, denominator=4)
    for bar, key in keys:
        seq.key_signatures.add(
            time=bar * 4 * 60.0 / qpm, key=key, mode=NoteSequence.KeySignature.MINOR
        )
    names = {"guitar": "Distortion Guitar", "bass": "Bass", "drums": "Drums"}
    seconds = 60.0 / qpm
    for instrument, notes in performance.parts().items():
        track = MIDI_INSTRUMENT[instrument]  # type: ignore[index]
        seq.instrument_infos.add(instrument=track, name=names[instrument])
        for note in notes:
            seq.notes.add(
                pitch=note.pitch,
                velocity=100,
                start_time=note.start * seconds,
                end_time=note.end * seconds,
                instrument=track,
                program=PROGRAMS[instrument],  # type: ignore[index]
                is_drum=instrument == "drums",
            )
    seq.total_time = performance.bars * 4 * seconds
    return seq


def _onsets_per_bar(performance: Performance) -> float:
    onsets = {round(n.start * 4) for n in performance.guitar if n.start < performance.bars * 4}
    return len(onsets) / performance.bars if performance.bars else math.nan


def _perform(bundles_dir: Path, tension: float, bars: int, seed: int) -> Any:
    from metalosc.server import Settings, perform

    settings = Settings(
        models=bundles_dir,
        model_execution="thread",
        tension=tension,
        seed=seed,
        log_format="json",
        log_level="warning",
    )
    return trio.run(lambda: perform(settings, bars=bars))


def run_form(
    bundles_dir: Path,
    out_dir: Path,
    corpus_dir: Path,
    *,
    tensions: Sequence[float] = DEFAULT_TENSIONS,
    bars: int = 128,
    seed: int = 0,
    render: bool = True,
    score_bars: int = 32,
) -> FormReport:
    """Measures the corpus and the daemon's performances at ``tensions`` (module docstring);
    writes ``out_dir/form.json``, ``form-t<tension>.mid`` per tension and, with ``render``,
    score pages of the first ``score_bars`` bars of each."""
    out_dir.mkdir(parents=True, exist_ok=True)
    corpus = corpus_form(corpus_dir)
    performed: list[PerformedForm] = []
    excerpts: list[Path] = []
    for tension in tensions:
        result = _perform(bundles_dir, tension, bars, seed)
        performance: Performance = result.performance
        keys = _key_changes(result.sections)
        midi = out_dir / f"form-t{tension:.2f}.mid"
        write_midi(performance_sequence(performance, keys=keys), midi)
        excerpt = _excerpt(performance, score_bars)
        excerpt_path = out_dir / f"form-t{tension:.2f}-{score_bars}bars.mid"
        write_midi(performance_sequence(excerpt, keys=keys), excerpt_path)
        excerpts.append(excerpt_path)
        measures = measure_form(performance)
        performed.append(
            PerformedForm(
                tension,
                measures,
                _onsets_per_bar(performance),
                len(result.sections),
                result.stand_ins,
                midi,
            )
        )
        log.info("form.performed", tension=tension, **measures.values())
    scores, status = render_scores(excerpts, out_dir) if render else ([], "disabled")
    report = FormReport(
        bundles_dir,
        corpus_dir,
        bars,
        seed,
        corpus,
        tuple(performed),
        tuple(scores),
        status,
    )
    write_atomic(
        out_dir / FORM_FILE, json.dumps(report.to_json(), indent=2, allow_nan=False) + "\n"
    )
    return report


def _key_changes(sections: Sequence[Any]) -> list[tuple[int, int]]:
    """(bar, key) where the key changes, from the sections played (the first always)."""
    changes: list[tuple[int, int]] = []
    for section in sections:
        if not changes or changes[-1][1] != section.key:
            changes.append((section.start_bar, section.key))
    return changes


def _excerpt(performance: Performance, bars: int) -> Performance:
    end = bars * 4

    def cut(notes: tuple[TimedNote, ...]) -> tuple[TimedNote, ...]:
        return tuple(n for n in notes if n.start < end)

    return Performance(
        cut(performance.guitar),
        cut(performance.bass),
        cut(performance.drums),
        min(bars, performance.bars),
    )


def render_form_report(report: FormReport) -> Table:
    """A rich table: per measure the corpus's quartiles and the daemon's figure per tension,
    marked when outside the corpus's interquartile range."""
    table = Table(
        title=f"form of {report.bundles_dir} vs {len(report.corpus.songs)} corpus songs "
        f"({report.bars} bars per tension, seed {report.seed})"
    )
    table.add_column("measure")
    for column in ("corpus p25", "median", "p75"):
        table.add_column(column, justify="right")
    for p in report.performances:
        table.add_column(f"daemon t={p.tension:g}", justify="right")
    for name in (*MEASURES, "guitar_notes_per_bar", "guitar_bars_sounding"):
        q = report.corpus.quartiles[name]
        cells = []
        for p in report.performances:
            value = getattr(p.measures, name)
            text = "n/a" if math.isnan(value) else f"{value:.3f}"
            if name in MEASURES and not report.corpus.inside(name, value):
                text = f"[red]{text}[/]"
            cells.append(text)
        table.add_row(name.replace("_", " "), *(f"{v:.3f}" for v in q), *cells)
    table.add_row(
        "guitar onsets per bar",
        "",
        "",
        "",
        *(f"{p.guitar_onsets_per_bar:.2f}" for p in report.performances),
    )
    table.add_row(
        "sections / stand-ins",
        "",
        "",
        "",
        *(f"{p.sections} / {p.stand_ins}" for p in report.performances),
    )
    verdict = "yes" if report.inside_all() else "[red]no[/]"
    calm = "yes" if report.calm_plays() else "[red]no[/]"
    table.caption = (
        f"all four inside the corpus IQR at every tension: {verdict}; the calmest guitar sounds "
        f"in every bar with ≥ {CALM_NOTES_PER_BAR} notes a bar: {calm}; scores: {report.render}"
    )
    return table
