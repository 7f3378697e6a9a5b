"""Tests of `quality`: the cohesion metric on hand-made phrases, score rendering against a fake
MuseScore, and one real run on the tiny bundles.

Rules: the metric tests build NoteSequences by hand so every expected number is countable; the
real run is ``slow`` (tiny models, 16 phrases, no rendering) and checks structure and ranges, not
musical quality (tiny models make noise). Repeatability is not asserted: Magenta's note sampling
is not repeatable run to run (see `metalosc.training._quality`).
"""

from __future__ import annotations

import argparse
import json
import math
import stat
from pathlib import Path

import numpy as np
import pytest
from metalosc.protocol import INSTRUMENTS
from metalosc.runtime import ChordFit, infer_chords, place_tension, strong_beat_chord_fit
from metalosc.training import _quality
from metalosc.training._cli import add_quality_arguments, quality_command
from metalosc.training._excerpts import excerpt_tensions
from metalosc.training._generate import assemble, part, song_chords
from metalosc.training._midi_io import NoteSequence
from metalosc.training._musescore import RenderError, render_score, render_scores
from metalosc.training._quality import REPORT_FILE, run_quality
from metalosc.training._tension import _calibration

from .fixtures_midi import timed

# -- hand-made phrases -----------------------------------------------------------------------


def test_the_metric_reads_songs_written_by_generate() -> None:
    """`part` and `song_chords` take back what generate's `assemble` wrote (two phrases)."""
    guitar = timed([(64, 0.0)])
    bass_one = timed([(36, 0.0), (38, 1.0)])  # C on beat 1 of bar 1, D on beat 3
    bass_two = timed([(43, 2.0)])  # G on beat 1 of the phrase's first bar
    for seq in (bass_one, bass_two):
        for note in seq.notes:
            note.program = 33
    song = assemble(
        {"guitar": [guitar, guitar], "bass": [bass_one, bass_two], "drums": [NoteSequence()] * 2},
        [["C", "G"], ["G", "C"]],
    )
    assert song_chords(song) == ["C", "G", "G", "C"]
    bass = part(song, "bass")
    assert [(n.pitch, n.start_time) for n in bass.notes] == [(36, 0.0), (38, 1.0), (43, 6.0)]
    assert strong_beat_chord_fit(bass, song_chords(song)) == ChordFit(hits=2, notes=3)


def test_excerpts_go_from_calm_to_intense() -> None:
    assert excerpt_tensions(1) == [0.5]
    assert excerpt_tensions(3) == [0.0, 0.5, 1.0]


def test_chord_transition_memo_returns_note_seqs_matrix_and_the_same_chords() -> None:
    from metalosc.runtime import _chords as _chord_inference
    from note_seq import chord_inference

    # C major triad in bar 1, A minor in bar 2.
    guitar = timed([(60, 0.0), (64, 0.0), (67, 0.0), (57, 2.0), (60, 2.0), (64, 2.0)])
    for note in guitar.notes:
        note.end_time = note.start_time + 2.0
    assert infer_chords(guitar) == ["C", "Am"]  # installs the memo
    assert _chord_inference._original is not None
    dist = chord_inference._key_chord_distribution(chord_pitch_out_of_key_prob=0.01)
    memo = chord_inference._key_chord_transition_distribution(dist, 0.001, 0.5)
    assert chord_inference._key_chord_transition_distribution(dist, 0.001, 0.5) is memo
    np.testing.assert_array_equal(memo, _chord_inference._original(dist, 0.001, 0.5))
    assert infer_chords(guitar) == ["C", "Am"]


# -- tension statistics (no model: a stand-in with a tension vector) -------------------------


class VectorOnly:
    """What the tension statistics read of a model."""

    def __init__(self, vector: list[float]) -> None:
        self.tension_vector = np.asarray(vector, np.float32)
        self.z_size = len(vector)


def test_place_tension_places_each_row_at_its_own_tension() -> None:
    z = np.asarray([[5.0, 1.0], [5.0, 2.0], [5.0, 3.0]], np.float32)
    moved = place_tension(z, np.asarray([2.0, 0.0], np.float32), [0.0, 0.5, 1.0])
    # coordinate along v set to (2t - 1) * 1.25 * |v|; the other direction kept
    np.testing.assert_allclose(moved, [[-2.5, 1.0], [0.0, 2.0], [2.5, 3.0]])


