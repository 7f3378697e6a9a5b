"""`generate`: multi-track MIDI files from three bundles, to hear what a training run learned.

Each file has a distortion guitar (program 30), a bass (program 33) decoded on the chords of
the guitar phrase it plays against (`infer_chords`), and drums (channel 10). Longer pieces
than one 2-bar phrase walk through latent space: consecutive phrases decode points on the
great circle (slerp) from one random z to another, so the music changes smoothly. `tension`
places every z along the bundle's tension attribute vector (``metalosc.runtime.place_tension``,
the daemon's mapping too). Each guitar phrase gets ``BASS_CANDIDATES`` bass phrases decoded on
its chords and keeps the one that fits them best (``chord_fit``), as the daemon does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import structlog
from metalosc.protocol import INSTRUMENTS, Instrument, atomic_output
from metalosc.runtime import (
    BASS_CANDIDATES,
    BEATS_PER_BAR,
    DEFAULT_QPM,
    DRUM_CHANNEL,
    PHRASE_BARS,
    TENSION_AXES,
    Backend,
    InstrumentModel,
    bar_seconds,
    chord_fit,
    infer_chords,
    load_instrument_model,
    place_tension,
    slerp,
)
from metalosc.training._midi_io import NoteSequence
from numpy.typing import NDArray

log = structlog.get_logger(__name__)

QPM = DEFAULT_QPM
MIDI_INSTRUMENT: dict[Instrument, int] = {"guitar": 0, "bass": 1, "drums": DRUM_CHANNEL}
"""The track (NoteSequence ``instrument``) each part of a generated song is written on."""


class PhraseDecoder(Protocol):
    """What picking a bass reads of a model: :meth:`InstrumentModel.decode`."""

    def decode(
        self, z: NDArray[Any], temperature: float = 1.0, chords: Sequence[str] | None = None
    ) -> list[NoteSequence]: ...


def latent_walk(
    model: InstrumentModel, phrases: int, rng: np.random.Generator
) -> NDArray[np.float32]:
    """[phrases, z] points evenly spaced on the slerp path between two prior samples."""
    pair = model.sample_z(2, rng)
    if phrases == 1:
        return pair[:1]
    start, end = pair
    return np.stack([slerp(start, end, t) for t in np.linspace(0.0, 1.0, phrases)]).astype(
        np.float32
    )


def _append(
    track: NoteSequence, phrase: NoteSequence, offset: float, instrument: Instrument
) -> None:
    for note in phrase.notes:
        added = track.notes.add()
        added.pitch = note.pitch
        added.velocity = note.velocity
        added.start_time = note.start_time + offset
        added.end_time = note.end_time + offset
        added.program = note.program
        added.is_drum = instrument == "drums"
        added.instrument = MIDI_INSTRUMENT[instrument]


def assemble(
    parts: Mapping[Instrument, Sequence[NoteSequence]], chords: Sequence[Sequence[str]]
) -> NoteSequence:
    """One multi-track song from per-instrument lists of consecutive 2-bar phrases."""
    song = NoteSequence(ticks_per_quarter=220)
    song.tempos.add(qpm=QPM)
    song.time_signatures.add(numerator=BEATS_PER_BAR, denominator=4)
    names = {"guitar": "Distortion Guitar", "bass": "Bass", "drums": "Drums"}
    for instrument in INSTRUMENTS:
        song.instrument_infos.add(instrument=MIDI_INSTRUMENT[instrument], name=names[instrument])
    phrase_seconds = PHRASE_BARS * bar_seconds(QPM)
    for instrument, phrases in parts.items():
        for k, phrase in enumerate(phrases):
            _append(song, phrase, k * phrase_seconds, instrument)
    for k, progression in enumerate(chords):
        for b, symbol in enumerate(progression):
            ann = song.text_annotations.add()
            ann.time = k * phrase_seconds + b * bar_seconds(QPM)
            ann.text = symbol
            ann.annotation_type = NoteSequence.TextAnnotation.CHORD_SYMBOL
    song.total_time = len(chords) * phrase_seconds
    return song


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


def write_midi(song: NoteSequence, path: Path) -> None:
    """Writes `song` as a MIDI file atomically."""
    import note_seq

    with atomic_output(path) as tmp:
        note_seq.sequence_proto_to_midi_file(song, str(tmp))


def generate_songs(
    models: Mapping[Instrument, InstrumentModel],
    *,
    count: int,
    bars: int = 2,
    tension: float = 0.5,
    temperature: float = 1.0,
    seed: int = 0,
    bass_candidates: int = BASS_CANDIDATES,
) -> list[NoteSequence]:
    """`count` songs of `bars` bars: guitar and drums decoded in one batch each, the bass per
    guitar phrase on that phrase's inferred chords (the best of `bass_candidates`)."""
    if bass_candidates < 1:
        raise ValueError(f"bass_candidates must be >= 1, got {bass_candidates}")
    if bars < PHRASE_BARS or bars % PHRASE_BARS:
        raise ValueError(f"bars must be a positive multiple of {PHRASE_BARS}, got {bars}")
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    phrases = bars // PHRASE_BARS
    rng = np.random.default_rng(seed)
    decoded: dict[Instrument, list[NoteSequence]] = {}
    for instrument in ("guitar", "drums"):
        model = models[instrument]
        z = np.concatenate([latent_walk(model, phrases, rng) for _ in range(count)])
        z = place_tension(z, model.tension_vector, tension, TENSION_AXES[instrument])
        decoded[instrument] = model.decode(z, temperature)
    progressions = [infer_chords(g, bars=PHRASE_BARS) for g in decoded["guitar"]]
    bass = models["bass"]
    candidates = np.stack(
        [
            place_tension(
                np.concatenate([latent_walk(bass, phrases, rng) for _ in range(count)]),
                bass.tension_vector,
                tension,
                TENSION_AXES["bass"],
            )
            for _ in range(bass_candidates)
        ]
    )
    decoded["bass"] = decode_best_bass(bass, candidates, progressions, temperature)
    songs = []
    for s in range(count):
        window = slice(s * phrases, (s + 1) * phrases)
        parts = {i: decoded[i][window] for i in INSTRUMENTS}
        songs.append(assemble(parts, progressions[window]))
    return songs


