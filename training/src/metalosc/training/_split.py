"""Split stage: multi-track MIDI files -> one NoteSequence per (song, instrument).

The core is :func:`split_midi`, a pure function of one file's bytes and its relative path, so a
corpus too large for one machine can run it on Apache Beam (as Magenta runs its own pipelines)
rather than on a home-made distributed runner. :func:`split_corpus` is the thin local driver: it
walks the sources, shows a tqdm bar, writes ``OUT/split/{guitar,bass,drums}.tfrecord`` and
``OUT/split/summary.json`` atomically, and returns a :class:`SplitSummary` (render it with
:func:`render_split_summary`). A CLI builds the sources as
``[midi_source(INPUT_DIR), *(extra_drums_source(d) for d in extra_drum_dirs)]``.

Track rule (the prototype filed acoustic bass 32 as guitar and violin 40 as bass; the ranges
below are 0-based GM programs, as pretty_midi / note_seq number them):

1. A drum track (channel 10, ``is_drum``) is ``drums``, whatever its name.
2. A track name mentioning a drum (``drum``, ``kick``, ``snare``, ``perc``, ``cymbal``) on a
   melodic channel is never a string track: "Bass Drum" is not a bass.
3. A track name naming a bass (``bass``, not ``contrabass``) or a guitar (``guitar``, ``gtr``,
   ``guit``) wins over the program only when the program is in the guitar/bass families
   (24-39), where the name settles a patch choice ("Bass" played on an overdrive patch), or is
   0, the GM default a file gets when it never sets a program, so the name is the only signal.
   A name saying both ("Bass Guitar") is a bass. A "Bass" name on a clearly different program
   (strings 43 "Contrabass", synth lead 81) leaves the decision to the program.
4. Otherwise the program decides: guitar 24-31, bass 32-39, anything else is not used.

A track's notes on one channel are a *part*, and a part has one program for all its notes: its
own first program change, else the first one on its channel in any track (see ``_midi_read``).
Parts not taken are listed per file in the summary with the reason.

Time: every time signature must be 4/4 (a file with none is 4/4 by the MIDI default), because
the 2-bar MusicVAE models count 16 steps per bar; other files are skipped as ``not_4_4``. The
tempo map and time signatures are kept unchanged on every output sequence.

Files are read by ``_midi_read`` before note_seq sees them: faults that do not touch the music
are repaired and counted, files that cannot be used are skipped with the cause named, and no file
can cost more than a bounded amount of time and memory.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

import note_seq
import pretty_midi
import structlog
from metalosc.protocol import INSTRUMENTS, Instrument, write_atomic
from metalosc.runtime import BASS_PROGRAMS, BEATS_PER_BAR, DEFAULT_QPM, GUITAR_PROGRAMS
from metalosc.training._midi_io import (
    NoteSequence,
    find_midi_files,
    write_note_sequences,
)
from metalosc.training._midi_read import MidiFileError, Part, read_midi, to_pretty_midi
from rich.table import Table
from tqdm import tqdm

log = structlog.get_logger(__name__)

SPLIT_DIR = "split"
SUMMARY_FILE = "summary.json"

_DEFAULT_PROGRAM = 0

_DRUM_NAME = re.compile(r"drum|kick|snare|perc|cymbal", re.IGNORECASE)
_BASS_NAME = re.compile(r"(?<![a-z])bass", re.IGNORECASE)
_GUITAR_NAME = re.compile(r"guit|gtr", re.IGNORECASE)

DEFAULT_GROOVE_STYLES = ("rock", "punk", "metal")


class SkipReason(str, Enum):
    """Why a whole file contributed nothing (counted in the summary, never raised); the
    ``FileSplit.detail`` says it in a sentence."""

    NOT_MIDI = "not_midi"
    """Empty, or not a Standard MIDI File at all."""
    TRUNCATED = "truncated"
    """The file ends before what its header or a chunk declares."""
    UNSUPPORTED = "unsupported"
    """A valid file of a kind not read: SMPTE time division, format 2."""
    TOO_BIG = "too_big"
    """Over the per-file cost limits (bytes, ticks)."""
    MALFORMED = "malformed"
    """A track that cannot be read to its end (a byte where no event can start, ...)."""
    UNPARSEABLE = "unparseable"
    """Anything else the parsers refused: a fault no check above names yet."""
    NOT_4_4 = "not_4_4"
    NO_USABLE_TRACK = "no_usable_track"


def song_id(relative_path: str, collection: str) -> str:
    """Deterministic song id from the file's path relative to its corpus root.

    Same format as Magenta's ``convert_dir_to_note_sequences`` (``/id/midi/<collection>/<sha1>``)
    so ids stay stable across machines and runs; every instrument of a song shares it, which is
    how convert pairs a song's guitar with its bass.
    """
    digest = hashlib.sha1(relative_path.encode("utf-8")).hexdigest()
    return f"/id/midi/{collection}/{digest}"


def instrument_from_name(name: str) -> Instrument | None:
    """What a track name says it is, if it names a bass or a guitar (bass wins over guitar)."""
    if _DRUM_NAME.search(name):
        return None
    if _BASS_NAME.search(name):
        return "bass"
    if _GUITAR_NAME.search(name):
        return "guitar"
    return None


def why_not_taken(program: int, is_drum: bool, name: str, channel: int | None = None) -> str:
    """Why :func:`classify_track` takes no instrument from a part (``channel`` from 1, if known),
    in words for the split summary."""
    gm = f"program {program} ({pretty_midi.program_to_instrument_name(program)})"
    if is_drum:
        return "drums are not taken from this corpus"
    if _DRUM_NAME.search(name):
        where = f"on channel {channel}" if channel is not None else "on a melodic channel"
        return f"named like drums {where} without a drum program: not taken as drums"
    named = instrument_from_name(name)
    if named is not None:
        return f"named like a {named} but {gm} is neither a guitar, a bass nor unset"
    which = classify_track(program, is_drum, name)
    if which is not None:
        return f"a {which} part is not taken from this corpus"
    return f"{gm} is not a guitar or a bass"


def classify_track(program: int, is_drum: bool, name: str) -> Instrument | None:
    """The instrument a track plays, by the rule in the module docstring; None = not used."""
    if is_drum:
        return "drums"
    if _DRUM_NAME.search(name):
        return None
    named = instrument_from_name(name)
    string_family = program in GUITAR_PROGRAMS or program in BASS_PROGRAMS
    if named is not None and (string_family or program == _DEFAULT_PROGRAM):
        return named
    if program in GUITAR_PROGRAMS:
        return "guitar"
    if program in BASS_PROGRAMS:
        return "bass"
    return None


def is_four_four(seq: NoteSequence) -> bool:
    """True when every time signature is 4/4; no time signature at all is 4/4 (MIDI default)."""
    return all(ts.numerator == 4 and ts.denominator == 4 for ts in seq.time_signatures)


def seconds_to_beats(seq: NoteSequence, seconds: float) -> float:
    """Quarter notes elapsed at ``seconds`` under the sequence's tempo map (120 qpm default)."""
    tempos = sorted(seq.tempos, key=lambda t: t.time)
    beats = 0.0
    qpm = DEFAULT_QPM
    last = 0.0
    for tempo in tempos:
        if tempo.time >= seconds:
            break
        beats += (tempo.time - last) * qpm / 60.0
        last, qpm = tempo.time, tempo.qpm
    return beats + (seconds - last) * qpm / 60.0


