"""`quality`: evidence that three bundles make music that answers tension and plays together.

Three measurements, each reusing the code the product runs:

* **Tension calibration.** Per instrument, ``phrases`` latents from the prior are placed along
  the bundle's tension attribute vector with :func:`metalosc.runtime.place_tension`
  (the coordinate along v set to (2·tension − 1)·TENSION_PUSH·‖v‖) for tensions evenly spaced
  in [0, 1]. That is the daemon's mapping too: its refill places every latent it samples
  with the same function, around the requested tension. Each phrase is decoded (the bass on
  the chords inferred from the guitar phrase at the same tension, as the server does), scored with
  :func:`intensity`, and the Spearman rank correlation between requested tension and measured
  intensity is reported. Ranks, because the server only needs "more tension → more intense",
  not a linear scale. Paired anchors — the same latents decoded at tension 0, 0.5 and 1 — give
  the mean intensity at each end and the share of latents that really get more intense from 0
  to 1. The server's phrase buffer then *ranks* decoded phrases by intensity on top of this, so
  this is the floor of what a player hears, not the ceiling.
* **Band cohesion.** Band phrases from :func:`generate_songs` (guitar sampled, chords inferred
  from it, bass decoded on them, the best-fitting of ``BASS_CANDIDATES`` as the daemon plays
  it): the share of bass notes starting on a strong beat whose pitch class is a tone of that
  bar's chord (:func:`metalosc.runtime.strong_beat_chord_fit` defines it). The same with one
  candidate shows what the model does alone. Two baselines give the number meaning: bass
  decoded on *random* triads (scored against the guitar's chords), and the played bass notes
  with random pitches (chance is 3/12).
* **Scores.** A few 8-bar band excerpts at tensions spread over 0..1, written as multi-track
  MIDI with generate's writer and, when MuseScore 3 (``mscore3``) is installed, rendered to PNG
  pages — how the original project checked its output by eye.

Everything numpy draws (latents, the tension grid, random chords and pitches) comes from the
seed, and the models' graphs are seeded too; but Magenta samples notes with tfp inside a TF
while-loop whose stateful random ops are not repeatable run to run, so at temperature 1 the
numbers move by sampling noise from run to run (even near-greedy temperatures tie on the
nearly flat logits of an untrained model). Exact repeats need seeded, stateless sampling in
``ModelSession``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from metalosc.protocol import INSTRUMENTS, Instrument
from metalosc.runtime import (
    BASS_CANDIDATES,
    NO_CHORD,
    PHRASE_BARS,
    ChordFit,
    InstrumentModel,
    infer_chords,
    intensity,
    place_tension,
    strong_beat_chord_fit,
)
from metalosc.training._generate import (
    MIDI_INSTRUMENT,
    decode_best_bass,
    generate_songs,
    load_bundles,
    write_midi,
)
from metalosc.training._midi_io import NoteSequence, write_text_atomic

log = structlog.get_logger(__name__)

#: The tensions whose mean intensity the report names.
ANCHORS = (0.0, 0.5, 1.0)
#: Targets the shipped bundles are held to (reported as met or not; `--strict` turns a miss into
#: exit status 1).
TARGET_SPEARMAN = 0.9
TARGET_COHESION = 0.8
#: Random-triad baseline vocabulary: the 24 major and minor triads.
_ROOTS = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
RANDOM_TRIADS = tuple(f"{root}{kind}" for root in _ROOTS for kind in ("", "m"))
MIN_PHRASES = 4
EXCERPT_BARS = 8
MSCORE = "mscore3"
RENDER_TIMEOUT_S = 180.0
REPORT_FILE = "quality.json"


# -- chord inference speed -------------------------------------------------------------------


def seed_sampling(models: Mapping[Instrument, InstrumentModel], seed: int) -> None:
    """Seeds the models' graphs: TensorFlow derives a fixed seed for every random op built after
    the graph gets one, and :class:`InstrumentModel` builds most decode ops lazily (per batch
    size). Call right after loading. This removes the seed lottery, not all variation: tfp's
    sampling inside Magenta's decode loop still depends on thread timing (module docstring)."""
    for model in models.values():
        model.session.graph.seed = seed


