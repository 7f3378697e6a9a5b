"""The drums' **fill** attribute vector: which way in latent space a beat turns into a fill.

Computed like the tension vector (the MusicVAE paper's attribute vectors): every labelled 2-bar
example is encoded to its posterior mean, and the vector is the mean z of the fill examples minus
the mean z of the beat examples. Adding a multiple of it to a latent moves the decoded phrase
towards a fill. The key in ``attributes.npz`` is :data:`metalosc.protocol.FILL_ATTRIBUTE`.

Labels come from the Groove MIDI Dataset, whose files are each a beat or a fill (``info.csv``'s
``beat_type``, repeated in every file name: ``203_rock-halftime_140_fill_4-4.mid``). The examples
are the ones training sees: each file's drums cut into the convert stage's 6-bar windows
(:func:`metalosc.training._convert.convert_song`), and from those the 2-bar examples the drums
converter extracts (``config.data_converter.to_tensors``). Most Groove fills are a single bar
long, and the 2-bar converter takes nothing from a 1-bar file: only the fills that straddle a bar
line (or run longer) yield examples, so fills are few next to beats (see models/default/README.md
for the counts).

:func:`fill_response` is the sanity check: prior samples decoded at z + k·fill for growing k
should play more like fills, measured by :func:`tom_share` (the share of hits on the toms, the
one drum class Groove's fills use three times as much as its beats; crashes do not tell them
apart).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import structlog
from metalosc.runtime import ModelSession, drum_class
from metalosc.training._convert import SongParts, convert_song
from metalosc.training._dataset import (
    MAX_ATTRIBUTE_EXAMPLES,
    Examples,
    extract_examples,
    posterior_means,
    sample_examples,
)
from metalosc.training._midi_io import NoteSequence
from metalosc.training._split import DEFAULT_GROOVE_STYLES, groove_files, split_midi
from numpy.typing import NDArray

log = structlog.get_logger(__name__)

FillLabel = Literal["fill", "beat"]
FILL_LABELS: tuple[FillLabel, ...] = ("fill", "beat")
#: Fewest examples of each class a fill vector is computed from: with fewer, the mean
#: difference is mostly noise (its expected norm from noise alone is about sqrt(z_size / n)).
MIN_FILL_EXAMPLES = 8
#: The multiples of the fill vector :func:`fill_response` decodes at.
FILL_RESPONSE_KS: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5)
#: Prior samples :func:`fill_response` decodes at every k.
FILL_RESPONSE_SAMPLES = 256
TOM_CLASSES = frozenset({"low_tom", "mid_tom", "high_tom"})

#: Manifest metrics a fill computation writes (and a recomputation replaces).
FILL_METRICS = ("fill_examples", "beat_examples", "fill_vector_norm")
FILL_RESPONSE_METRIC = "fill_tom_share_k"
"""Prefix of the response metrics: ``fill_tom_share_k0``, ``…_k0.5``, ``…_k1``, ``…_k1.5``."""

# The Groove MIDI Dataset's file names: <id>_<style>_<bpm>_<beat|fill>_<num>-<den>.mid
_GROOVE_NAME = re.compile(r"^\d+_[^/]*_\d+_(beat|fill)_\d+-\d+\.midi?$", re.IGNORECASE)


def groove_beat_type(filename: str) -> FillLabel | None:
    """``"fill"`` or ``"beat"`` for a file named as the Groove MIDI Dataset names its files
    (the path's last part), else None: every other corpus is unlabelled."""
    match = _GROOVE_NAME.match(filename.replace("\\", "/").rsplit("/", 1)[-1])
    if match is None:
        return None
    return "fill" if match.group(1).lower() == "fill" else "beat"


def is_fill_metric(key: str) -> bool:
    """Whether a manifest metric is one that a fill computation writes."""
    return key in FILL_METRICS or key.startswith(FILL_RESPONSE_METRIC)


@dataclass(frozen=True)
class LabelledWindows:
    """Drum windows (NoteSequences as the convert stage cuts them) by label."""

    fill: tuple[NoteSequence, ...] = ()
    beat: tuple[NoteSequence, ...] = ()

    def __len__(self) -> int:
        return len(self.fill) + len(self.beat)

    def files(self, label: FillLabel) -> int:
        """How many files the windows of `label` come from."""
        return len({seq.filename for seq in getattr(self, label)})


def label_windows(windows: Iterable[NoteSequence]) -> LabelledWindows:
    """The windows whose ``filename`` is a Groove file name, by its label; others are left out.

    The split stage stores each file's path relative to its corpus root in ``filename`` and
    the convert stage keeps it on every window, so a work directory's drum records carry their
    labels.
    """
    found: dict[FillLabel, list[NoteSequence]] = {"fill": [], "beat": []}
    for window in windows:
        label = groove_beat_type(window.filename)
        if label is not None:
            found[label].append(window)
    return LabelledWindows(tuple(found["fill"]), tuple(found["beat"]))


def groove_windows(
    groove_dir: Path, styles: Iterable[str] = DEFAULT_GROOVE_STYLES
) -> LabelledWindows:
    """The drum windows of the Groove MIDI Dataset's 4/4 beats and fills of `styles` (by default
    the rock, punk and metal ones the drums model trains on), labelled by ``info.csv``.

    Each file is split and windowed exactly as ``split --extra-drums`` and ``convert`` do it, so
    these are the windows a work directory holds for the same files (train and eval together).
    """
    groove_dir = Path(groove_dir)
    styles = tuple(styles)
    collection = groove_dir.resolve().name
    found: dict[FillLabel, list[NoteSequence]] = {"fill": [], "beat": []}
    for label in FILL_LABELS:
        for path in groove_files(groove_dir, styles, beat_types=(label,)):
            relative = path.relative_to(groove_dir).as_posix()
            split = split_midi(path.read_bytes(), relative, collection, instruments=("drums",))
            drums = split.sequences.get("drums")
            if drums is None:
                log.info("fill.file_skipped", path=relative, reason=split.skip_reason)
                continue
            song = SongParts(split.song_id, drums=drums)
            found[label].extend(convert_song(song, train=False).get("drums", []))
    windows = LabelledWindows(tuple(found["fill"]), tuple(found["beat"]))
    log.info(
        "fill.groove_windows",
        groove=str(groove_dir),
        styles=list(styles),
        fill_files=windows.files("fill"),
        beat_files=windows.files("beat"),
        fill_windows=len(windows.fill),
        beat_windows=len(windows.beat),
    )
    return windows


@dataclass(frozen=True)
class LabelledExamples:
    """The 2-bar examples of labelled windows, by label."""

    fill: Examples
    beat: Examples


def files_with_examples(windows: Iterable[NoteSequence], config: Any) -> int:
    """How many of the windows' files yield at least one example under ``config``'s converter
    (most 1-bar Groove fills yield none)."""
    converter = config.data_converter
    converter.set_mode("eval")
    return len({w.filename for w in windows if converter.to_tensors(copy.deepcopy(w)).inputs})


def labelled_examples(windows: LabelledWindows, config: Any) -> LabelledExamples:
    """The examples ``config.data_converter`` extracts from each label's windows."""
    return LabelledExamples(
        fill=extract_examples(windows.fill, config),
        beat=extract_examples(windows.beat, config),
    )


@dataclass(frozen=True)
class FillVector:
    """The fill attribute vector and what it was computed from."""

    vector: NDArray[np.float32]  # [z_size]
    fill_examples: int  # examples averaged (at most max_examples of each class)
    beat_examples: int
    fill_available: int  # examples there were
    beat_available: int

    @property
    def norm(self) -> float:
        """‖vector‖."""
        return float(np.linalg.norm(self.vector))

    def metrics(self) -> dict[str, float]:
        """The manifest metrics of this vector (:data:`FILL_METRICS`)."""
        return {
            "fill_examples": float(self.fill_examples),
            "beat_examples": float(self.beat_examples),
            "fill_vector_norm": self.norm,
        }


def fill_vector(
    session: ModelSession,
    fill: Examples,
    beat: Examples,
    *,
    max_examples: int = MAX_ATTRIBUTE_EXAMPLES,
    min_examples: int = MIN_FILL_EXAMPLES,
    seed: int = 0,
) -> FillVector:
    """Mean posterior z of the `fill` examples minus that of the `beat` examples.

    Each class is a deterministic sample of at most `max_examples` (the beats outnumber the
    fills many times). Raises ValueError when a class has fewer than `min_examples`.
    """
    for name, examples in (("fill", fill), ("beat", beat)):
        if len(examples) < min_examples:
            raise ValueError(
                f"need at least {min_examples} {name} examples for a fill vector, "
                f"got {len(examples)}"
            )
    available = len(fill), len(beat)
    fill = sample_examples(fill, max_examples, seed)
    beat = sample_examples(beat, max_examples, seed)
    mu_fill = posterior_means(session, fill)
    mu_beat = posterior_means(session, beat)
    vector = mu_fill.mean(axis=0) - mu_beat.mean(axis=0)
    return FillVector(vector.astype(np.float32), len(fill), len(beat), *available)


def tom_share(seq: NoteSequence) -> float:
    """The share of a drum phrase's hits on the toms (0 for an empty phrase)."""
    if not seq.notes:
        return 0.0
    return sum(drum_class(note.pitch) in TOM_CLASSES for note in seq.notes) / len(seq.notes)


@dataclass(frozen=True)
class FillResponse:
    """How decoded phrases change along the fill vector: per k, over the same prior samples."""

    ks: tuple[float, ...]
    tom_share: tuple[float, ...]  # mean share of hits on the toms
    with_toms: tuple[float, ...]  # share of phrases with any tom hit
    notes: tuple[float, ...]  # mean hits per 2-bar phrase
    samples: int
    seed: int

    def metrics(self) -> dict[str, float]:
        """``fill_tom_share_k<k>`` for every k."""
        return {
            f"{FILL_RESPONSE_METRIC}{k:g}": share
            for k, share in zip(self.ks, self.tom_share, strict=True)
        }


def fill_response(
    session: ModelSession,
    vector: NDArray[Any],
    *,
    ks: Sequence[float] = FILL_RESPONSE_KS,
    samples: int = FILL_RESPONSE_SAMPLES,
    seed: int = 0,
    temperature: float = 1.0,
) -> FillResponse:
    """Decodes `samples` prior latents z at z + k·`vector` for every k in `ks` and measures the
    phrases. Magenta samples with stateful random ops, so the figures move a little from run to
    run even with the same `seed` (which fixes the latents)."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((samples, session.z_size)).astype(np.float32)
    direction = np.asarray(vector, np.float32)
    shares, with_toms, notes = [], [], []
    for k in ks:
        tensors = session.decode_tensors(z + np.float32(k) * direction, temperature)
        phrases = session.config.data_converter.from_tensors(tensors)
        per_phrase = np.asarray([tom_share(p) for p in phrases], np.float64)
        shares.append(float(per_phrase.mean()))
        with_toms.append(float((per_phrase > 0).mean()))
        notes.append(float(np.mean([len(p.notes) for p in phrases])))
    return FillResponse(
        tuple(float(k) for k in ks),
        tuple(shares),
        tuple(with_toms),
        tuple(notes),
        samples,
        seed,
    )