def bars_of(seq: NoteSequence) -> float:
    """Length in 4/4 bars from time 0 to the last note end."""
    end = max((n.end_time for n in seq.notes), default=0.0)
    return seconds_to_beats(seq, end) / BEATS_PER_BAR


@dataclass(frozen=True)
class FileSplit:
    """The result of splitting one file: per-instrument sequences, or the reason it was skipped."""

    relative_path: str
    song_id: str
    sequences: Mapping[Instrument, NoteSequence] = field(default_factory=dict)
    tracks: Mapping[Instrument, int] = field(default_factory=dict)
    skip_reason: SkipReason | None = None
    detail: str = ""
    dropped_parts: tuple[str, ...] = ()
    """Each part (track, channel) with notes that was not taken, and why."""
    repairs: Mapping[str, int] = field(default_factory=dict)
    """Faults dropped or repaired while reading the file, by kind."""


def _instrument_names(seq: NoteSequence) -> dict[int, str]:
    return {info.instrument: info.name for info in seq.instrument_infos}


def _only_instruments(seq: NoteSequence, keep: set[int]) -> NoteSequence:
    """A copy of ``seq`` holding only the notes/bends/controls/infos of the ``keep`` tracks."""
    out = NoteSequence()
    out.CopyFrom(seq)
    for repeated in (out.notes, out.pitch_bends, out.control_changes, out.instrument_infos):
        kept = [item for item in repeated if item.instrument in keep]
        del repeated[:]
        repeated.extend(kept)
    out.total_time = max((n.end_time for n in out.notes), default=0.0)
    return out