def test_calibration_statistics_from_laid_out_rows() -> None:
    # 4 sweep rows at tensions 0..1 with rising intensity, then 2 latents at each anchor.
    tensions = np.asarray([0.0, 1 / 3, 2 / 3, 1.0, 0.0, 0.0, 0.5, 0.5, 1.0, 1.0])
    scores = np.asarray([0.1, 0.2, 0.3, 0.4, 0.1, 0.3, 0.2, 0.4, 0.5, 0.2])
    z = np.zeros((10, 2))
    z[:4, 0] = [-2.0, -1.0, 1.0, 2.0]
    cal = _calibration(VectorOnly([3.0, 0.0]), "guitar", tensions, z, scores, anchor_latents=2)
    assert cal.phrases == 4
    assert cal.spearman == pytest.approx(1.0)
    assert cal.meets_target
    assert cal.mean_intensity == pytest.approx({"0.0": 0.2, "0.5": 0.3, "1.0": 0.35})
    assert cal.monotone_fraction == 0.5  # latent 0: 0.1 -> 0.5 rises, latent 1: 0.3 -> 0.2 not
    assert cal.vector_norm == pytest.approx(3.0)
    assert cal.projection_top_quartile == pytest.approx(2.0)
    assert cal.projection_bottom_quartile == pytest.approx(-2.0)


def test_calibration_of_constant_intensity_has_no_correlation() -> None:
    tensions = np.asarray([0.0, 0.5, 1.0, 1.0, 0.0, 0.0, 0.5, 0.5, 1.0, 1.0])
    cal = _calibration(VectorOnly([1.0]), "drums", tensions, np.zeros((10, 1)), np.full(10, 0.4), 2)
    assert math.isnan(cal.spearman)
    assert not cal.meets_target


# -- score rendering -------------------------------------------------------------------------


