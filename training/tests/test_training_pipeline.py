"""`metalosc-train`: --help of every command, and `all` end to end on a generated corpus."""

from __future__ import annotations

from pathlib import Path

import pytest
from metalosc.training._cli import build_parser, main

COMMANDS = ("split", "convert", "train", "evaluate", "export", "attributes", "generate", "all")


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for command in COMMANDS:
        assert command in out


@pytest.mark.parametrize("command", COMMANDS)
def test_each_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    assert f"metalosc-train {command}" in capsys.readouterr().out


def test_bad_arguments_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["generate", "b", "o", "--tension", "2"])
    assert info.value.code == 2
    assert "within 0..1" in capsys.readouterr().err


def test_missing_training_data_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["train", str(tmp_path), "--instrument", "drums", "--preset", "drums-tiny"])
    assert code == 1
    assert "run `metalosc-train convert` first" in capsys.readouterr().err


@pytest.mark.slow
def test_all_then_generate_end_to_end(tmp_path: Path) -> None:
    import note_seq
    import pretty_midi
    from metalosc.runtime import InstrumentModel, get_preset
    from metalosc.training import synthetic_corpus
    from metalosc.training._pipeline import run_all

    corpus = tmp_path / "midi"
    corpus.mkdir()
    for song in synthetic_corpus(10, seed=1, bars=12):
        note_seq.sequence_proto_to_midi_file(song, str(corpus / f"{song.id}.mid"))
    work = tmp_path / "work"
    args = ["all", str(corpus), str(work), "--preset-set", "tiny"]  # each preset's steps
    assert main([*args, "--checkpoint-every", "5"]) == 0

    for instrument in ("guitar", "bass", "drums"):
        model = InstrumentModel.load(work / "bundles" / instrument)
        assert model.manifest.preset == f"{instrument}-tiny"
        assert model.manifest.metrics["global_step"] == get_preset(f"{instrument}-tiny").steps
        assert 0.0 <= model.manifest.metrics["sampled_accuracy"] <= 1.0
        assert model.manifest.data_fingerprint.startswith("sha256:")
        model.close()

    for instrument in ("guitar", "bass", "drums"):
        assert list((work / "train" / instrument).glob("events.out.tfevents.*"))
        assert list((work / "eval" / instrument).glob("events.out.tfevents.*"))

    # A second run finds every stage up to date, the steps named or not.
    report = run_all(corpus, work, preset_set="tiny", progress=False)
    assert set(report.stages.values()) == {"up to date"}
    report = run_all(corpus, work, preset_set="tiny", steps=10, progress=False)
    assert set(report.stages.values()) == {"up to date"}
    assert len(report.stages) == 9

    out = tmp_path / "generated"
    gen = ["generate", str(work / "bundles"), str(out), "--count", "2", "--bars", "4"]
    assert main([*gen, "--tension", "0.8", "--seed", "3"]) == 0
    files = sorted(out.glob("*.mid"))
    assert len(files) == 2
    midi = pretty_midi.PrettyMIDI(str(files[0]))
    by_kind = {("drums" if i.is_drum else i.program): i for i in midi.instruments}
    assert set(by_kind) == {30, 33, "drums"}
    assert midi.get_end_time() <= 8.0 + 1e-6  # 4 bars at 120 qpm
