"""Convert stage: held-out split, root reduction, bass chords, windows and augmentation.

Rules of this suite: inputs are built in code (``fixtures_midi``). Claims about what Magenta
accepts are checked with Magenta's own converters (``magenta.models.music_vae.data``), never
restated by hand; those tests are marked slow because importing Magenta's models costs seconds.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from metalosc.runtime import stock_converter
from metalosc.training._convert import (
    CHORD_SYMBOL,
    SongParts,
    convert_corpus,
    convert_song,
    count_examples,
    is_eval_song,
    is_transposed,
    normalize_programs,
    record_path,
    reduce_to_roots,
    render_convert_summary,
    song_windows,
)
from metalosc.training._midi_io import read_note_sequences
from metalosc.training._split import midi_source, split_corpus, split_midi
from note_seq.chord_symbols_lib import chord_symbol_root

from .fixtures_midi import (
    Song,
    Track,
    bass_line,
    metal_song,
    midi_bytes,
    note_sequence,
    power_chord_riff,
    write_song,
)


def _song_parts(song: Song, name: str = "song.mid") -> SongParts:
    split = split_midi(midi_bytes(song), name, "test")
    return SongParts(split.song_id, **split.sequences)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def music_vae_data() -> Any:
    from magenta.models.music_vae import data

    return data


def test_eval_assignment_is_deterministic_and_near_the_fraction() -> None:
    ids = [f"/id/midi/test/{i:04d}" for i in range(2000)]
    first = [is_eval_song(i, 0.1) for i in ids]
    assert first == [is_eval_song(i, 0.1) for i in ids]
    assert 0.08 < sum(first) / len(ids) < 0.12
    assert not any(is_eval_song(i, 0.0) for i in ids)
    assert all(is_eval_song(i, 1.0) for i in ids)
    with pytest.raises(ValueError, match="eval_fraction"):
        is_eval_song("x", 1.5)


def test_reduce_to_roots_turns_power_chords_into_their_root_line() -> None:
    riff = note_sequence(power_chord_riff(root=40, bars=2), program=30)
    reduced = reduce_to_roots(riff)

    onsets = Counter(round(n.start_time, 6) for n in reduced.notes)
    assert set(onsets.values()) == {1}  # one note per onset: monophonic
    assert len(reduced.notes) == 16
    assert {n.pitch for n in reduced.notes} == {40, 43, 45}  # the roots, not fifths/octaves
    assert len(riff.notes) == 48  # the input is untouched


def test_reduce_to_roots_groups_humanised_chords_and_keeps_tracks_apart() -> None:
    seq = note_sequence([], qpm=120)
    # a chord whose notes start 10 ms apart, on track 0; the same onset on track 1 is kept
    seq.notes.add(pitch=52, start_time=0.01, end_time=0.5, instrument=0, velocity=90)
    seq.notes.add(pitch=40, start_time=0.0, end_time=0.5, instrument=0, velocity=90)
    seq.notes.add(pitch=47, start_time=0.0, end_time=0.5, instrument=1, velocity=90)
    reduced = reduce_to_roots(seq)
    assert sorted((n.instrument, n.pitch) for n in reduced.notes) == [(0, 40), (1, 47)]


@pytest.mark.slow
def test_only_the_reduced_riff_survives_skip_polyphony(music_vae_data: Any) -> None:
    converter = music_vae_data.OneHotMelodyConverter(
        valid_programs=music_vae_data.MEL_PROGRAMS,
        skip_polyphony=True,
        max_bars=100,
        slice_bars=2,
        steps_per_quarter=4,
    )
    riff = note_sequence(power_chord_riff(root=40, bars=4), program=30)

    unreduced = count_examples([riff], converter)
    reduced = count_examples([reduce_to_roots(riff)], converter)

    assert unreduced.examples == 0
    # 2-bar windows start at bars 0, 1, 2; the riff repeats every 2 bars, and the converter
    # keeps distinct windows only: 2 examples
    assert reduced.examples == 2


@pytest.mark.slow
def test_stock_guitar_converter_learns_roots_only_after_reduction() -> None:
    converter = stock_converter("guitar")  # cat-mel_2bar_big: keeps the top note of a chord
    riff = note_sequence(power_chord_riff(root=40, bars=2), program=30)

    def pitches(seq: Any) -> set[int]:
        tensors = converter.to_tensors(seq)
        decoded = converter.from_tensors(tensors.outputs)
        return {n.pitch for s in decoded for n in s.notes}

    assert pitches(reduce_to_roots(riff)) == {40, 43, 45}
    assert pitches(riff) == {52, 55, 57}


def test_normalize_programs_moves_name_classified_tracks_into_their_family() -> None:
    bass = note_sequence(bass_line(bars=1), program=0)
    assert {n.program for n in normalize_programs(bass, "bass").notes} == {33}
    guitar = note_sequence(power_chord_riff(bars=1), program=34)
    assert {n.program for n in normalize_programs(guitar, "guitar").notes} == {30}
    kept = note_sequence(power_chord_riff(bars=1), program=27)
    assert {n.program for n in normalize_programs(kept, "guitar").notes} == {27}


def test_song_windows_hop_and_restart_at_tempo_changes() -> None:
    seq = note_sequence([], qpm=120)  # 2 s per bar
    assert song_windows(seq, 24.0) == [(0.0, 12.0), (10.0, 22.0), (20.0, 24.0)]
    seq.tempos.add(time=8.0, qpm=240.0)  # 1 s per bar from 8 s
    seq.tempos.add(time=9.0, qpm=240.0)  # restating the tempo changes nothing
    assert song_windows(seq, 20.0) == [(0.0, 8.0), (8.0, 14.0), (13.0, 19.0), (18.0, 20.0)]


def test_convert_song_augments_guitar_and_bass_in_train_only() -> None:
    song = _song_parts(metal_song(bars=8))
    train = convert_song(song, train=True, transpositions=(-2, 3))
    evaluation = convert_song(song, train=False, transpositions=(-2, 3))

    windows = 2  # 8 bars: windows at bars 0 and 5
    assert len(evaluation["guitar"]) == len(evaluation["bass"]) == windows
    assert len(evaluation["drums"]) == windows
    assert len(train["guitar"]) == len(train["bass"]) == windows * 3
    assert len(train["drums"]) == windows
    assert all(w.id.startswith(song.song_id + "#") for ws in train.values() for w in ws)
    assert [is_transposed(w.id) for w in train["guitar"][:3]] == [False, True, True]
    original, down, up = train["guitar"][:3]
    assert [n.pitch - 2 for n in original.notes] == [n.pitch for n in down.notes]
    assert [n.pitch + 3 for n in original.notes] == [n.pitch for n in up.notes]
    assert all(not is_transposed(w.id) for ws in evaluation.values() for w in ws)


def test_bass_windows_carry_chords_inferred_with_the_guitar() -> None:
    song = _song_parts(metal_song(bars=8))
    bass = convert_song(song, train=True, transpositions=(2,))["bass"]

    for window in bass:
        chords = [a for a in window.text_annotations if a.annotation_type == CHORD_SYMBOL]
        assert chords, window.id
        assert chords[0].time == 0.0
        assert {n.program for n in window.notes} == {33}
    first = [a.text for a in bass[0].text_annotations if a.annotation_type == CHORD_SYMBOL]
    moved = [a.text for a in bass[1].text_annotations if a.annotation_type == CHORD_SYMBOL]
    assert chord_symbol_root(first[0]) == 4  # E: the riff starts on an E power chord
    assert [(chord_symbol_root(c) - 2) % 12 for c in moved] == [
        chord_symbol_root(c) for c in first
    ]  # chords are transposed with the notes


@pytest.mark.slow
def test_bass_windows_yield_chord_controls_from_the_med_chords_converter() -> None:
    song = Song(
        tracks=[
            Track(power_chord_riff(bars=6), program=30),
            Track(bass_line(bars=6), program=0, name="Bass"),  # named, no program set
        ]
    )
    windows = convert_song(_song_parts(song), train=False)["bass"]
    converter = stock_converter("bass")

    tensors = converter.to_tensors(windows[0])
    assert len(tensors.inputs) == 2  # the 2-bar riff repeats: 2 distinct windows
    assert converter.control_depth == 49
    assert all(c.shape == (32, 49) for c in tensors.controls)
    assert (
        count_examples(windows, converter).with_controls
        == count_examples(windows, converter).examples
    )


def test_convert_corpus_holds_out_whole_songs_deterministically(tmp_path: Path) -> None:
    corpus = tmp_path / "midi"
    for i in range(12):
        song = metal_song(bars=6 + i % 3, qpm=100 + 10 * i)
        if i % 4:  # bass (and its ~1 s chord inference) in 3 songs only, to keep this fast
            song = Song(tracks=[t for t in song.tracks if t.program != 33], tempos=song.tempos)
        write_song(corpus / f"song{i:02d}.mid", song)
    out = tmp_path / "out"
    split_corpus([midi_source(corpus, "test")], out, progress=False)

    summary = convert_corpus(out, eval_fraction=0.3, transpositions=(1,), count=False)

    for instrument in ("guitar", "drums"):
        sides = {
            split: {
                w.id.split("#")[0] for w in read_note_sequences(record_path(out, instrument, split))
            }
            for split in ("train", "eval")
        }
        assert sides["train"]
        assert sides["eval"]
        assert not sides["train"] & sides["eval"]
        assert len(sides["train"] | sides["eval"]) == 12
        assert summary.songs[f"{instrument}-eval"] == len(sides["eval"])
    bass_songs = {
        w.id.split("#")[0]
        for split in ("train", "eval")
        for w in read_note_sequences(record_path(out, "bass", split))
    }
    assert len(bass_songs) == 3
    first = {p.name: p.read_bytes() for p in (out / "data").glob("*.tfrecord")}
    convert_corpus(out, eval_fraction=0.3, transpositions=(1,), count=False)
    assert {p.name: p.read_bytes() for p in (out / "data").glob("*.tfrecord")} == first
    assert (out / "data" / "summary.json").is_file()


@pytest.mark.slow
def test_convert_corpus_counts_examples_with_magenta_converters(tmp_path: Path) -> None:
    corpus = tmp_path / "midi"
    for i in range(3):
        write_song(corpus / f"song{i}.mid", metal_song(bars=7))
    out = tmp_path / "out"
    split_corpus([midi_source(corpus, "test")], out, progress=False)

    summary = convert_corpus(out, eval_fraction=0.0, transpositions=(-1, 1), progress=False)

    for instrument in ("guitar", "bass", "drums"):
        plain = summary.examples[f"{instrument}-train-unaugmented"]
        assert plain.examples > 0
        factor = 1 if instrument == "drums" else 3
        assert summary.examples[f"{instrument}-train"].examples == plain.examples * factor
    assert summary.examples["bass-train"].with_controls == summary.examples["bass-train"].examples
    assert render_convert_summary(summary).row_count == 9


def test_bass_without_guitar_gets_chords_from_the_bass_alone() -> None:
    song = Song(tracks=[Track(bass_line(bars=4), program=34)])
    (window,) = convert_song(_song_parts(song), train=False)["bass"]
    chords = [a.text for a in window.text_annotations if a.annotation_type == CHORD_SYMBOL]
    assert chords
    assert "N.C." not in chords  # a lone bass line still names a harmony in every bar
