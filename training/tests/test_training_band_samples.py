"""The Default Band sample bank: which pitches it covers, how it is rendered, what it sounds like.

The pitch derivation is checked against the daemon's own arrangement functions (a riff moved into
every key, voiced as power chords, moved into every section key); the rendering test runs the
real FluidSynth on the real FluidR3_GM soundfont and compares the result with the committed bank.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import mido
import numpy as np
import pytest
import soundfile
from metalosc.protocol import INSTRUMENTS, KEY_NAMES
from metalosc.runtime import (
    DRUM_CLASSES,
    KEY_SHIFTS,
    Phrase,
    PhraseNote,
    decoded_drum_pitch,
    into_key,
    power_chords,
    transposed,
)
from metalosc.training._band_samples import (
    BEND_RANGE,
    DEFAULT_MODELS,
    DEFAULT_OUT,
    MAX_SHIFT,
    NOTICE_NAME,
    SAMPLE_RATE,
    SAMPLE_STEP,
    SOUNDFONT,
    VOICES,
    BandSampleError,
    covering_pitches,
    decoded_pitch_range,
    emitted_pitches,
    note_midi,
    render_bank,
    sample_name,
    sample_pitches,
    trim,
)

pytestmark = pytest.mark.filterwarnings("ignore:Couldn't find ffmpeg:RuntimeWarning")
NEEDS_FLUIDSYNTH = pytest.mark.requires_tools("fluidsynth", str(SOUNDFONT))


@pytest.fixture(scope="module")
def emitted() -> dict[str, tuple[int, ...]]:
    return emitted_pitches(DEFAULT_MODELS)


def test_decoded_ranges_come_from_the_shipped_converters() -> None:
    # guitar: Magenta's melody converter as published (piano range); bass: the manifest's
    # max_pitch 67 override on the same converter.
    assert decoded_pitch_range(DEFAULT_MODELS / "guitar") == range(21, 109)
    assert decoded_pitch_range(DEFAULT_MODELS / "bass") == range(21, 68)
    with pytest.raises(BandSampleError, match="no pitch range"):
        decoded_pitch_range(DEFAULT_MODELS / "drums")


def _bundle_copy(tmp_path: Path, instrument: str, edit: Callable[[dict[str, Any]], None]) -> Path:
    """The default `instrument` bundle's directory with its manifest edited (files linked)."""
    bundle = tmp_path / instrument
    bundle.mkdir()
    for item in (DEFAULT_MODELS / instrument).iterdir():
        (bundle / item.name).symlink_to(item)
    (bundle / "manifest.json").unlink()
    manifest = json.loads((DEFAULT_MODELS / instrument / "manifest.json").read_text())
    edit(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return bundle


def test_the_onnx_decoders_agree_with_the_converters_and_disagreement_is_named(
    tmp_path: Path,
) -> None:
    for instrument in ("guitar", "bass", "drums"):  # the shipped bundles carry ONNX decoders
        manifest = json.loads((DEFAULT_MODELS / instrument / "manifest.json").read_text())
        assert manifest["decoder"]["encoding"]["kind"] in ("melody", "drums")

    def narrower(manifest: dict[str, Any]) -> None:
        manifest["decoder"]["encoding"]["max_pitch"] = 60

    with pytest.raises(
        BandSampleError, match=r"ONNX decoder plays 21\.\.60, its converter 21\.\.67"
    ):
        decoded_pitch_range(_bundle_copy(tmp_path, "bass", narrower))

    def other_kick(manifest: dict[str, Any]) -> None:
        manifest["decoder"]["encoding"]["pitch_classes"][0] = [35, 36]

    models = tmp_path / "models"
    models.mkdir()
    _bundle_copy(models, "drums", other_kick)
    for instrument in ("guitar", "bass"):
        (models / instrument).symlink_to(DEFAULT_MODELS / instrument)
    with pytest.raises(BandSampleError, match=r"ONNX decoder plays drums \(35, 38,"):
        emitted_pitches(models)


def _phrase(instrument: str, pitches: list[int]) -> Phrase:
    notes = tuple(PhraseNote(p, 100, i * 0.5, i * 0.5 + 0.5) for i, p in enumerate(pitches))
    return Phrase(instrument=instrument, z=np.zeros(4), notes=notes, intensity=0.5)  # type: ignore[arg-type]


def test_every_pitch_the_arrangement_can_make_is_emitted(
    emitted: dict[str, tuple[int, ...]],
) -> None:
    """Riffs at the edges of the guitar's vocabulary (and single notes across it), moved into
    every key, voiced, then moved into every other key with their bass, as the daemon does."""
    guitar_range = decoded_pitch_range(DEFAULT_MODELS / "guitar")
    bass_range = decoded_pitch_range(DEFAULT_MODELS / "bass")
    riffs = [[guitar_range[0]], [guitar_range[-1]], [guitar_range[0], guitar_range[0] + 5]]
    riffs += [[p, p + 2, p + 3] for p in range(guitar_range[0], guitar_range[-1] - 3, 7)]
    bass = _phrase("bass", [bass_range[0], bass_range[-1]])
    seen: dict[str, set[int]] = {"guitar": set(), "bass": set()}
    for riff in riffs:
        for tonic in range(12):
            arranged = power_chords(into_key(_phrase("guitar", riff), tonic))
            for shift in KEY_SHIFTS:
                moved = transposed(dataclasses.replace(arranged, accompaniment=(bass,)), shift)
                seen["guitar"] |= {n.pitch for n in moved.notes}
                seen["bass"] |= {n.pitch for n in moved.accompaniment[0].notes}
    assert seen["guitar"] <= set(emitted["guitar"])
    assert seen["bass"] <= set(emitted["bass"])
    assert min(seen["guitar"]) == min(emitted["guitar"])  # the derivation is not loose below
    assert emitted["drums"] == tuple(sorted(decoded_drum_pitch(c) for c in DRUM_CLASSES))


def test_emitted_ranges_are_contiguous_and_within_midi(
    emitted: dict[str, tuple[int, ...]],
) -> None:
    for instrument in ("guitar", "bass"):
        pitches = emitted[instrument]
        assert pitches == tuple(range(pitches[0], pitches[-1] + 1))
        assert pitches[0] >= 0
        assert pitches[-1] <= 127
    assert emitted["guitar"] == tuple(range(11, 121))  # 21..108 moved twice by -5..+6
    assert emitted["bass"] == tuple(range(11, 80))


@pytest.mark.parametrize(("low", "high"), [(11, 120), (0, 127), (40, 40), (16, 73), (125, 127)])
def test_covering_pitches_reach_every_pitch_within_one_semitone(low: int, high: int) -> None:
    samples = covering_pitches(range(low, high + 1))
    assert all(0 <= s <= 127 for s in samples)
    for pitch in range(low, high + 1):
        assert min(abs(s - pitch) for s in samples) <= MAX_SHIFT == SAMPLE_STEP // 2
    steps = np.diff(samples)
    assert (steps <= SAMPLE_STEP).all()
    assert covering_pitches(()) == ()


def test_sample_names_follow_the_clients_convention() -> None:
    assert sample_name("guitar", 40) == "guitar_040_E2.ogg"
    assert sample_name("bass", 61) == "bass_061_Cs4.ogg"
    assert sample_name("guitar", 12) == "guitar_012_C0.ogg"
    assert sample_name("drums", 42) == "drums_042_closed_hihat.ogg"
    assert sample_name("bass", 63).startswith(f"bass_063_{KEY_NAMES[3]}")
    with pytest.raises(ValueError, match="not a drum note"):
        sample_name("drums", 37)
    with pytest.raises(ValueError, match=r"outside 0\.\.127"):
        sample_name("guitar", 128)


def test_note_midi_plays_each_pitch_in_turn_and_bends_where_asked() -> None:
    voice = VOICES["guitar"]
    midi = note_midi(voice, [40, 114], 3.0, bends={114: 6})
    seconds = 0.0
    notes: list[tuple[float, int]] = []
    wheel: list[tuple[float, int]] = []
    controls: list[tuple[int, int]] = []
    for message in mido.merge_tracks(midi.tracks):
        seconds += mido.tick2second(message.time, midi.ticks_per_beat, 500000)
        if message.type == "note_on":
            notes.append((round(seconds, 3), message.note))
        elif message.type == "pitchwheel":
            wheel.append((round(seconds, 3), message.pitch))
        elif message.type == "control_change":
            controls.append((message.control, message.value))
        elif message.type == "program_change":
            assert message.program == voice.program
    assert notes == [(0.0, 40), (3.0, 108)]  # 114 is played as 108 bent up 6 semitones
    assert wheel == [(3.0, 4096), (3.0 + voice.length_s, 0)]
    assert (6, BEND_RANGE) in controls  # RPN 0 data entry: the bend range
    assert round(seconds, 3) == 6.0  # ends one spacing after the last onset
    with pytest.raises(ValueError, match="beyond"):
        note_midi(voice, [127], 3.0, bends={127: BEND_RANGE + 1})


def test_drum_notes_go_to_the_drum_channel_without_a_program() -> None:
    midi = note_midi(VOICES["drums"], [36, 38], 1.0)
    messages = list(mido.merge_tracks(midi.tracks))
    assert not [m for m in messages if m.type == "program_change"]
    assert {m.channel for m in messages if m.type == "note_on"} == {9}


def test_trim_cuts_silence_and_fades_out() -> None:
    rate = SAMPLE_RATE
    t = np.arange(rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 220 * t) * np.exp(-4 * t)).astype(np.float32)
    audio = np.concatenate([np.zeros(1000, np.float32), tone, np.zeros(5000, np.float32)])
    out = trim(audio)
    # It starts at the first sample that sounds (the sine's first, 0.0, is under -60 dB).
    np.testing.assert_array_equal(out[:100], tone[1:101])
    assert len(out) < len(tone)  # the tail under -60 dB is gone
    assert out[-1] == 0.0
    assert abs(out[-2]) < 0.001
    assert trim(np.zeros(100, np.float32)).size == 0


