"""Musical form, measured: riff repetition, groove consistency, key consistency, guitar-bass
agreement, and how much the guitar plays.

One definition, run on the daemon's performance and, with the identical code, on the songs the
models learnt from, so "like the corpus" means a number inside the corpus's range. A
:class:`Performance` is a band's notes in beats from the start of a piece in 4/4; the measures:

1. **riff repetition** — the share of 2-bar guitar windows (aligned to bar 1, with notes) whose
   set of (16th-note onset step within the window, pitch) has a Jaccard similarity of at least
   0.8 with one of the 4 windows before it: riffs played again.
2. **groove consistency** — the mean Jaccard similarity of consecutive 2-bar drum windows, hits
   counted as (16th-note step within the window, drum class: kick, snare, hi-hat, cymbal, tom).
3. **key consistency** — over each 8 bars with notes, the largest duration-weighted share of the
   guitar and bass notes inside one diatonic scale (any of the 12); the mean over the blocks.
4. **guitar-bass agreement** — the share of bass notes starting on beat 1 or 3 whose pitch class
   the guitar sounds somewhere within that beat.

and the guitar's **notes per bar** and the share of bars in which it **sounds** at all.
A measure that has nothing to measure (no windows, no bass notes on strong beats) is NaN.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ._drums import drum_class
from ._key import diatonic_share
from ._meter import BEATS_PER_BAR, PHRASE_BARS, STEPS_PER_QUARTER
from ._phrase import Phrase

__all__ = [
    "GROOVE_CLASSES",
    "FormMeasures",
    "Performance",
    "TimedNote",
    "groove_consistency",
    "groove_similarity",
    "guitar_bass_agreement",
    "key_consistency",
    "measure_form",
    "riff_repetition",
    "timed",
]

REPEAT_JACCARD = 0.8
"""Two guitar windows at least this similar play the same riff."""
RIFF_LOOKBACK = 4
"""How many windows back a riff may have been played before."""
KEY_BLOCK_BARS = 8
GROOVE_CLASSES: Mapping[str, str] = {
    "kick": "kick",
    "snare": "snare",
    "closed_hihat": "hihat",
    "open_hihat": "hihat",
    "crash": "cymbal",
    "ride": "cymbal",
    "low_tom": "tom",
    "mid_tom": "tom",
    "high_tom": "tom",
}
"""Magenta's nine drum classes folded into the five a groove is heard as."""


@dataclass(frozen=True)
class TimedNote:
    """A note of a piece: MIDI pitch (GM drum note for drums), start and end in beats from the
    start of the piece."""

    pitch: int
    start: float
    end: float


@dataclass(frozen=True)
class Performance:
    """The band's notes in beats, and the piece's length in 4/4 bars."""

    guitar: tuple[TimedNote, ...]
    bass: tuple[TimedNote, ...]
    drums: tuple[TimedNote, ...]
    bars: int

    def parts(self) -> Mapping[str, tuple[TimedNote, ...]]:
        """The three parts by instrument name."""
        return {"guitar": self.guitar, "bass": self.bass, "drums": self.drums}


def timed(phrase: Phrase, start: float = 0.0, half: int | None = None) -> tuple[TimedNote, ...]:
    """The notes of ``phrase`` placed at beat ``start`` of a piece; with ``half`` (0 or 1) only
    those starting in that bar of the phrase, moved to start at ``start``."""
    out = []
    for note in phrase.notes:
        if (
            half is not None
            and not half * BEATS_PER_BAR <= note.start_beat < (half + 1) * BEATS_PER_BAR
        ):
            continue
        offset = start - (half or 0) * BEATS_PER_BAR
        out.append(TimedNote(note.pitch, offset + note.start_beat, offset + note.end_beat))
    return tuple(out)


def _step(beat: float) -> int:
    return round(beat * STEPS_PER_QUARTER)