# -- songs --------------------------------------------------------------------------------


def part(song: NoteSequence, instrument: Instrument) -> NoteSequence:
    """One instrument's notes of a song written by :func:`assemble` (same tempo, seconds)."""
    out = NoteSequence(ticks_per_quarter=song.ticks_per_quarter)
    out.tempos.extend(song.tempos)
    out.time_signatures.extend(song.time_signatures)
    for note in song.notes:
        if note.instrument == MIDI_INSTRUMENT[instrument]:
            out.notes.add().CopyFrom(note)
    out.total_time = song.total_time
    return out


def song_chords(song: NoteSequence) -> list[str]:
    """The per-bar chord symbols :func:`assemble` annotated, in time order."""
    annotations = [
        a
        for a in song.text_annotations
        if a.annotation_type == NoteSequence.TextAnnotation.CHORD_SYMBOL
    ]
    return [a.text for a in sorted(annotations, key=lambda a: a.time)]


# -- results ---------------------------------------------------------------------------------


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else value


@dataclass(frozen=True)
class TensionCalibration:
    """How well one instrument's decoded intensity follows the requested tension."""

    instrument: Instrument
    phrases: int
    spearman: float  # NaN when the intensities do not vary at all
    p_value: float
    mean_intensity: dict[str, float]  # {"0.0": ..., "0.5": ..., "1.0": ...} over paired latents
    anchor_latents: int
    monotone_fraction: float  # share of paired latents more intense at 1 than at 0
    vector_norm: float
    z_size: int
    projection_top_quartile: float  # mean z·v̂ of the most intense quarter of the sweep
    projection_bottom_quartile: float  # ... and of the calmest quarter

    @property
    def meets_target(self) -> bool:
        return not math.isnan(self.spearman) and self.spearman >= TARGET_SPEARMAN


@dataclass(frozen=True)
class Cohesion:
    """Strong-beat bass chord-tone fit of band phrases as the daemon plays them (the best of
    `candidates` bass phrases per guitar phrase), of the model alone (one candidate), and of the
    two baselines."""

    phrases: int
    candidates: int
    band: ChordFit
    single_candidate: ChordFit
    random_chords: ChordFit
    random_pitches: ChordFit
    no_chord_bars: int
    bars: int

    @property
    def meets_target(self) -> bool:
        fraction = self.band.fraction
        return not math.isnan(fraction) and fraction >= TARGET_COHESION


