"""A first corpus is a small one: something is always held out when it can be, a corpus too
small to evaluate is said to be before training, and `all` still exports usable bundles.

Corpora are generated (``fixtures_midi``, ``synthetic_corpus``); song names are picked so that
the hash alone would hold none of them out, the case that broke `all` on 8 Freedoom songs.
"""

from __future__ import annotations

import json
from pathlib import Path

import note_seq
import pytest
from metalosc.training._convert import (
    DEFAULT_EVAL_FRACTION,
    SongParts,
    convert_corpus,
    held_out_songs,
    is_eval_song,
    record_path,
)
from metalosc.training._midi_io import NoteSequence, read_note_sequences
from metalosc.training._split import midi_source, song_id, split_corpus

from .fixtures_midi import metal_song, write_song


def _names(count: int, *, held: bool = False) -> list[str]:
    """``count`` file names whose song ids the hash alone holds out (or does not)."""
    names: list[str] = []
    index = 0
    while len(names) < count:
        name = f"song-{index:04d}.mid"
        if is_eval_song(song_id(name, "small"), DEFAULT_EVAL_FRACTION) == held:
            names.append(name)
        index += 1
    return names


def _song(name: str, *instruments: str) -> SongParts:
    part = NoteSequence()
    parts = {i: part for i in instruments or ("guitar", "bass", "drums")}
    return SongParts(song_id(name, "small"), **parts)  # type: ignore[arg-type]


@pytest.mark.parametrize("count", [2, 3, 8])
def test_two_or_more_songs_always_have_one_held_out(count: int) -> None:
    songs = [_song(n) for n in _names(count)]
    held = held_out_songs(songs)
    assert len(held) == 1
    assert held == held_out_songs(list(reversed(songs)))  # deterministic, whatever the order
    assert len(songs) - len(held) >= 1


def test_the_hash_still_decides_when_it_holds_something_out() -> None:
    songs = [_song(n) for n in _names(6)] + [_song(n) for n in _names(1, held=True)]
    assert held_out_songs(songs) == {songs[-1].song_id}


def test_one_song_is_not_held_out() -> None:
    assert held_out_songs([_song(n) for n in _names(1)]) == set()
    # nor is the only song of an instrument, even with the fraction at 1
    assert held_out_songs([_song(n) for n in _names(1, held=True)], 1.0) == set()


def test_every_instrument_with_two_songs_gets_one_held_out_and_keeps_one_for_training() -> None:
    a, b, c, d, e = _names(5)
    songs = [_song(a, "guitar", "drums"), _song(b, "guitar", "drums"), _song(c, "guitar")]
    songs += [_song(d, "bass"), _song(e, "bass")]
    held = held_out_songs(songs)
    for instrument in ("guitar", "bass", "drums"):
        having = {s.song_id for s in songs if instrument in s.parts()}
        assert having & held, instrument
        assert having - held, instrument


def test_when_the_hash_holds_everything_out_one_song_stays_for_training() -> None:
    songs = [_song(n) for n in _names(3)]
    held = held_out_songs(songs, 1.0)
    assert len(held) == 2


def _corpus(tmp_path: Path, names: list[str]) -> Path:
    corpus = tmp_path / "small"
    for name in names:
        write_song(corpus / name, metal_song(bars=8))
    work = tmp_path / "work"
    split_corpus([midi_source(corpus, "small")], work, progress=False)
    return work


def test_convert_holds_a_song_out_of_a_corpus_the_hash_would_not(tmp_path: Path) -> None:
    work = _corpus(tmp_path, _names(3))
    summary = convert_corpus(work, count=False, progress=False)
    for instrument in ("guitar", "bass", "drums"):
        assert summary.songs[f"{instrument}-eval"] == 1
        assert summary.songs[f"{instrument}-train"] == 2
        assert list(read_note_sequences(record_path(work, instrument, "eval")))
    assert summary.evaluation_missing == {}


def test_convert_says_when_a_corpus_is_too_small_to_evaluate(tmp_path: Path) -> None:
    work = _corpus(tmp_path, _names(1))
    summary = convert_corpus(work, count=False, progress=False)
    assert summary.evaluation_missing == {
        i: f"1 song with a {i} part: too few to hold one out" for i in ("guitar", "bass", "drums")
    }
    saved = json.loads((work / "data" / "summary.json").read_text())
    assert saved["evaluation_missing"] == summary.evaluation_missing


@pytest.mark.slow
def test_all_on_one_song_warns_before_training_and_exports_bundles_marked_unevaluated(
    tmp_path: Path,
) -> None:
    from metalosc.runtime import InstrumentModel
    from metalosc.training import synthetic_corpus
    from metalosc.training._pipeline import StageResult, run_all

    corpus = tmp_path / "midi"
    corpus.mkdir()
    [song] = synthetic_corpus(1, seed=2, bars=24)
    note_seq.sequence_proto_to_midi_file(song, str(corpus / "only.mid"))
    work = tmp_path / "work"
    stages: list[tuple[str, str]] = []

    def on_stage(stage: str, status: str, result: StageResult) -> None:
        stages.append((stage, status))  # what `metalosc-train all` prints, in order

    report = run_all(corpus, work, preset_set="tiny", steps=2, progress=False, on_stage=on_stage)

    names = [name for name, _ in stages]
    assert names.index("evaluation") < names.index("train guitar")  # said before training
    assert "1 song with a guitar part: too few to hold one out" in dict(stages)["evaluation"]
    assert set(report.evaluation_missing) == {"guitar", "bass", "drums"}
    assert report.evaluation == {}
    assert json.loads((work / "eval" / "evaluation.json").read_text()) == {
        "guitar": None,
        "bass": None,
        "drums": None,
    }
    for instrument in ("guitar", "bass", "drums"):
        model = InstrumentModel.load(report.bundles[instrument])
        assert model.manifest.metrics == {"eval_examples": 0.0, "global_step": 2.0}
        model.close()
