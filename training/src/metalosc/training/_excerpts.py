"""Score excerpts: a few 8-bar band pieces at tensions spread over 0..1, written as multi-track
MIDI with generate's writer, for `quality` to render as scores and for a person to listen to."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from metalosc.protocol import Instrument
from metalosc.runtime import InstrumentModel
from metalosc.training._generate import generate_songs, write_midi

EXCERPT_BARS = 8


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
