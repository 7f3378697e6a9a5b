"""The report of `quality`: what it measured, as ``quality.json`` and as a rich table.

Each measurement (:class:`~metalosc.training._tension.TensionCalibration`,
:class:`~metalosc.training._cohesion.Cohesion`) knows its own target and JSON form; the report
puts them side by side with the run's settings, outputs and timings.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metalosc.protocol import INSTRUMENTS, Instrument, write_atomic
from metalosc.runtime import NO_CHORD, ChordFit
from metalosc.training._cohesion import TARGET_COHESION, Cohesion
from metalosc.training._tension import ANCHORS, TARGET_SPEARMAN, TensionCalibration
from rich.table import Table

REPORT_FILE = "quality.json"


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

    @property
    def meets_targets(self) -> bool:
        """Whether every measurement reaches its target (what `--strict` checks)."""
        return self.cohesion.meets_target and all(c.meets_target for c in self.tension.values())

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN becomes null)."""
        return {
            "bundles_dir": str(self.bundles_dir),
            "seed": self.seed,
            "temperature": self.temperature,
            "targets": {"spearman": TARGET_SPEARMAN, "cohesion": TARGET_COHESION},
            "tension": {i: cal.to_json() for i, cal in self.tension.items()},
            "cohesion": self.cohesion.to_json(),
            "excerpts": [str(p) for p in self.excerpts],
            "scores": [str(p) for p in self.scores],
            "render": self.render,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
        }


def write_report(path: Path, report: QualityReport) -> None:
    """Writes the report's JSON to `path` atomically."""
    text = json.dumps(report.to_json(), indent=2, allow_nan=False) + "\n"
    write_atomic(path, text)


# -- the table ---------------------------------------------------------------------------------


def _fmt(value: float, digits: int = 3) -> str:
    return "n/a" if math.isnan(value) else f"{value:.{digits}f}"


def _verdict(ok: bool) -> str:
    return "[green]yes[/]" if ok else "[red]no[/]"


def _fit(fit: ChordFit) -> str:
    return f"{_fmt(fit.fraction)} ({fit.hits}/{fit.notes})"


def _tension_rows(table: Table, tension: dict[Instrument, TensionCalibration]) -> None:
    """One column per instrument."""
    cal = [tension[i] for i in INSTRUMENTS]
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


def _cohesion_rows(table: Table, c: Cohesion) -> None:
    """The band's numbers in the first instrument column."""
    rows = (
        (f"bass on chord tone (best of {c.candidates})", c.band, f"≥ {TARGET_COHESION}"),
        ("  model alone (1 candidate)", c.single_candidate, ""),
        ("  baseline: random chords", c.random_chords, ""),
        ("  baseline: random pitches", c.random_pitches, "≈ 0.25"),
    )
    for label, fit, target in rows:
        table.add_row(label, _fit(fit), "", "", target)
    table.add_row("  meets target", _verdict(c.meets_target), "", "", "")
    table.add_row(f"{NO_CHORD} bars", f"{c.no_chord_bars}/{c.bars}", "", "", "")


def _output_rows(table: Table, report: QualityReport) -> None:
    table.add_row(
        "excerpts / score pages",
        f"{len(report.excerpts)} / {len(report.scores)}",
        "",
        "",
        report.render,
    )
    table.add_row("seconds", _fmt(report.seconds.get("total", math.nan), 1), "", "", "")


def render_quality_report(report: QualityReport) -> Table:
    """A rich table: tension calibration per instrument, then band cohesion and its baselines,
    then the excerpts, score pages and time taken."""
    table = Table(title=f"quality of {report.bundles_dir} (seed {report.seed})")
    for column in ("measure", *INSTRUMENTS, "target"):
        table.add_column(column, justify="left" if column == "measure" else "right")
    _tension_rows(table, report.tension)
    table.add_section()
    _cohesion_rows(table, report.cohesion)
    table.add_section()
    _output_rows(table, report)
    return table
