"""Score rendering: MIDI files to PNG score pages with MuseScore 3, headless.

Rendering is how the original project checked its output by eye; the pipeline's quality and form
reports and the daemon's previews (``metalosc render``) both use it, so it lives here, once.
MuseScore is optional: without ``mscore3`` on PATH, :func:`render_scores` says so in its status
line and renders nothing, and :func:`render_score` raises :class:`RenderError` saying so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path

import structlog

__all__ = ["MSCORE", "RENDER_TIMEOUT_S", "RenderError", "render_score", "render_scores"]

log = structlog.get_logger(__name__)

MSCORE = "mscore3"
RENDER_TIMEOUT_S = 180.0


class RenderError(Exception):
    """MuseScore could not render a MIDI file; the message says which and why."""


def _page_number(path: Path) -> int:
    suffix = path.stem.rsplit("-", 1)[-1]
    return int(suffix) if suffix.isdigit() else 0


def render_score(midi: Path, out_dir: Path, *, mscore: str = MSCORE) -> list[Path]:
    """PNG pages `<midi stem>-<page>.png` of `midi`, by MuseScore 3 headless
    (``QT_QPA_PLATFORM=offscreen``: no display needed).

    MuseScore writes `X-1.png`, `X-2.png`... for `-o X.png`; it renders into a temp directory
    and the pages are moved into `out_dir`, so a failed render leaves no partial pages. Raises
    :class:`RenderError` when MuseScore is missing, fails or takes over ``RENDER_TIMEOUT_S``.
    """
    if shutil.which(mscore) is None:
        raise RenderError(f"{mscore} not found: apt-get install musescore3")
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
    """Every MIDI rendered to PNG pages, and a one-line status for the report ("rendered",
    "mscore3 not found", or the first failure; the pages rendered before it are kept)."""
    if shutil.which(MSCORE) is None:
        log.warning("score.render_skipped", reason=f"{MSCORE} not on PATH")
        return [], f"{MSCORE} not found"
    pages: list[Path] = []
    for midi in midis:
        try:
            pages.extend(render_score(midi, out_dir))
        except RenderError as e:
            log.warning("score.render_failed", error=str(e))
            return pages, str(e)
    log.info("score.rendered", pages=len(pages))
    return pages, "rendered"