def split_note_sequence(
    seq: NoteSequence,
    relative_path: str,
    collection: str,
    *,
    instruments: Sequence[Instrument] = INSTRUMENTS,
    parts: Sequence[Part] = (),
) -> FileSplit:
    """Splits one parsed MIDI file into per-instrument sequences (pure; the testable core).

    Every output sequence keeps the file's tempo map and time signatures, the notes keep their
    track (``instrument``) and GM program, and all carry the song's id, ``filename`` (the
    relative path) and ``collection_name``. ``instruments`` limits what is taken (extra drum
    corpora pass ``("drums",)``); ``parts`` names the sequence's instruments, by index, for the
    list of parts not taken (``_midi_read.to_pretty_midi`` gives them).
    """
    sid = song_id(relative_path, collection)
    if not is_four_four(seq):
        signatures = sorted({f"{ts.numerator}/{ts.denominator}" for ts in seq.time_signatures})
        return FileSplit(
            relative_path, sid, skip_reason=SkipReason.NOT_4_4, detail=",".join(signatures)
        )
    names = _instrument_names(seq)
    tracks: dict[Instrument, set[int]] = {}
    dropped: dict[int, str] = {}
    for note in seq.notes:
        name = names.get(note.instrument, "")
        which = classify_track(note.program, note.is_drum, name)
        if which is not None and which in instruments:
            tracks.setdefault(which, set()).add(note.instrument)
        elif note.instrument not in dropped:
            part = parts[note.instrument] if note.instrument < len(parts) else None
            why = why_not_taken(
                note.program, note.is_drum, name, part.channel if part is not None else None
            )
            label = part.label if part is not None else f'instrument {note.instrument} "{name}"'
            dropped[note.instrument] = f"{label}: {why}"
    dropped_parts = tuple(dropped[i] for i in sorted(dropped))
    if not tracks:
        return FileSplit(
            relative_path,
            sid,
            skip_reason=SkipReason.NO_USABLE_TRACK,
            detail=(
                f"none of its {len(dropped_parts)} parts is taken (see dropped_parts)"
                if dropped_parts
                else "no notes"
            ),
            dropped_parts=dropped_parts,
        )
    sequences: dict[Instrument, NoteSequence] = {}
    for instrument in INSTRUMENTS:
        if instrument not in tracks:
            continue
        part = _only_instruments(seq, tracks[instrument])
        part.id = sid
        part.filename = relative_path
        part.collection_name = collection
        sequences[instrument] = part
    return FileSplit(
        relative_path,
        sid,
        sequences=sequences,
        tracks={i: len(t) for i, t in tracks.items()},
        dropped_parts=dropped_parts,
    )


def split_midi(
    midi: bytes,
    relative_path: str,
    collection: str,
    *,
    instruments: Sequence[Instrument] = INSTRUMENTS,
) -> FileSplit:
    """Reads one MIDI file's bytes (``_midi_read``), converts them with note_seq and splits
    them; never raises on bad MIDI.

    A file that cannot be used is a counted skip whose reason and detail name the cause (see
    :class:`SkipReason`); faults that do not touch the music are repaired and counted in
    ``FileSplit.repairs``. Time and memory per file are bounded whatever the bytes hold, and one
    broken file in a corpus of thousands never stops the stage: a parser failure no check names
    is an ``unparseable`` skip.
    """
    sid = song_id(relative_path, collection)
    try:
        content = read_midi(midi)
        pm, parts = to_pretty_midi(content)
        seq = note_seq.midi_to_note_sequence(pm)
    except MidiFileError as fault:
        return FileSplit(
            relative_path, sid, skip_reason=SkipReason(fault.kind), detail=fault.detail
        )
    except Exception as exc:  # a fault no check names yet: counted, never fatal to the stage
        return FileSplit(
            relative_path,
            sid,
            skip_reason=SkipReason.UNPARSEABLE,
            detail=f"{type(exc).__name__}: {exc}"[:200],
        )
    result = split_note_sequence(
        seq, relative_path, collection, instruments=instruments, parts=parts
    )
    return replace(result, repairs=dict(sorted(content.repairs.items())))