def fake_mscore(tmp_path: Path, script: str) -> Path:
    """An executable `mscore3` in its own directory (to put first on PATH)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "mscore3"
    exe.write_text("#!/bin/sh\n" + script)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return exe


def test_render_score_collects_every_page_in_order(tmp_path: Path) -> None:
    # MuseScore writes OUT-1.png, OUT-2.png, ... for `-o OUT.png`; 10 must sort after 2.
    exe = fake_mscore(
        tmp_path,
        'base="${2%.png}"; for n in 1 2 10; do printf png > "$base-$n.png"; done\n',
    )
    midi = tmp_path / "excerpt-0.mid"
    midi.write_bytes(b"MThd")
    pages = render_score(midi, tmp_path, mscore=str(exe))
    assert [p.name for p in pages] == ["excerpt-0-1.png", "excerpt-0-2.png", "excerpt-0-10.png"]
    assert all(p.parent == tmp_path and p.read_text() == "png" for p in pages)
    assert not list(tmp_path.glob(".render-*"))  # the temp directory is gone


def test_render_score_failure_names_the_file_and_leaves_no_pages(tmp_path: Path) -> None:
    exe = fake_mscore(
        tmp_path, 'base="${2%.png}"; printf png > "$base-1.png"; echo "bad midi" >&2; exit 3\n'
    )
    midi = tmp_path / "broken.mid"
    midi.write_bytes(b"junk")
    with pytest.raises(RenderError, match=r"broken\.mid.*exit 3.*bad midi"):
        render_score(midi, tmp_path, mscore=str(exe))
    assert not list(tmp_path.glob("*.png"))


def test_render_scores_without_musescore_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert render_scores([tmp_path / "x.mid"], tmp_path) == ([], "mscore3 not found")


@pytest.mark.slow
@pytest.mark.requires_tools("mscore3")
def test_real_musescore_renders_a_generated_excerpt(tmp_path: Path) -> None:
    from metalosc.training._generate import write_midi

    bass = timed([(36, 0.0), (43, 1.0)])
    song = assemble(
        {"guitar": [timed([(64, 0.0)])], "bass": [bass], "drums": [NoteSequence()]}, [["C", "G"]]
    )
    midi = tmp_path / "tiny.mid"
    write_midi(song, midi)
    pages = render_score(midi, tmp_path)
    assert [p.name for p in pages] == ["tiny-1.png"]
    assert pages[0].read_bytes().startswith(b"\x89PNG")


def test_cli_arguments_default_to_the_issue_settings() -> None:
    parser = argparse.ArgumentParser()
    add_quality_arguments(parser)
    args = parser.parse_args(["bundles", "out"])
    assert (args.bundles, args.out) == (Path("bundles"), Path("out"))
    assert (args.phrases, args.seed, args.excerpts, args.no_render) == (200, 0, 3, False)
    assert parser.parse_args(["b", "o", "--no-render", "--strict"]).strict


def test_cli_rejects_too_few_phrases(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser()
    add_quality_arguments(parser)
    with pytest.raises(SystemExit):
        parser.parse_args(["b", "o", "--phrases", "3"])
    assert "must be >= 4, got 3" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"phrases": 3}, "phrases must be >= 4"),
        ({"excerpts": 0}, "excerpts must be >= 1"),
        ({"temperature": 0.0}, "temperature must be > 0"),
    ],
)
def test_run_quality_rejects_bad_settings_before_loading(
    tmp_path: Path, kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        run_quality(tmp_path / "no-bundles", tmp_path / "out", **kwargs)


# -- a real run on the tiny bundles ----------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_report(tiny_bundles: dict, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    bundles_dir = tiny_bundles["guitar"].parent
    out = tmp_path_factory.mktemp("quality")
    report = run_quality(bundles_dir, out, phrases=16, seed=3, render=False)
    return bundles_dir, out, report


@pytest.mark.slow
def test_run_quality_writes_a_complete_report(tiny_report: tuple) -> None:
    _, out, report = tiny_report
    data = json.loads((out / REPORT_FILE).read_text())
    assert data == json.loads(json.dumps(report.to_json()))
    assert set(data["tension"]) == set(INSTRUMENTS)
    for instrument, cal in data["tension"].items():
        assert cal["instrument"] == instrument
        assert cal["phrases"] == 16
        assert cal["anchor_latents"] == 4
        assert cal["spearman"] is None or -1.0 <= cal["spearman"] <= 1.0
        assert set(cal["mean_intensity"]) == {"0.0", "0.5", "1.0"}
        assert all(0.0 <= v < 1.0 for v in cal["mean_intensity"].values())
        assert 0.0 <= cal["monotone_fraction"] <= 1.0
        assert cal["vector_norm"] > 0
    cohesion = data["cohesion"]
    assert cohesion["phrases"] == 16
    assert cohesion["bars"] == 32
    for key in ("band", "baseline_random_chords", "baseline_random_pitches"):
        fit = cohesion[key]
        assert 0 <= fit["hits"] <= fit["notes"]
        assert fit["fraction"] is None or 0.0 <= fit["fraction"] <= 1.0
    assert cohesion["band"]["notes"] > 0  # the tiny bass does play on strong beats
    assert data["render"] == "disabled"
    assert data["scores"] == []


@pytest.mark.slow
def test_excerpts_are_eight_bar_three_instrument_midi(tiny_report: tuple) -> None:
    import pretty_midi

    _, out, report = tiny_report
    assert [p.name for p in report.excerpts] == [
        "excerpt-0-t0.00.mid",
        "excerpt-1-t0.50.mid",
        "excerpt-2-t1.00.mid",
    ]
    for path in report.excerpts:
        assert path.parent == out
        midi = pretty_midi.PrettyMIDI(str(path))
        assert len(midi.instruments) == 3
        assert sorted(i.is_drum for i in midi.instruments) == [False, False, True]
        assert midi.get_end_time() <= 16.0 + 1e-6  # 8 bars at 120 qpm


@pytest.mark.slow
def test_quality_command_prints_the_table_and_fails_strictly_on_missed_targets(
    tiny_report: tuple, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Tiny models miss the targets: exit 0 by default, 1 with --strict."""
    bundles_dir, out, report = tiny_report
    calls = []

    def fake_run(*args: object, **kwargs: object) -> object:
        calls.append((args, kwargs))
        return report

    monkeypatch.setattr(_quality, "run_quality", fake_run)
    parser = argparse.ArgumentParser()
    add_quality_arguments(parser)
    assert quality_command(parser.parse_args([str(bundles_dir), str(out), "--no-render"])) == 0
    table = capsys.readouterr().out
    assert "Spearman" in table
    assert "≥ 0.9" in table
    assert calls[0][1] == {
        "phrases": 200,
        "seed": 0,
        "render": False,
        "excerpts": 3,
        "temperature": 1.0,
        "backend": "tf",
    }
    strict = parser.parse_args([str(bundles_dir), str(out), "--strict", "--json"])
    assert quality_command(strict) == 1
    assert json.loads(capsys.readouterr().out)["cohesion"]["phrases"] == 16