@dataclass(frozen=True)
class QualityReport:
    """Everything `quality` measured; `to_json` is what `quality.json` holds."""

    bundles_dir: Path
    seed: int
    temperature: float
    tension: dict[Instrument, TensionCalibration]
    cohesion: Cohesion
    excerpts: list[Path]
    scores: list[Path]
    render: str  # "rendered", "disabled", "mscore3 not found", or the failure
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes null)."""

        def fit(f: ChordFit) -> dict[str, Any]:
            return {**asdict(f), "fraction": _finite(f.fraction)}

        tension = {}
        for instrument, cal in self.tension.items():
            entry = asdict(cal)
            entry["spearman"] = _finite(cal.spearman)
            entry["p_value"] = _finite(cal.p_value)
            entry["meets_target"] = cal.meets_target
            tension[instrument] = entry
        c = self.cohesion
        return {
            "bundles_dir": str(self.bundles_dir),
            "seed": self.seed,
            "temperature": self.temperature,
            "targets": {"spearman": TARGET_SPEARMAN, "cohesion": TARGET_COHESION},
            "tension": tension,
            "cohesion": {
                "definition": (
                    "share of bass notes starting on 16th steps 0 or 8 of a 16-step 4/4 bar "
                    "(beats 1 and 3) whose pitch class is in the bar's chord triad; N.C. bars "
                    "excluded"
                ),
                "phrases": c.phrases,
                "bass_candidates": c.candidates,
                "bars": c.bars,
                "no_chord_bars": c.no_chord_bars,
                "band": fit(c.band),
                "single_candidate": fit(c.single_candidate),
                "baseline_random_chords": fit(c.random_chords),
                "baseline_random_pitches": fit(c.random_pitches),
                "meets_target": c.meets_target,
            },
            "excerpts": [str(p) for p in self.excerpts],
            "scores": [str(p) for p in self.scores],
            "render": self.render,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
        }


# -- measurements ----------------------------------------------------------------------------


def _spearman(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    from scipy import stats

    if np.ptp(y) == 0 or np.ptp(x) == 0:
        return math.nan, math.nan
    result = stats.spearmanr(x, y)
    return float(result.correlation), float(result.pvalue)


def _calibration(
    model: InstrumentModel,
    instrument: Instrument,
    tensions: np.ndarray,
    z: np.ndarray,
    scores: np.ndarray,
    anchor_latents: int,
) -> TensionCalibration:
    """The statistics of one instrument from its rows: first the sweep, then the anchor rows
    (all latents at :data:`ANCHORS` [0], then all at [1], ...), as :func:`calibrate_tension`
    lays them out."""
    sweep = len(tensions) - len(ANCHORS) * anchor_latents
    rho, p = _spearman(tensions[:sweep], scores[:sweep])
    anchors = scores[sweep:].reshape(len(ANCHORS), anchor_latents)
    vector = np.asarray(model.tension_vector, np.float64)
    norm = float(np.linalg.norm(vector))
    unit = vector / norm if norm > 0 else vector
    projection = z[:sweep].astype(np.float64) @ unit
    order = np.argsort(scores[:sweep], kind="stable")
    quarter = max(1, sweep // 4)
    return TensionCalibration(
        instrument=instrument,
        phrases=sweep,
        spearman=rho,
        p_value=p,
        mean_intensity={
            f"{t:.1f}": float(row.mean()) for t, row in zip(ANCHORS, anchors, strict=True)
        },
        anchor_latents=anchor_latents,
        monotone_fraction=float(np.mean(anchors[-1] > anchors[0])),
        vector_norm=norm,
        z_size=model.z_size,
        projection_top_quartile=float(projection[order[-quarter:]].mean()),
        projection_bottom_quartile=float(projection[order[:quarter]].mean()),
    )


def calibrate_tension(
    models: Mapping[Instrument, InstrumentModel],
    *,
    phrases: int,
    temperature: float,
    rng: np.random.Generator,
) -> dict[Instrument, TensionCalibration]:
    """Per instrument: a sweep of `phrases` prior latents at tensions linspace(0, 1), then
    `max(2, phrases // 4)` latents each decoded at the three :data:`ANCHORS`. The bass row i
    plays on the chords of guitar row i (same tension), as in the server."""
    if phrases < MIN_PHRASES:
        raise ValueError(f"phrases must be >= {MIN_PHRASES} for a rank correlation, got {phrases}")
    anchor_latents = max(2, phrases // 4)
    tensions = np.concatenate(
        [np.linspace(0.0, 1.0, phrases), np.repeat(np.asarray(ANCHORS), anchor_latents)]
    )
    decoded: dict[Instrument, list[NoteSequence]] = {}
    latents: dict[Instrument, np.ndarray] = {}
    for instrument in ("guitar", "drums", "bass"):
        model = models[instrument]
        base = model.sample_z(phrases + anchor_latents, rng)
        # The anchors reuse the same latents at each anchor tension (a paired comparison).
        rows = np.concatenate([base[:phrases], np.tile(base[phrases:], (len(ANCHORS), 1))])
        z = place_tension(rows, model.tension_vector, tensions)
        if model.chord_conditioned:
            progressions = [infer_chords(g, bars=PHRASE_BARS) for g in decoded["guitar"]]
            decoded[instrument] = decode_best_bass(model, z[None], progressions, temperature)
        else:
            decoded[instrument] = model.decode(z, temperature)
        latents[instrument] = z
    out = {}
    for instrument in INSTRUMENTS:
        scores = np.asarray([intensity(seq, instrument) for seq in decoded[instrument]])
        out[instrument] = _calibration(
            models[instrument], instrument, tensions, latents[instrument], scores, anchor_latents
        )
        log.info(
            "quality.tension",
            instrument=instrument,
            spearman=out[instrument].spearman,
            mean_intensity=out[instrument].mean_intensity,
        )
    return out


def measure_cohesion(
    models: Mapping[Instrument, InstrumentModel],
    *,
    phrases: int,
    temperature: float,
    seed: int,
    rng: np.random.Generator,
    candidates: int = BASS_CANDIDATES,
) -> Cohesion:
    """Strong-beat chord-tone fit of `phrases` 2-bar band phrases from :func:`generate_songs`
    (the bass the best of `candidates`, as played), of the same with one candidate (what the
    model does alone), against bass decoded on random triads and random pitches on the played
    bass's rhythm."""

    def band_fit(count: int) -> tuple[ChordFit, list[list[str]], list[NoteSequence]]:
        songs = generate_songs(
            models,
            count=phrases,
            bars=PHRASE_BARS,
            temperature=temperature,
            seed=seed,
            bass_candidates=count,
        )
        chords = [song_chords(song) for song in songs]
        basses = [part(song, "bass") for song in songs]
        pairs = zip(basses, chords, strict=True)
        return sum((strong_beat_chord_fit(b, c) for b, c in pairs), ChordFit()), chords, basses

    band, chords, basses = band_fit(candidates)
    single = band_fit(1)[0] if candidates > 1 else band

    bass = models["bass"]
    random_progressions = [
        [str(s) for s in rng.choice(RANDOM_TRIADS, PHRASE_BARS)] for _ in range(phrases)
    ]
    off_chords = decode_best_bass(
        bass, bass.sample_z(phrases, rng)[None], random_progressions, temperature
    )
    random_chords = sum(
        (strong_beat_chord_fit(b, c) for b, c in zip(off_chords, chords, strict=True)), ChordFit()
    )

    random_pitches = ChordFit()
    for b, c in zip(basses, chords, strict=True):
        shuffled = NoteSequence()
        shuffled.CopyFrom(b)
        for note in shuffled.notes:
            note.pitch = 36 + int(rng.integers(0, 12))
        random_pitches += strong_beat_chord_fit(shuffled, c)

    all_bars = [symbol for progression in chords for symbol in progression]
    cohesion = Cohesion(
        phrases=phrases,
        candidates=candidates,
        band=band,
        single_candidate=single,
        random_chords=random_chords,
        random_pitches=random_pitches,
        no_chord_bars=sum(symbol == NO_CHORD for symbol in all_bars),
        bars=len(all_bars),
    )
    log.info(
        "quality.cohesion",
        band=band.fraction,
        single_candidate=single.fraction,
        random_chords=random_chords.fraction,
        random_pitches=random_pitches.fraction,
        notes=band.notes,
    )
    return cohesion