def test_missing_soundfont_or_program_is_named(tmp_path: Path) -> None:
    with pytest.raises(BandSampleError, match="fluid-soundfont-gm"):
        render_bank(tmp_path, soundfont=tmp_path / "none.sf2")
    with pytest.raises(BandSampleError, match="apt-get install fluidsynth"):
        render_bank(tmp_path, fluidsynth="no-such-fluidsynth")
    assert list(tmp_path.iterdir()) == []


def test_command_names_a_missing_soundfont_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from metalosc.training._cli import main

    missing = tmp_path / "none.sf2"
    assert main(["band-samples", "--out", str(tmp_path / "out"), "--soundfont", str(missing)]) == 1
    err = capsys.readouterr().err
    assert f"soundfont {missing} not found: sudo apt-get install fluid-soundfont-gm" in err
    assert not (tmp_path / "out").exists()


def _levels(path: Path) -> tuple[float, float, float]:
    """Length (s), RMS and the RMS of the first 10 ms of a mono 44.1 kHz file."""
    audio, rate = soundfile.read(path, dtype="float32", always_2d=True)
    assert rate == SAMPLE_RATE, path.name
    assert audio.shape[1] == 1, path.name
    mono = audio[:, 0]
    head = mono[: rate // 100]
    return len(mono) / rate, float(np.sqrt(np.mean(mono**2))), float(np.sqrt(np.mean(head**2)))


@NEEDS_FLUIDSYNTH
@pytest.mark.slow
def test_rendered_bank_covers_the_models_and_matches_the_committed_one(
    tmp_path: Path, emitted: dict[str, tuple[int, ...]]
) -> None:
    out = tmp_path / "DefaultBand"
    out.mkdir()
    (out / "guitar_999_stale.ogg").write_bytes(b"old")  # a sample the bank no longer has
    (out / "mine.txt").write_text("kept")
    samples = render_bank(out)
    names = sorted(p.name for p in out.iterdir())
    assert "guitar_999_stale.ogg" not in names
    assert "mine.txt" in names
    notice = (out / NOTICE_NAME).read_text(encoding="utf-8")
    assert "Frank Wen" in notice
    assert "Permission is hereby granted" in notice  # the MIT licence text
    assert not list(out.glob("*.meta")), "outside the package: no .meta files"

    wanted = sample_pitches(DEFAULT_MODELS)
    for instrument in INSTRUMENTS:
        own = [s for s in samples if s.instrument == instrument]
        assert [s.pitch for s in own] == list(wanted[instrument])
        # One gain per instrument: its loudest sample peaks at -1 dBFS.
        assert max(s.peak_dbfs for s in own) == pytest.approx(-1.0, abs=0.05)
        shift = 0 if instrument == "drums" else MAX_SHIFT
        for pitch in emitted[instrument]:
            assert min(abs(s.pitch - pitch) for s in own) <= shift, (instrument, pitch)
    for sample in samples:
        seconds, rms, head = _levels(out / sample.name)
        assert 0.05 < seconds <= VOICES[sample.instrument].length_s
        assert rms > 10 ** (-45 / 20), sample.name  # not silence
        assert head > 10 ** (-50 / 20), sample.name  # trimmed: it sounds from the start
    total = sum((out / s.name).stat().st_size for s in samples)
    assert 300_000 < total < 4_000_000

    # The committed bank is what this command renders (FluidSynth and Vorbis versions may differ
    # a little from machine to machine, so lengths and levels are compared, not bytes).
    committed = sorted(p.name for p in DEFAULT_OUT.glob("*.ogg"))
    assert committed == sorted(s.name for s in samples)
    assert (DEFAULT_OUT / NOTICE_NAME).read_text(encoding="utf-8") == (out / NOTICE_NAME).read_text(
        encoding="utf-8"
    )
    for sample in samples:
        fresh_seconds, fresh_rms, _ = _levels(out / sample.name)
        old_seconds, old_rms, _ = _levels(DEFAULT_OUT / sample.name)
        assert abs(fresh_seconds - old_seconds) < 0.02, sample.name
        assert abs(20 * np.log10(fresh_rms / old_rms)) < 1.0, sample.name


@NEEDS_FLUIDSYNTH
@pytest.mark.slow
def test_rendering_inside_a_package_writes_its_meta_files(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "package.json").write_text('{"name": "com.example.band", "version": "1.0.0"}')
    out = package / "Samples~" / "Band"
    render_bank(out, instruments=("drums",))
    assert (package / "Samples~" / "Band.meta").is_file()
    assert (out / "drums_036_kick.ogg.meta").read_text().startswith("fileFormatVersion: 2\nguid: ")
    assert not (package / "Samples~.meta").exists()