def decode_best_bass(
    bass: PhraseDecoder,
    candidates: NDArray[np.floating[Any]],
    progressions: Sequence[Sequence[str]],
    temperature: float,
) -> list[NoteSequence]:
    """Phrase i: of the bass phrases decoded from `candidates[:, i]` on progression i, the one
    with the best :func:`chord_fit` (the first on a tie). A decode conditions its whole batch on
    one progression, so phrases are grouped by progression, all candidates in one batch."""
    k, n = candidates.shape[:2]
    groups: dict[tuple[str, ...], list[int]] = {}
    for index, progression in enumerate(progressions):
        groups.setdefault(tuple(progression), []).append(index)
    out: list[NoteSequence | None] = [None] * n
    for progression, indices in groups.items():
        z = candidates[:, indices].reshape(k * len(indices), -1)
        phrases = bass.decode(z, temperature, list(progression))
        for j, index in enumerate(indices):
            options = [phrases[c * len(indices) + j] for c in range(k)]
            out[index] = max(options, key=lambda p: chord_fit(p, progression))
    return [p for p in out if p is not None]


def load_bundles(bundles_dir: Path, backend: Backend = "tf") -> dict[Instrument, Any]:
    """The three instrument models of `bundles_dir/<instrument>`: :class:`InstrumentModel`\\ s
    (``tf``), or the bundles' ONNX decoders (``onnx``, :class:`OnnxInstrumentModel`)."""
    return {i: load_instrument_model(Path(bundles_dir) / i, backend) for i in INSTRUMENTS}


def generate(
    bundles_dir: Path,
    out_dir: Path,
    *,
    count: int,
    bars: int = 2,
    tension: float = 0.5,
    temperature: float = 1.0,
    seed: int = 0,
) -> list[Path]:
    """Writes `count` MIDI files `out_dir/metal-<seed>-<n>.mid`; returns their paths."""
    models = load_bundles(bundles_dir)
    try:
        songs = generate_songs(
            models, count=count, bars=bars, tension=tension, temperature=temperature, seed=seed
        )
    finally:
        for model in models.values():
            model.close()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, song in enumerate(songs):
        path = out_dir / f"metal-{seed}-{n:03d}.mid"
        write_midi(song, path)
        paths.append(path)
    log.info("generate.done", files=len(paths), bars=bars, tension=tension, seed=seed)
    return paths