@dataclass(frozen=True)
class MidiSource:
    """A set of MIDI files under one root, split with one collection name.

    ``instruments`` restricts which instruments are taken from these files: an extra drum-only
    corpus (Groove) uses ``("drums",)`` so a stray melodic track there never reaches the
    guitar or bass data.
    """

    root: Path
    files: tuple[Path, ...]
    collection: str
    instruments: tuple[Instrument, ...] = INSTRUMENTS


def midi_source(root: Path, collection: str | None = None) -> MidiSource:
    """Every MIDI file under ``root`` (recursive), all instruments, collection = dir name."""
    return MidiSource(root, tuple(find_midi_files(root)), collection or root.resolve().name)


def groove_files(
    groove_dir: Path,
    styles: Iterable[str] = DEFAULT_GROOVE_STYLES,
    *,
    beat_types: Iterable[str] = ("beat", "fill"),
) -> list[Path]:
    """Groove MIDI Dataset files whose top-level style is one of ``styles``, 4/4 only.

    Reads the dataset's ``info.csv`` (columns ``style``, ``beat_type``, ``time_signature``,
    ``midi_filename``). The style's first path part is matched ("rock/halftime" is rock;
    "funk/rock" is funk), case-insensitively.
    """
    info = groove_dir / "info.csv"
    if not info.is_file():
        raise FileNotFoundError(f"Groove info.csv not found: {info}")
    wanted = {s.lower() for s in styles}
    kinds = {b.lower() for b in beat_types}
    files: list[Path] = []
    with info.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"style", "beat_type", "time_signature", "midi_filename"} - set(
            reader.fieldnames or ()
        )
        if missing:
            raise ValueError(f"{info}: missing columns {sorted(missing)}")
        for row in reader:
            genre = row["style"].split("/")[0].strip().lower()
            if (
                genre in wanted
                and row["beat_type"].strip().lower() in kinds
                and row["time_signature"].strip() == "4-4"
            ):
                path = groove_dir / row["midi_filename"]
                if path.is_file():
                    files.append(path)
    return sorted(files, key=lambda p: p.relative_to(groove_dir).as_posix())


def extra_drums_source(
    root: Path, styles: Iterable[str] = DEFAULT_GROOVE_STYLES, collection: str | None = None
) -> MidiSource:
    """A drum-only corpus: the Groove dataset filtered by ``styles`` when ``root/info.csv``
    exists, otherwise every MIDI file under ``root``."""
    files = groove_files(root, styles) if (root / "info.csv").is_file() else find_midi_files(root)
    return MidiSource(root, tuple(files), collection or root.resolve().name, ("drums",))


