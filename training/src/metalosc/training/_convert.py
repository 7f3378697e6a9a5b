"""Convert stage: split NoteSequences -> train/eval TFRecords that Magenta's converters accept.

The core is :func:`convert_song`, a pure function of one song's guitar/bass/drums sequences (a
Beam ``DoFn`` could call it). :func:`convert_corpus` is the local driver: it reads
``OUT/split/*.tfrecord``, groups the parts by song id, assigns each song to train or eval, and
writes ``OUT/data/<instrument>-{train,eval}.tfrecord`` and ``OUT/data/summary.json``
atomically, returning a :class:`ConvertSummary`.

What happens to a song, and why:

* **Held-out split by song.** :func:`is_eval_song` hashes the song id, so every window and every
  transposition of a song lands on the same side, and the split never changes between runs. A
  small corpus may hash no song of an instrument to the held-out side (8 songs at 10%: nearly
  one time in two), and then nothing could be evaluated after training; so
  :func:`held_out_songs` also holds out, for every instrument with two or more songs and none
  held out, the one of its songs nearest the held-out side by hash — deterministic, and never
  the last training song of an instrument. An instrument that still has nothing held out (one
  song) is named in the summary's ``evaluation_missing`` when convert runs, before any training.
* **Windows.** Magenta's 2-bar converters slide a 2-bar window one bar at a time
  (``data.py``: ``range(slice_steps, len + 1, steps_per_bar)``) but then keep at most
  ``max_tensors_per_notesequence = 5`` slices per sequence, and truncate melodies at
  ``max_bars = 100``: one record per song throws most of a song away. So each song is cut into
  6-bar windows every 5 bars (:data:`WINDOW_BARS`, :data:`WINDOW_HOP_BARS`): a window has
  exactly 5 two-bar slice starts and consecutive windows overlap by one bar, so every bar-aligned
  2-bar slice of the song is in exactly one window. Windows never cross a tempo change (the
  converters' quantizer rejects those), which also keeps every window at one tempo.
* **Guitar chords to roots.** Metal riffs are power chords; the stock melody converter keeps the
  highest note of a chord (the fifth or octave) and with ``skip_polyphony`` drops the riff.
  :func:`reduce_to_roots` keeps the lowest note of every onset so the riff becomes its root line.
* **Bass chords.** :func:`annotate_chords` infers one chord per bar from the song's guitar and
  bass together (note_seq's chord inference) and stores the chord symbols on the bass window,
  which is what ``cat-mel_2bar_med_chords``'s chord-conditioned converter reads as controls.
* **Programs.** Magenta's melody converters filter notes by program (``valid_programs``): guitar
  notes are kept in 24-31 and bass notes in 32-39 (:func:`normalize_programs`), so a track that
  was recognised by its name on another program is not silently dropped.
* **Augmentation.** Train windows of guitar and bass are transposed by ±1..5 semitones
  (:data:`DEFAULT_TRANSPOSITIONS`, chords transposed with them); drums and eval are not.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from metalosc.protocol import INSTRUMENTS, Instrument, write_atomic
from metalosc.runtime import (
    BASS_PROGRAMS,
    DEFAULT_QPM,
    GUITAR_PROGRAMS,
    PROGRAMS,
    STEPS_PER_QUARTER,
    bar_seconds,
    install_transition_cache,
    stock_converter,
)
from metalosc.training._midi_io import (
    NoteSequence,
    read_note_sequences,
    write_note_sequences,
)
from metalosc.training._split import SPLIT_DIR, seconds_to_beats
from note_seq import chord_inference, sequences_lib
from rich.table import Table
from tqdm import tqdm

log = structlog.get_logger(__name__)

DATA_DIR = "data"
SUMMARY_FILE = "summary.json"
SPLITS = ("train", "eval")

DEFAULT_EVAL_FRACTION = 0.1
DEFAULT_TRANSPOSITIONS: tuple[int, ...] = (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5)
WINDOW_BARS = 6
WINDOW_HOP_BARS = 5
#: The TextAnnotation type Magenta's converters read as a chord symbol.
CHORD_SYMBOL = NoteSequence.TextAnnotation.CHORD_SYMBOL
_TRANSPOSED_ID = re.compile(r"#\d+t[+-]\d+$")


def record_path(out_dir: Path, instrument: Instrument, split: str) -> Path:
    """Where convert writes one instrument's split: ``OUT/data/<instrument>-<split>.tfrecord``."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return out_dir / DATA_DIR / f"{instrument}-{split}.tfrecord"