def _windows(notes: Iterable[TimedNote], bars: int) -> list[list[TimedNote]]:
    beats = PHRASE_BARS * BEATS_PER_BAR
    count = max(0, bars // PHRASE_BARS)
    out: list[list[TimedNote]] = [[] for _ in range(count)]
    for note in notes:
        index = math.floor(note.start / beats + 1e-9)
        if 0 <= index < count:
            out[index].append(note)
    return out


def _jaccard(a: set[tuple[int, object]], b: set[tuple[int, object]]) -> float:
    union = a | b
    return len(a & b) / len(union) if union else float("nan")


def _onset_sets(windows: list[list[TimedNote]], key: str) -> list[set[tuple[int, object]]]:
    beats = PHRASE_BARS * BEATS_PER_BAR
    sets: list[set[tuple[int, object]]] = []
    for index, notes in enumerate(windows):
        origin = index * beats
        items: set[tuple[int, object]] = set()
        for note in notes:
            step = _step(note.start - origin)
            if key == "pitch":
                items.add((step, note.pitch))
            else:
                cls = drum_class(note.pitch)
                if cls is not None:
                    items.add((step, GROOVE_CLASSES[cls]))
        sets.append(items)
    return sets


def riff_repetition(
    guitar: Iterable[TimedNote],
    bars: int,
    *,
    threshold: float = REPEAT_JACCARD,
    lookback: int = RIFF_LOOKBACK,
) -> float:
    """Share of 2-bar guitar windows with notes that repeat one of the ``lookback`` windows
    before them (Jaccard of (onset step, pitch) sets ≥ ``threshold``); NaN without windows."""
    sets = _onset_sets(_windows(guitar, bars), "pitch")
    counted = repeats = 0
    for index, current in enumerate(sets):
        if not current:
            continue
        counted += 1
        before = sets[max(0, index - lookback) : index]
        if any(_jaccard(current, other) >= threshold for other in before if other):
            repeats += 1
    return repeats / counted if counted else float("nan")


def groove_similarity(a: Phrase, b: Phrase) -> float:
    """The Jaccard similarity of two drum phrases' hits by (16th step, drum class) — the
    groove consistency of playing ``b`` after ``a`` (NaN when neither has a hit)."""
    (first,) = _onset_sets([list(timed(a))], "class")
    (second,) = _onset_sets([list(timed(b))], "class")
    return _jaccard(first, second)


def groove_consistency(drums: Iterable[TimedNote], bars: int) -> float:
    """Mean Jaccard of consecutive 2-bar drum windows' (step, drum class) hits; pairs of two
    empty windows are left out; NaN without pairs."""
    sets = _onset_sets(_windows(drums, bars), "class")
    values = [_jaccard(a, b) for a, b in itertools.pairwise(sets) if a or b]
    return sum(values) / len(values) if values else float("nan")


def key_consistency(
    notes: Iterable[TimedNote], bars: int, *, block_bars: int = KEY_BLOCK_BARS
) -> float:
    """Mean over ``block_bars``-bar blocks (with notes) of the largest duration-weighted share
    of the notes inside one diatonic scale; NaN without notes. A trailing partial block counts
    when it holds notes."""
    block_beats = block_bars * BEATS_PER_BAR
    blocks: dict[int, list[tuple[int, float]]] = {}
    for note in notes:
        if note.start >= bars * BEATS_PER_BAR:
            continue
        index = math.floor(note.start / block_beats + 1e-9)
        blocks.setdefault(index, []).append((note.pitch, max(note.end - note.start, 1e-3)))
    shares = [max(diatonic_share(block, tonic) for tonic in range(12)) for block in blocks.values()]
    return sum(shares) / len(shares) if shares else float("nan")


def guitar_bass_agreement(guitar: Sequence[TimedNote], bass: Iterable[TimedNote]) -> float:
    """Share of bass notes starting on beat 1 or 3 of a bar whose pitch class the guitar sounds
    within that beat; NaN without such bass notes."""
    hits = total = 0
    by_beat: dict[int, set[int]] = {}
    for note in guitar:
        first = math.floor(note.start + 1e-9)
        last = math.ceil(note.end - 1e-9) - 1
        for beat in range(first, max(first, last) + 1):
            by_beat.setdefault(beat, set()).add(note.pitch % 12)
    for note in bass:
        step = _step(note.start)
        if step % STEPS_PER_QUARTER or (step // STEPS_PER_QUARTER) % 2:
            continue  # not on beat 1 or 3 of a 4/4 bar
        beat = step // STEPS_PER_QUARTER
        total += 1
        hits += note.pitch % 12 in by_beat.get(beat, set())
    return hits / total if total else float("nan")


@dataclass(frozen=True)
class FormMeasures:
    """The form measures of one piece (module docstring); NaN where there was nothing to
    measure."""

    riff_repetition: float
    groove_consistency: float
    key_consistency: float
    guitar_bass_agreement: float
    guitar_notes_per_bar: float
    guitar_bars_sounding: float
    bars: int

    MEASURES = (
        "riff_repetition",
        "groove_consistency",
        "key_consistency",
        "guitar_bass_agreement",
    )

    def values(self) -> dict[str, float]:
        """The four form measures by name."""
        return {name: float(getattr(self, name)) for name in self.MEASURES}


def _bars_sounding(notes: Iterable[TimedNote], bars: int) -> float:
    sounding: set[int] = set()
    for note in notes:
        first = math.floor(note.start / BEATS_PER_BAR + 1e-9)
        last = math.ceil(note.end / BEATS_PER_BAR - 1e-9) - 1
        sounding.update(range(first, max(first, last) + 1))
    return len(sounding & set(range(bars))) / bars if bars else float("nan")


def measure_form(performance: Performance) -> FormMeasures:
    """Every form measure of ``performance``."""
    bars = performance.bars
    guitar = performance.guitar
    in_piece = [n for n in guitar if n.start < bars * BEATS_PER_BAR]
    return FormMeasures(
        riff_repetition=riff_repetition(guitar, bars),
        groove_consistency=groove_consistency(performance.drums, bars),
        key_consistency=key_consistency((*guitar, *performance.bass), bars),
        guitar_bass_agreement=guitar_bass_agreement(guitar, performance.bass),
        guitar_notes_per_bar=len(in_piece) / bars if bars else float("nan"),
        guitar_bars_sounding=_bars_sounding(guitar, bars),
        bars=bars,
    )
