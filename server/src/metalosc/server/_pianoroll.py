"""A piano roll of a MIDI file as a PNG picture (matplotlib): what played when, at a glance.

Two panels over one time axis in bars: the pitched parts (the guitar and the bass, each in its
colour, a bar per note from onset to end, its height one semitone) and the drums (one row per
drum sound, named as General MIDI names them). Section markers are dashed lines labelled with
the marker's text. The picture is written atomically.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

from metalosc.protocol import write_atomic
from metalosc.runtime import BEATS_PER_BAR, DRUM_CHANNEL

from ._midifile import CHANNELS, MidiScore

__all__ = ["DRUM_NAMES", "PianoRollUnavailableError", "piano_roll"]

DRUM_NAMES: Mapping[int, str] = MappingProxyType(
    {
        35: "kick 2",
        36: "kick",
        37: "side stick",
        38: "snare",
        39: "clap",
        40: "snare 2",
        41: "floor tom 2",
        42: "closed hat",
        43: "floor tom",
        44: "pedal hat",
        45: "low tom",
        46: "open hat",
        47: "low-mid tom",
        48: "high-mid tom",
        49: "crash",
        50: "high tom",
        51: "ride",
        52: "china",
        53: "ride bell",
        55: "splash",
        57: "crash 2",
        59: "ride 2",
    }
)
"""General MIDI's names of the drum notes the models play."""
COLOURS = {CHANNELS["guitar"]: "#d1495b", CHANNELS["bass"]: "#00798c"}
OTHER_COLOUR = "#777777"
DRUM_COLOUR = "#30343f"


class PianoRollUnavailableError(Exception):
    """matplotlib cannot be loaded; the message says how to install it."""


def piano_roll(score: MidiScore, out: Path, *, title: str = "") -> Path:
    """Draw ``score`` as a piano roll into the PNG file ``out`` (module docstring); ``out``.

    Raises :class:`PianoRollUnavailableError` without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")  # no display: draw into memory
        import matplotlib.pyplot as plt
        from matplotlib.patches import Patch
    except ImportError as exc:
        raise PianoRollUnavailableError(f"matplotlib cannot be loaded ({exc})") from exc
    bars = max(1.0, score.beats / BEATS_PER_BAR)
    width = min(40.0, 4.0 + 0.5 * bars)
    figure, (pitched, drums) = plt.subplots(
        2, 1, figsize=(width, 7.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    try:
        tonal = [n for n in score.notes if n.channel != DRUM_CHANNEL]
        hits = [n for n in score.notes if n.channel == DRUM_CHANNEL]
        for note in tonal:
            colour = COLOURS.get(note.channel, OTHER_COLOUR)
            start, length = note.start / BEATS_PER_BAR, (note.end - note.start) / BEATS_PER_BAR
            pitched.broken_barh([(start, length)], (note.pitch - 0.4, 0.8), color=colour)
        if tonal:
            low = min(n.pitch for n in tonal)
            high = max(n.pitch for n in tonal)
            pitched.set_ylim(low - 2, high + 2)
        pitched.set_ylabel("MIDI pitch")
        pitched.legend(
            handles=[
                Patch(color=COLOURS[CHANNELS["guitar"]], label="guitar"),
                Patch(color=COLOURS[CHANNELS["bass"]], label="bass"),
            ],
            loc="upper right",
        )
        rows = sorted({n.pitch for n in hits})
        row_of = {pitch: k for k, pitch in enumerate(rows)}
        for note in hits:
            start = note.start / BEATS_PER_BAR
            drums.broken_barh(
                [(start, 0.25 / BEATS_PER_BAR)],
                (row_of[note.pitch] - 0.35, 0.7),
                color=DRUM_COLOUR,
                alpha=0.35 + 0.65 * note.velocity / 127,
            )
        drums.set_yticks(range(len(rows)))
        drums.set_yticklabels([DRUM_NAMES.get(p, str(p)) for p in rows])
        drums.set_ylim(-0.7, max(len(rows), 1) - 0.3)
        drums.set_xlabel("bar")
        drums.set_xlim(0, bars)
        ticks = range(int(bars) + 1)
        for axis in (pitched, drums):
            axis.set_xticks(list(ticks))
            axis.set_xticklabels([str(t + 1) for t in ticks])
            axis.grid(axis="x", color="#cccccc", linewidth=0.6)
            for beat, _ in score.markers:
                axis.axvline(beat / BEATS_PER_BAR, color="#444444", linestyle="--", linewidth=1)
        for beat, text in score.markers:
            pitched.text(
                beat / BEATS_PER_BAR + 0.05,
                1.01,
                text,
                transform=pitched.get_xaxis_transform(),
                fontsize=8,
                va="bottom",
            )
        figure.suptitle(title or "piano roll")
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=100)
    finally:
        plt.close(figure)
    write_atomic(out, buffer.getvalue())
    return out