def excerpt_tensions(count: int) -> list[float]:
    """Tensions of the score excerpts: evenly over 0..1 (one excerpt: 0.5)."""
    return [0.5] if count == 1 else [float(t) for t in np.linspace(0.0, 1.0, count)]


def write_excerpts(
    models: Mapping[Instrument, InstrumentModel],
    out_dir: Path,
    *,
    count: int,
    temperature: float,
    seed: int,
) -> list[Path]:
    """`count` 8-bar band excerpts `excerpt-<n>-t<tension>.mid`, calm to intense."""
    paths = []
    for n, tension in enumerate(excerpt_tensions(count)):
        (song,) = generate_songs(
            models,
            count=1,
            bars=EXCERPT_BARS,
            tension=tension,
            temperature=temperature,
            seed=seed + n,
        )
        path = out_dir / f"excerpt-{n}-t{tension:.2f}.mid"
        write_midi(song, path)
        paths.append(path)
    return paths


# -- score rendering (the I/O edge) ----------------------------------------------------------


class RenderError(Exception):
    """MuseScore could not render a MIDI file; the message says which and why."""


def _page_number(path: Path) -> int:
    suffix = path.stem.rsplit("-", 1)[-1]
    return int(suffix) if suffix.isdigit() else 0


def render_score(midi: Path, out_dir: Path, *, mscore: str = MSCORE) -> list[Path]:
    """PNG pages `<midi stem>-<page>.png` of `midi`, by MuseScore 3 headless.

    MuseScore writes `X-1.png`, `X-2.png`... for `-o X.png`; it renders into a temp directory
    and the pages are moved into `out_dir`, so a failed render leaves no partial pages.
    """
    with tempfile.TemporaryDirectory(prefix=".render-", dir=out_dir) as tmp:
        target = Path(tmp) / f"{midi.stem}.png"
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        try:
            result = subprocess.run(
                [mscore, "-o", str(target), str(midi)],
                env=env,
                capture_output=True,
                text=True,
                timeout=RENDER_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise RenderError(f"{mscore} took over {RENDER_TIMEOUT_S:.0f} s on {midi}") from None
        pages = sorted(Path(tmp).glob(f"{midi.stem}*.png"), key=_page_number)
        if result.returncode != 0 or not pages:
            detail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RenderError(f"{mscore} failed on {midi} (exit {result.returncode}): {detail[0]}")
        out = []
        for page in pages:
            final = out_dir / page.name
            os.replace(page, final)
            out.append(final)
    return out


def render_scores(midis: Iterable[Path], out_dir: Path) -> tuple[list[Path], str]:
    """Every MIDI rendered to PNG pages, and a one-line status for the report."""
    if shutil.which(MSCORE) is None:
        log.warning("quality.render_skipped", reason=f"{MSCORE} not on PATH")
        return [], f"{MSCORE} not found"
    pages: list[Path] = []
    for midi in midis:
        try:
            pages.extend(render_score(midi, out_dir))
        except RenderError as e:
            log.warning("quality.render_failed", error=str(e))
            return pages, str(e)
    log.info("quality.rendered", pages=len(pages))
    return pages, "rendered"


# -- the command -----------------------------------------------------------------------------


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def run_quality(
    bundles_dir: Path,
    out_dir: Path,
    *,
    phrases: int = 200,
    seed: int = 0,
    render: bool = True,
    excerpts: int = 3,
    temperature: float = 1.0,
) -> QualityReport:
    """Measures the bundles in `bundles_dir/<instrument>` and writes `out_dir/quality.json`,
    the excerpt MIDI files and (with `render`) their PNG score pages."""
    if phrases < MIN_PHRASES:
        raise ValueError(f"phrases must be >= {MIN_PHRASES} for a rank correlation, got {phrases}")
    if excerpts < 1:
        raise ValueError(f"excerpts must be >= 1, got {excerpts}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    models = load_bundles(Path(bundles_dir))
    try:
        seed_sampling(models, seed)
        seconds["load"] = time.perf_counter() - started
        mark = time.perf_counter()
        tension = calibrate_tension(
            models,
            phrases=phrases,
            temperature=temperature,
            rng=np.random.default_rng([seed, 1]),
        )
        seconds["tension"] = time.perf_counter() - mark
        mark = time.perf_counter()
        cohesion = measure_cohesion(
            models,
            phrases=phrases,
            temperature=temperature,
            seed=seed,
            rng=np.random.default_rng([seed, 2]),
        )
        seconds["cohesion"] = time.perf_counter() - mark
        mark = time.perf_counter()
        midis = write_excerpts(models, out_dir, count=excerpts, temperature=temperature, seed=seed)
        seconds["excerpts"] = time.perf_counter() - mark
    finally:
        for model in models.values():
            model.close()
    mark = time.perf_counter()
    if render:
        pages, status = render_scores(midis, out_dir)
    else:
        pages, status = [], "disabled"
    seconds["render"] = time.perf_counter() - mark
    seconds["total"] = time.perf_counter() - started
    report = QualityReport(
        bundles_dir=Path(bundles_dir),
        seed=seed,
        temperature=temperature,
        tension=tension,
        cohesion=cohesion,
        excerpts=midis,
        scores=pages,
        render=status,
        seconds=seconds,
    )
    _write_json(out_dir / REPORT_FILE, report.to_json())
    log.info("quality.done", out=str(out_dir), seconds=round(seconds["total"], 1))
    return report


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def _verdict(ok: bool) -> str:
    return "[green]yes[/]" if ok else "[red]no[/]"


def render_quality_report(report: QualityReport) -> Any:
    """A rich table: tension calibration per instrument, then band cohesion and its baselines."""
    from rich.table import Table

    table = Table(title=f"quality of {report.bundles_dir} (seed {report.seed})")
    for column in ("measure", "guitar", "bass", "drums", "target"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    cal = [report.tension[i] for i in INSTRUMENTS]
    table.add_row(
        "tension→intensity Spearman", *(_fmt(c.spearman) for c in cal), f"≥ {TARGET_SPEARMAN}"
    )
    table.add_row("  meets target", *(_verdict(c.meets_target) for c in cal), "")
    for anchor in (f"{t:.1f}" for t in ANCHORS):
        table.add_row(
            f"mean intensity @ {anchor}", *(_fmt(c.mean_intensity[anchor]) for c in cal), ""
        )
    table.add_row("more intense 0→1 (paired)", *(_fmt(c.monotone_fraction, 2) for c in cal), "")
    table.add_row("tension vector norm", *(_fmt(c.vector_norm, 2) for c in cal), "")
    table.add_row(
        "z·v̂ top / bottom quartile",
        *(
            f"{_fmt(c.projection_top_quartile, 2)} / {_fmt(c.projection_bottom_quartile, 2)}"
            for c in cal
        ),
        "",
    )
    c = report.cohesion
    table.add_section()
    rows = (
        (f"bass on chord tone (best of {c.candidates})", c.band, f"≥ {TARGET_COHESION}"),
        ("  model alone (1 candidate)", c.single_candidate, ""),
        ("  baseline: random chords", c.random_chords, ""),
        ("  baseline: random pitches", c.random_pitches, "≈ 0.25"),
    )
    for label, fit, target in rows:
        table.add_row(label, f"{_fmt(fit.fraction)} ({fit.hits}/{fit.notes})", "", "", target)
    table.add_row("  meets target", _verdict(c.meets_target), "", "", "")
    table.add_row("N.C. bars", f"{c.no_chord_bars}/{c.bars}", "", "", "")
    table.add_section()
    table.add_row(
        "excerpts / score pages",
        f"{len(report.excerpts)} / {len(report.scores)}",
        "",
        "",
        report.render,
    )
    table.add_row("seconds", _fmt(report.seconds.get("total", math.nan), 1), "", "", "")
    return table


def _at_least(minimum: int) -> Any:
    def parse(value: str) -> int:
        number = int(value)
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {number}")
        return number

    return parse


def add_quality_arguments(parser: argparse.ArgumentParser) -> None:
    """The `quality` subcommand's arguments (the CLI adds the subparser and calls this)."""
    parser.add_argument("bundles", type=Path, help="directory with guitar/, bass/, drums/ bundles")
    parser.add_argument("out", type=Path, help="output directory (quality.json, .mid, .png)")
    parser.add_argument(
        "--phrases",
        type=_at_least(MIN_PHRASES),
        default=200,
        help="phrases per instrument and measurement",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--excerpts", type=_at_least(1), default=3, help="8-bar score excerpts")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--no-render", action="store_true", help="skip MuseScore rendering")
    parser.add_argument("--json", action="store_true", help="print the JSON instead of a table")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a target (Spearman, cohesion) is missed"
    )


def quality_command(args: argparse.Namespace) -> int:
    """Runs `quality` from parsed arguments, prints the table (or JSON); the exit status."""
    from rich.console import Console

    report = run_quality(
        args.bundles,
        args.out,
        phrases=args.phrases,
        seed=args.seed,
        render=not args.no_render,
        excerpts=args.excerpts,
        temperature=args.temperature,
    )
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        Console().print(render_quality_report(report))
    met = report.cohesion.meets_target and all(c.meets_target for c in report.tension.values())
    return 1 if args.strict and not met else 0