def is_eval_song(song_id: str, eval_fraction: float = DEFAULT_EVAL_FRACTION) -> bool:
    """Deterministic held-out assignment of a whole song (never a slice) from its id."""
    if not 0.0 <= eval_fraction <= 1.0:
        raise ValueError(f"eval_fraction must be within 0..1, got {eval_fraction}")
    return _song_hash(song_id) < eval_fraction


def _song_hash(song_id: str) -> float:
    digest = hashlib.sha256(song_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def held_out_songs(
    songs: Sequence[SongParts], eval_fraction: float = DEFAULT_EVAL_FRACTION
) -> set[str]:
    """The ids of the songs held out for evaluation (see the module docstring).

    :func:`is_eval_song` decides; then, instrument by instrument, one with two or more songs but
    none held out gets the song of smallest hash held out, unless that would leave an
    instrument of the song without a training song (then the next smallest). Conversely an
    instrument all of whose songs are held out (its only one, say) keeps the largest-hash one
    for training. Deterministic and independent of the order of ``songs``.
    """
    ordered = sorted(songs, key=lambda song: (_song_hash(song.song_id), song.song_id))
    held = {song.song_id for song in ordered if is_eval_song(song.song_id, eval_fraction)}

    def count(instrument: str, *, eval_side: bool) -> int:
        return sum(
            1
            for song in ordered
            if instrument in song.parts() and (song.song_id in held) == eval_side
        )

    for instrument in INSTRUMENTS:
        having = [song for song in ordered if instrument in song.parts()]
        if len(having) >= 2 and count(instrument, eval_side=True) == 0:
            for song in having:
                if all(count(i, eval_side=False) >= 2 for i in song.parts()):
                    held.add(song.song_id)
                    break
    for instrument in INSTRUMENTS:  # training comes first: never hold out all of a part
        having = [song for song in ordered if instrument in song.parts()]
        if having and count(instrument, eval_side=False) == 0:
            held.discard(having[-1].song_id)
    return held


def reduce_to_roots(seq: NoteSequence) -> NoteSequence:
    """A copy in which every chord (notes of one track starting on the same 16th) keeps only
    its lowest note, so a power-chord riff becomes its monophonic root line.

    Onsets are compared on the 16th-note grid the models use (4 steps per quarter, through the
    sequence's tempo map), so a humanised chord whose notes start a few ms apart still counts
    as one chord.
    """
    lowest: dict[tuple[int, int], int] = {}
    for index, note in enumerate(seq.notes):
        step = round(seconds_to_beats(seq, note.start_time) * STEPS_PER_QUARTER)
        key = (note.instrument, step)
        best = lowest.get(key)
        if best is None or note.pitch < seq.notes[best].pitch:
            lowest[key] = index
    keep = sorted(lowest.values())
    out = NoteSequence()
    out.CopyFrom(seq)
    del out.notes[:]
    out.notes.extend(seq.notes[i] for i in keep)
    return out


def normalize_programs(seq: NoteSequence, instrument: Instrument) -> NoteSequence:
    """A copy whose guitar/bass notes carry a program of their family (drums unchanged)."""
    out = NoteSequence()
    out.CopyFrom(seq)
    if instrument == "drums":
        return out
    family, default = (
        (GUITAR_PROGRAMS, PROGRAMS["guitar"])
        if instrument == "guitar"
        else (BASS_PROGRAMS, PROGRAMS["bass"])
    )
    for note in out.notes:
        if note.program not in family:
            note.program = default
    return out


def tempo_segments(seq: NoteSequence, end_time: float) -> list[tuple[float, float, float]]:
    """(start, stop, qpm) of the constant-tempo stretches of ``seq`` up to ``end_time``.

    A tempo event that restates the current tempo does not start a new stretch.
    """
    starts: list[tuple[float, float]] = []
    for tempo in sorted(seq.tempos, key=lambda t: t.time):
        if tempo.time >= end_time:
            break
        if starts and abs(starts[-1][1] - tempo.qpm) < 1e-6:
            continue
        if starts and starts[-1][0] == tempo.time:
            starts[-1] = (tempo.time, tempo.qpm)
        else:
            starts.append((tempo.time, tempo.qpm))
    if not starts or starts[0][0] > 0.0:
        starts.insert(0, (0.0, DEFAULT_QPM))
    return [
        (start, starts[i + 1][0] if i + 1 < len(starts) else end_time, qpm)
        for i, (start, qpm) in enumerate(starts)
    ]


def song_windows(
    seq: NoteSequence,
    end_time: float,
    *,
    window_bars: int = WINDOW_BARS,
    hop_bars: int = WINDOW_HOP_BARS,
) -> list[tuple[float, float]]:
    """(start, end) seconds of the song's windows: ``window_bars`` long, every ``hop_bars``,
    restarting at every tempo change so no window spans two tempos."""
    windows: list[tuple[float, float]] = []
    for start, stop, qpm in tempo_segments(seq, end_time):
        bar = bar_seconds(qpm)
        t = start
        while t < stop - 1e-9:
            windows.append((t, min(t + window_bars * bar, stop)))
            t += hop_bars * bar
    return windows


def annotate_chords(bass: NoteSequence, guitar: NoteSequence | None) -> NoteSequence:
    """A copy of ``bass`` carrying one inferred chord symbol per bar.

    The chords are inferred (note_seq's Viterbi chord inference) from the guitar and the bass
    sounding together, the harmony the bass plays against; without guitar, from the bass alone.
    Inference needs one tempo, so it runs once per constant-tempo stretch of the song (once per
    song, not per window). A stretch
    where inference fails (too few notes, say) gets no chords, and the chord-conditioned
    converter falls back to its own inference there.
    """
    install_transition_cache()
    out = NoteSequence()
    out.CopyFrom(bass)
    del out.text_annotations[:]
    merged = NoteSequence()
    merged.CopyFrom(out)
    if guitar is not None:
        merged.notes.extend(guitar.notes)
        merged.total_time = max(merged.total_time, guitar.total_time)
    for start, stop, _ in tempo_segments(merged, merged.total_time):
        stretch = sequences_lib.extract_subsequence(merged, start, stop)
        if not stretch.notes:
            continue
        try:
            quantized = sequences_lib.quantize_note_sequence(stretch, STEPS_PER_QUARTER)
            chord_inference.infer_chords_for_sequence(quantized, chords_per_bar=1)
        except (
            sequences_lib.BadTimeSignatureError,
            sequences_lib.MultipleTimeSignatureError,
            sequences_lib.MultipleTempoError,
            sequences_lib.NegativeTimeError,
            chord_inference.ChordInferenceError,
        ) as exc:
            log.debug("convert.chord_inference_failed", id=bass.id, start=start, error=str(exc))
            continue
        for annotation in quantized.text_annotations:
            if annotation.annotation_type == CHORD_SYMBOL:
                added = out.text_annotations.add()
                added.time = start + annotation.time
                added.text = annotation.text
                added.annotation_type = CHORD_SYMBOL
    return out


@dataclass(frozen=True)
class SongParts:
    """One song's split sequences (any part may be missing)."""

    song_id: str
    guitar: NoteSequence | None = None
    bass: NoteSequence | None = None
    drums: NoteSequence | None = None

    def parts(self) -> dict[Instrument, NoteSequence]:
        """The present parts by instrument."""
        found = {"guitar": self.guitar, "bass": self.bass, "drums": self.drums}
        return {i: s for i, s in found.items() if s is not None}  # type: ignore[misc]


def _window_of(seq: NoteSequence, start: float, end: float) -> NoteSequence | None:
    if start >= seq.total_time:
        return None
    window = sequences_lib.extract_subsequence(seq, start, end)
    return window if len(window.notes) else None


def convert_song(
    song: SongParts,
    *,
    train: bool,
    transpositions: Sequence[int] = DEFAULT_TRANSPOSITIONS,
) -> dict[Instrument, list[NoteSequence]]:
    """The training windows of one song per instrument (pure; see the module docstring).

    Window ids are ``<song id>#<window index>`` plus ``t<±semitones>`` for transposed copies,
    so every record still names its song.
    """
    parts = song.parts()
    out: dict[Instrument, list[NoteSequence]] = {i: [] for i in parts}
    if not parts:
        return out
    if "bass" in parts:
        parts["bass"] = annotate_chords(normalize_programs(parts["bass"], "bass"), song.guitar)
    reference = next(iter(parts.values()))
    end = max(s.total_time for s in parts.values())
    shifts = [0, *(t for t in transpositions if t != 0)] if train else [0]
    for index, (start, stop) in enumerate(song_windows(reference, end)):
        windows = {i: _window_of(s, start, stop) for i, s in parts.items()}
        prepared: dict[Instrument, NoteSequence] = {}
        guitar = windows.get("guitar")
        if guitar is not None:
            prepared["guitar"] = reduce_to_roots(normalize_programs(guitar, "guitar"))
        bass = windows.get("bass")
        if bass is not None:
            prepared["bass"] = bass
        drums = windows.get("drums")
        if drums is not None:
            prepared["drums"] = drums
        for instrument, window in prepared.items():
            window.id = f"{song.song_id}#{index}"
            out[instrument].append(window)
            if instrument == "drums":
                continue
            for shift in shifts[1:]:
                moved, _ = sequences_lib.transpose_note_sequence(
                    window, shift, transpose_chords=True
                )
                moved.id = f"{song.song_id}#{index}t{shift:+d}"  # see is_transposed
                out[instrument].append(moved)
    return out


def is_transposed(window_id: str) -> bool:
    """Whether a window id (from :func:`convert_song`) names a transposed copy."""
    return _TRANSPOSED_ID.search(window_id) is not None


def group_songs(split_dir: Path) -> list[SongParts]:
    """Reads ``split_dir/<instrument>.tfrecord`` and pairs the parts of each song by id,
    sorted by id (deterministic output order)."""
    by_song: dict[str, dict[str, NoteSequence]] = defaultdict(dict)
    for instrument in INSTRUMENTS:
        path = split_dir / f"{instrument}.tfrecord"
        for seq in read_note_sequences(path):
            if instrument in by_song[seq.id]:
                raise ValueError(f"{path}: song id {seq.id} appears twice")
            by_song[seq.id][instrument] = seq
    return [
        SongParts(
            sid,
            guitar=parts.get("guitar"),
            bass=parts.get("bass"),
            drums=parts.get("drums"),
        )
        for sid, parts in sorted(by_song.items())
    ]


# ---------------------------------------------------------------------------------------------
# Example counting with Magenta's own converters (never music_vae.data.get_dataset: it segfaults
# on TF 2.15, see docs/architecture.md)


@dataclass(frozen=True)
class ExampleCount:
    """How many training examples a set of sequences yields under one converter.

    ``examples`` counts tensors as the converter returns them (what training sees);
    ``unique`` de-duplicates identical input tensors across sequences (riffs repeat);
    ``with_controls`` counts examples whose control tensor is non-empty (chord conditioning).
    """

    sequences: int
    examples: int
    unique: int
    with_controls: int


def count_examples(sequences: Iterable[NoteSequence], converter: Any) -> ExampleCount:
    """Runs ``converter.to_tensors`` on each sequence (a copy: converters mutate their input)
    and counts the examples. Pass :func:`stock_converter` or a preset's configured converter.

    ``examples`` is deterministic. Which examples a chord-conditioned converter keeps when a
    sequence has more than ``max_tensors_per_notesequence`` distinct slices is not: Magenta
    dedupes through a ``set`` of tuples holding chord strings, whose order follows Python's
    per-process string hashing, so ``unique`` for bass can differ by ~0.2% between runs.
    """
    n_seqs = n_examples = n_controls = 0
    seen: set[bytes] = set()
    for seq in sequences:
        n_seqs += 1
        tensors = converter.to_tensors(copy.deepcopy(seq))
        for index, inputs in enumerate(tensors.inputs):
            n_examples += 1
            seen.add(np.asarray(inputs).tobytes())
            controls = tensors.controls[index] if tensors.controls else None
            if controls is not None and np.asarray(controls).size:
                n_controls += 1
    return ExampleCount(n_seqs, n_examples, len(seen), n_controls)


# ---------------------------------------------------------------------------------------------
# Corpus driver


@dataclass
class ConvertSummary:
    """What the convert stage wrote: songs/records per instrument and split, example counts."""

    songs: Counter[str] = field(default_factory=Counter)  # "<instrument>-<split>"
    records: Counter[str] = field(default_factory=Counter)
    examples: dict[str, ExampleCount] = field(default_factory=dict)
    eval_fraction: float = DEFAULT_EVAL_FRACTION
    transpositions: tuple[int, ...] = DEFAULT_TRANSPOSITIONS
    seconds: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)
    evaluation_missing: dict[str, str] = field(default_factory=dict)
    """Instruments nothing of which can be evaluated after training, and why."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "evaluation_missing": dict(sorted(self.evaluation_missing.items())),
            "songs": dict(sorted(self.songs.items())),
            "records": dict(sorted(self.records.items())),
            "examples": {k: vars(v) for k, v in sorted(self.examples.items())},
            "eval_fraction": self.eval_fraction,
            "transpositions": list(self.transpositions),
            "seconds": round(self.seconds, 2),
            "outputs": self.outputs,
        }


def render_convert_summary(summary: ConvertSummary) -> Table:
    """A rich table of the convert summary; "train (no aug.)" counts the untransposed train
    windows, to show what augmentation adds."""
    table = Table(title="convert")
    for column in ("data", "songs", "records", "examples", "unique", "with chords"):
        table.add_column(column, justify="left" if column == "data" else "right")
    for instrument in INSTRUMENTS:
        for split in (*SPLITS, "train-unaugmented"):
            key = f"{instrument}-{split}"
            count = summary.examples.get(key)
            table.add_row(
                key.replace("-unaugmented", " (no aug.)"),
                str(summary.songs[f"{instrument}-{split.split('-')[0]}"]),
                str(summary.records[key]) if key in summary.records else "-",
                str(count.examples) if count else "-",
                str(count.unique) if count else "-",
                str(count.with_controls) if count and instrument == "bass" else "-",
            )
    table.caption = f"{summary.seconds:.1f} s"
    for name, why in sorted(summary.evaluation_missing.items()):
        table.caption += f"\nno evaluation of {name}: {why}"
    return table


def _evaluation_missing(summary: ConvertSummary, songs: Sequence[SongParts]) -> dict[str, str]:
    missing: dict[str, str] = {}
    for instrument in INSTRUMENTS:
        having = sum(1 for song in songs if instrument in song.parts())
        count = summary.examples.get(f"{instrument}-eval")
        if having < 2:
            missing[instrument] = (
                f"{having} song{'' if having == 1 else 's'} with a {instrument} part: "
                "too few to hold one out"
            )
        elif summary.records[f"{instrument}-eval"] == 0:
            missing[instrument] = "the held-out songs have no windows"
        elif count is not None and count.examples == 0:
            missing[instrument] = "the held-out windows give no examples"
    return missing


def read_evaluation_missing(out_dir: Path) -> dict[str, str]:
    """The instruments that convert found nothing to evaluate for, from
    ``out_dir/data/summary.json`` ({} when the summary predates the check)."""
    path = out_dir / DATA_DIR / SUMMARY_FILE
    if not path.is_file():
        return {}
    missing = json.loads(path.read_text(encoding="utf-8")).get("evaluation_missing", {})
    return {str(k): str(v) for k, v in missing.items()}


def convert_corpus(
    out_dir: Path,
    *,
    eval_fraction: float = DEFAULT_EVAL_FRACTION,
    transpositions: Sequence[int] = DEFAULT_TRANSPOSITIONS,
    count: bool = True,
    converter_factory: Callable[[Instrument], Any] = stock_converter,
    progress: bool = True,
) -> ConvertSummary:
    """Reads ``out_dir/split/*.tfrecord`` and writes ``out_dir/data/<instr>-<split>.tfrecord``.

    ``count`` runs each instrument's converter (``converter_factory``, default
    :func:`stock_converter`) over what was written and records the example counts; it is the
    slow part (tens of seconds on the Freedoom corpus), so the CLI may turn it off.
    """
    started = time.perf_counter()
    songs = group_songs(out_dir / SPLIT_DIR)
    summary = ConvertSummary(eval_fraction=eval_fraction, transpositions=tuple(transpositions))
    written: dict[str, list[NoteSequence]] = {f"{i}-{s}": [] for i in INSTRUMENTS for s in SPLITS}
    held = held_out_songs(songs, eval_fraction)
    for song in tqdm(songs, desc="convert", unit="song", disable=not progress):
        split = "eval" if song.song_id in held else "train"
        windows = convert_song(song, train=split == "train", transpositions=transpositions)
        for instrument, seqs in windows.items():
            key = f"{instrument}-{split}"
            summary.songs[key] += 1
            written[key].extend(seqs)
    for instrument in INSTRUMENTS:
        for split in SPLITS:
            key = f"{instrument}-{split}"
            target = record_path(out_dir, instrument, split)
            summary.records[key] = write_note_sequences(target, written[key])
            summary.outputs[key] = str(target)
    if count:
        for instrument in INSTRUMENTS:
            converter = converter_factory(instrument)
            for split in SPLITS:
                key = f"{instrument}-{split}"
                summary.examples[key] = count_examples(
                    tqdm(written[key], desc=f"count {key}", disable=not progress), converter
                )
            plain = [s for s in written[f"{instrument}-train"] if not is_transposed(s.id)]
            summary.examples[f"{instrument}-train-unaugmented"] = count_examples(plain, converter)
    summary.evaluation_missing = _evaluation_missing(summary, songs)
    for name, why in summary.evaluation_missing.items():
        log.warning("convert.evaluation_missing", instrument=name, reason=why)
    summary.seconds = time.perf_counter() - started
    write_atomic(out_dir / DATA_DIR / SUMMARY_FILE, json.dumps(summary.to_json(), indent=2) + "\n")
    log.info("convert.done", **summary.to_json())
    return summary
