"""`metalosc-train form`: the daemon's own engine on real (tiny) bundles against a generated corpus.

Rules: the tiny bundles of the session (real MusicVAE checkpoints) play through
``metalosc.server.perform``; the corpus is generated songs written as MIDI files under
``tmp_path`` (no third-party MIDI); the measures themselves are tested on countable notes in the
runtime's suite, so here the command's wiring and outputs are checked.
"""

from __future__ import annotations

import json
from pathlib import Path

import note_seq
import pytest
from metalosc.protocol import Instrument
from metalosc.training import synthetic_corpus
from metalosc.training._cli import main
from metalosc.training._form import FORM_FILE, corpus_form, run_form
from mido import MidiFile

pytestmark = pytest.mark.slow


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    out = tmp_path / "corpus"
    out.mkdir()
    for index, song in enumerate(synthetic_corpus(4, seed=3, bars=8)):
        note_seq.sequence_proto_to_midi_file(song, str(out / f"song-{index}.mid"))
    return out


def test_the_corpus_is_measured_song_by_song(corpus: Path) -> None:
    form = corpus_form(corpus)
    assert len(form.songs) == 4
    low, median, high = form.quartiles["key_consistency"]
    assert 0.0 < low <= median <= high <= 1.0
    assert set(form.per_song) == set(form.songs)


def test_form_plays_the_bundles_and_writes_the_report_and_the_performances(
    tiny_bundles: dict[Instrument, Path], corpus: Path, tmp_path: Path
) -> None:
    bundles = tiny_bundles["guitar"].parent
    out = tmp_path / "form"
    report = run_form(bundles, out, corpus, tensions=(0.3, 0.9), bars=16, render=False)
    assert [p.tension for p in report.performances] == [0.3, 0.9]
    for performed in report.performances:
        assert performed.measures.bars == 16
        assert performed.sections == 2  # 8-bar sections
        midi = MidiFile(str(performed.midi))
        assert midi.length == pytest.approx(16 * 4 * 0.5, abs=0.6)  # 16 bars at 120 qpm
    written = json.loads((out / FORM_FILE).read_text())
    assert written["bars"] == 16
    assert written["corpus"]["songs"] == 4
    assert [p["tension"] for p in written["performances"]] == [0.3, 0.9]
    assert written["render"] == "disabled"
    assert set(written["performances"][0]["inside_iqr"]) == {
        "riff_repetition",
        "groove_consistency",
        "key_consistency",
        "guitar_bass_agreement",
    }


def test_form_command_prints_the_table(
    tiny_bundles: dict[Instrument, Path],
    corpus: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import structlog

    bundles = tiny_bundles["guitar"].parent
    args = ["form", str(bundles), str(tmp_path / "out"), "--corpus", str(corpus)]
    args += ["--tensions", "0.5", "--bars", "8", "--no-render"]
    try:
        assert main(args) == 0
    finally:  # main configures logging for the process; later tests configure their own
        structlog.reset_defaults()
    printed = capsys.readouterr().out
    assert "riff repetition" in printed
    assert "corpus p25" in printed
