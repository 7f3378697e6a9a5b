"""Generated metal songs: a deterministic stand-in corpus for tests and for tiny bundles.

Each song is a multi-track NoteSequence (distortion guitar riff on program 30, bass on 33
following the riff's roots, drums on channel 10) with an *intensity* that drives note density
and velocity, so the corpus spans calm to intense phrases and a tension vector trained on it
has a direction to find. No third-party MIDI is ever copied into the repo.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from metalosc.protocol import INSTRUMENTS, Instrument
from metalosc.runtime import BEATS_PER_BAR, DEFAULT_QPM, PROGRAMS, STEPS_PER_BAR, STEPS_PER_QUARTER
from metalosc.training._generate import MIDI_INSTRUMENT
from metalosc.training._midi_io import NoteSequence

QPM = DEFAULT_QPM
SECONDS_PER_STEP = 60.0 / QPM / STEPS_PER_QUARTER  # a 16th note
GUITAR_PROGRAM = PROGRAMS["guitar"]
BASS_PROGRAM = PROGRAMS["bass"]
KICK, SNARE, CLOSED_HAT, CRASH = 36, 38, 42, 49
#: E minor-ish riff roots (E2 A2 G2 D2 F#2 C3): the pitch material of the generated riffs.
RIFF_ROOTS = (40, 45, 43, 38, 42, 48)


def _add(seq: NoteSequence, pitch: int, step: int, steps: int, velocity: int, **kw: object) -> None:
    note = seq.notes.add(
        pitch=pitch,
        start_time=step * SECONDS_PER_STEP,
        end_time=(step + steps) * SECONDS_PER_STEP,
        velocity=velocity,
    )
    for key, value in kw.items():
        setattr(note, key, value)


def synthetic_song(rng: np.random.Generator, bars: int = 8, intensity: float = 0.5) -> NoteSequence:
    """One `bars`-bar song of 4/4 at 120 qpm; `intensity` in 0..1 sets how busy and loud the
    guitar, bass and drums play (calm: quarter notes, soft; intense: 16ths, loud)."""
    seq = NoteSequence(ticks_per_quarter=220)
    seq.tempos.add(qpm=QPM)
    seq.time_signatures.add(numerator=BEATS_PER_BAR, denominator=4)
    guitar, bass, drums = (MIDI_INSTRUMENT[i] for i in ("guitar", "bass", "drums"))
    seq.instrument_infos.add(instrument=guitar, name="Rhythm Guitar")
    seq.instrument_infos.add(instrument=bass, name="Bass")
    seq.instrument_infos.add(instrument=drums, name="Drums")
    # Note length in 16ths: 4 (quarters) when calm, 1 (16ths) when intense.
    grid = int(np.clip(round(4 - 3 * intensity), 1, 4))
    velocity = int(np.clip(50 + 75 * intensity, 1, 127))
    drum = dict(instrument=drums, is_drum=True)
    for bar in range(bars):
        root = int(rng.choice(RIFF_ROOTS))
        for step in range(bar * STEPS_PER_BAR, (bar + 1) * STEPS_PER_BAR, grid):
            pitch = root + int(rng.choice((0, 0, 0, 12, 7, 3)))
            vel = int(np.clip(velocity + rng.integers(-8, 9), 1, 127))
            # A power chord (root + fifth) — the split/convert stages reduce it to its root.
            _add(seq, pitch, step, grid, vel, instrument=guitar, program=GUITAR_PROGRAM)
            _add(seq, pitch + 7, step, grid, vel, instrument=guitar, program=GUITAR_PROGRAM)
            _add(seq, root - 12, step, grid, vel, instrument=bass, program=BASS_PROGRAM)
        for step in range(bar * STEPS_PER_BAR, (bar + 1) * STEPS_PER_BAR):
            beat_step = step % STEPS_PER_BAR
            if beat_step % grid == 0:
                _add(seq, CLOSED_HAT, step, 1, max(1, velocity - 20), **drum)
            if beat_step in (0, 8) or (intensity > 0.6 and beat_step % 2 == 0):
                _add(seq, KICK, step, 1, velocity, **drum)
            if beat_step in (4, 12):
                _add(seq, SNARE, step, 1, velocity, **drum)
        if bar % 4 == 0 and intensity > 0.5:
            _add(seq, CRASH, bar * STEPS_PER_BAR, 2, velocity, **drum)
    seq.total_time = bars * STEPS_PER_BAR * SECONDS_PER_STEP
    return seq


def synthetic_corpus(n_songs: int, seed: int = 0, bars: int = 8) -> list[NoteSequence]:
    """`n_songs` songs with intensities spread evenly over 0..1 (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    songs = []
    for i, level in enumerate(np.linspace(0.0, 1.0, n_songs)):
        song = synthetic_song(rng, bars=bars, intensity=float(level))
        song.id = f"synthetic-{seed}-{i:03d}"
        song.filename = f"{song.id}.mid"
        songs.append(song)
    return songs


def instrument_part(song: NoteSequence, instrument: Instrument) -> NoteSequence:
    """The song's guitar, bass or drums notes only (what the split stage would produce)."""
    keep = MIDI_INSTRUMENT[instrument]
    part = NoteSequence()
    part.CopyFrom(song)
    del part.notes[:]
    part.notes.extend(n for n in song.notes if n.instrument == keep)
    return part


def make_tiny_bundles(out_dir: Path, seed: int = 0, steps: int = 20) -> dict[Instrument, Path]:
    """Trains the three `*-tiny` presets for `steps` steps on a small generated corpus and
    exports them to `out_dir/<instrument>`: real, loadable bundles in about 20 s, for the
    server's integration tests and end-to-end tests (call once per test session)."""
    from metalosc.runtime import PRESET_SETS, get_preset
    from metalosc.training._convert import annotate_chords
    from metalosc.training._dataset import extract_examples, fingerprint_examples
    from metalosc.training._export import export_bundle
    from metalosc.training._train import train

    out_dir = Path(out_dir)
    songs = synthetic_corpus(12, seed=seed, bars=6)
    bundles: dict[Instrument, Path] = {}
    with tempfile.TemporaryDirectory(prefix="metalosc-tiny-") as work:
        for instrument in INSTRUMENTS:
            preset = get_preset(PRESET_SETS["tiny"][instrument])
            parts = [instrument_part(song, instrument) for song in songs]
            if instrument == "bass":
                parts = [
                    annotate_chords(bass, instrument_part(song, "guitar"))
                    for bass, song in zip(parts, songs, strict=True)
                ]
            examples = extract_examples(parts, preset.build_config())
            result = train(
                Path(work) / instrument,
                preset,
                examples,
                steps=steps,
                checkpoint_every=steps,
                seed=seed,
                progress=False,
            )
            if result.checkpoint is None:
                raise RuntimeError(f"tiny {instrument} training wrote no checkpoint")
            bundles[instrument] = export_bundle(
                result.checkpoint,
                preset,
                examples,
                out_dir / instrument,
                data_fingerprint=fingerprint_examples(examples),
                metrics={},
                seed=seed,
            )
    return bundles