@dataclass
class SplitSummary:
    """What the split stage did: counts per instrument and skips by reason.

    ``songs_per_instrument``: files that gave the instrument a sequence; ``tracks_per_instrument``:
    MIDI tracks merged into those sequences; ``bars_per_instrument``: the sequences' lengths in
    4/4 bars (from 0 to their last note, through the tempo map), summed. Per file (keyed
    ``collection/relative path``): ``skipped``, the reason and its detail; ``dropped_parts``, the
    parts not taken and why; ``repaired_files``, the faults repaired; ``repairs`` sums those.
    """

    files: int = 0
    files_used: int = 0
    songs_per_instrument: Counter[str] = field(default_factory=Counter)
    tracks_per_instrument: Counter[str] = field(default_factory=Counter)
    bars_per_instrument: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    skips: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    dropped_parts: dict[str, list[str]] = field(default_factory=dict)
    repairs: Counter[str] = field(default_factory=Counter)
    repaired_files: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, result: FileSplit, where: str = "") -> None:
        """Counts one file's result; ``where`` names it in the per-file lists (default: its
        relative path)."""
        key = where or result.relative_path
        self.files += 1
        if result.dropped_parts:
            self.dropped_parts[key] = list(result.dropped_parts)
        if result.repairs:
            self.repaired_files[key] = dict(result.repairs)
            self.repairs.update(result.repairs)
        if result.skip_reason is not None:
            self.skips[result.skip_reason.value] += 1
            detail = f": {result.detail}" if result.detail else ""
            self.skipped[key] = f"{result.skip_reason.value}{detail}"
            return
        self.files_used += 1
        for instrument, seq in result.sequences.items():
            self.songs_per_instrument[instrument] += 1
            self.tracks_per_instrument[instrument] += result.tracks[instrument]
            self.bars_per_instrument[instrument] += bars_of(seq)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (bars rounded to 0.1)."""
        return {
            "files": self.files,
            "files_used": self.files_used,
            "songs": {i: self.songs_per_instrument[i] for i in INSTRUMENTS},
            "tracks": {i: self.tracks_per_instrument[i] for i in INSTRUMENTS},
            "bars": {i: round(self.bars_per_instrument[i], 1) for i in INSTRUMENTS},
            "skips": dict(sorted(self.skips.items())),
            "repairs": dict(sorted(self.repairs.items())),
            "seconds": round(self.seconds, 2),
            "outputs": self.outputs,
            "skipped": dict(sorted(self.skipped.items())),
            "dropped_parts": dict(sorted(self.dropped_parts.items())),
            "repaired_files": dict(sorted(self.repaired_files.items())),
        }


def render_split_summary(summary: SplitSummary) -> Table:
    """A rich table of the split summary (print it with ``rich.console.Console().print``)."""
    table = Table(title=f"split: {summary.files_used}/{summary.files} files used")
    table.add_column("instrument")
    table.add_column("songs", justify="right")
    table.add_column("tracks", justify="right")
    table.add_column("bars", justify="right")
    for instrument in INSTRUMENTS:
        table.add_row(
            instrument,
            str(summary.songs_per_instrument[instrument]),
            str(summary.tracks_per_instrument[instrument]),
            f"{summary.bars_per_instrument[instrument]:.0f}",
        )
    for reason in SkipReason:
        table.add_row(f"skipped: {reason.value}", str(summary.skips[reason.value]), "", "")
    for kind, count in sorted(summary.repairs.items()):
        table.add_row(f"repaired: {kind}", str(count), "", "")
    dropped = sum(len(parts) for parts in summary.dropped_parts.values())
    table.caption = (
        f"{summary.seconds:.1f} s; {dropped} parts not taken, in "
        f"{len(summary.dropped_parts)} files (why: summary.json)"
    )
    return table


def split_corpus(
    sources: Sequence[MidiSource], out_dir: Path, *, progress: bool = True
) -> SplitSummary:
    """Splits every file of ``sources`` and writes ``out_dir/split/<instrument>.tfrecord``.

    Deterministic: files are processed in source order, each source's files sorted by relative
    path, so the same corpus gives byte-identical TFRecords. Writes are atomic (each TFRecord
    and ``summary.json`` replace the old ones only when complete), so a rerun is idempotent.
    """
    started = time.perf_counter()
    summary = SplitSummary()
    per_instrument: dict[Instrument, list[NoteSequence]] = {i: [] for i in INSTRUMENTS}
    total = sum(len(s.files) for s in sources)
    with tqdm(total=total, desc="split", unit="file", disable=not progress) as bar:
        for source in sources:
            for path in source.files:
                relative = path.relative_to(source.root).as_posix()
                result = split_midi(
                    path.read_bytes(), relative, source.collection, instruments=source.instruments
                )
                summary.add(result, f"{source.collection}/{relative}")
                if result.repairs:
                    log.info(
                        "split.file_repaired",
                        path=relative,
                        collection=source.collection,
                        repairs=dict(result.repairs),
                    )
                if result.skip_reason is not None:
                    log.info(
                        "split.file_skipped",
                        path=relative,
                        collection=source.collection,
                        reason=result.skip_reason.value,
                        detail=result.detail,
                    )
                for instrument, seq in result.sequences.items():
                    per_instrument[instrument].append(seq)
                bar.update()
    split_dir = out_dir / SPLIT_DIR
    for instrument, seqs in per_instrument.items():
        target = split_dir / f"{instrument}.tfrecord"
        write_note_sequences(target, seqs)
        summary.outputs[instrument] = str(target)
    summary.seconds = time.perf_counter() - started
    write_atomic(split_dir / SUMMARY_FILE, json.dumps(summary.to_json(), indent=2) + "\n")
    log.info(
        "split.done",
        files=summary.files,
        files_used=summary.files_used,
        skips=dict(summary.skips),
        repairs=dict(summary.repairs),
        seconds=round(summary.seconds, 2),
    )
    return summary
