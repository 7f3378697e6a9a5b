"""The drums' fill attribute vector: labels, the vector, export, and `metalosc-train attributes`.

Every drum file here is generated (a rock beat; a fill: a bar of beat, then a bar of toms into a
crash) and named like the Groove MIDI Dataset's files; no third-party MIDI is read or copied.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pytest
from metalosc.protocol import (
    ATTRIBUTES_FILE,
    FILL_ATTRIBUTE,
    MANIFEST_FILE,
    TENSION_ATTRIBUTE,
    Instrument,
    check_model_bundle,
    load_manifest,
)
from metalosc.runtime import BEATS_PER_BAR, get_preset
from metalosc.training._fill import (
    LabelledWindows,
    files_with_examples,
    groove_beat_type,
    groove_windows,
    is_fill_metric,
    label_windows,
    tom_share,
)

from .fixtures_midi import DRUM_CHANNEL, Note, Song, Track, drum_beat, note_sequence, write_song

KICK, SNARE, CRASH = 36, 38, 49
TOMS = (50, 48, 45)  # high, mid, low


def drum_fill(bars: int = 2, variant: int = 0) -> list[Note]:
    """`bars` - 1 bars of rock beat, then a bar of sixteenth toms rolling down, into a crash
    on the next downbeat (the last bar's first sixteenth is the variant's offset)."""
    notes = drum_beat(bars - 1)
    start = (bars - 1) * BEATS_PER_BAR
    for sixteenth in range(variant % 4, 16):
        onset = start + sixteenth * 0.25
        notes.append(Note(TOMS[sixteenth * 3 // 16], onset, onset + 0.25))
    notes.append(Note(CRASH, bars * BEATS_PER_BAR - 0.25, bars * BEATS_PER_BAR))
    return notes


def drum_groove(bars: int = 2, variant: int = 0) -> list[Note]:
    """A rock beat with an extra kick on an off-beat of the first bar that depends on the
    variant (so beats are not all alike)."""
    extra = 1.5 + variant % 3
    return [*drum_beat(bars), Note(KICK, extra, extra + 0.25)]


def groove_name(index: int, style: str, label: str, signature: str = "4-4") -> str:
    return f"drummer1/session1/{index}_{style}_120_{label}_{signature}.mid"


def window(notes: list[Note], filename: str):
    seq = note_sequence(notes, is_drum=True, instrument=DRUM_CHANNEL)
    seq.filename = filename
    seq.id = filename
    return seq


def labelled_set(n: int = 10) -> LabelledWindows:
    """`n` 2-bar fills and `n` 2-bar beats: each yields exactly one 2-bar example."""
    return LabelledWindows(
        fill=tuple(window(drum_fill(2, i), groove_name(i, "rock", "fill")) for i in range(n)),
        beat=tuple(
            window(drum_groove(2, i), groove_name(100 + i, "rock", "beat")) for i in range(n)
        ),
    )


def make_groove(root: Path, *, fills: int = 10, beats: int = 10) -> Path:
    """A Groove-like directory: info.csv and generated drum files (rock fills and beats, plus a
    funk beat, a 1-bar punk fill that yields no 2-bar example, and a 3/4 rock fill)."""
    rows = []
    for i in range(fills):
        rows.append(("rock", "fill", "4-4", groove_name(i, "rock", "fill"), drum_fill(2, i)))
    for i in range(beats):
        rows.append(
            ("rock", "beat", "4-4", groove_name(100 + i, "rock", "beat"), drum_groove(4, i))
        )
    rows.append(("funk", "beat", "4-4", groove_name(200, "funk", "beat"), drum_groove(4)))
    rows.append(("punk", "fill", "4-4", groove_name(201, "punk", "fill"), drum_fill(1)))
    rows.append(("rock", "fill", "3-4", groove_name(202, "rock", "fill", "3-4"), drum_fill(2)))
    lines = ["drummer,style,beat_type,time_signature,midi_filename"]
    for style, label, signature, name, notes in rows:
        lines.append(f"drummer1,{style},{label},{signature},{name}")
        write_song(root / name, Song(tracks=[Track(notes, name="Drums", channel=DRUM_CHANNEL)]))
    (root / "info.csv").write_text("\n".join(lines) + "\n")
    return root


# -- labels and measures (no model) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "label"),
    [
        ("drummer1/session1/203_rock-halftime_140_fill_4-4.mid", "fill"),
        ("drummer7/eval_session/1_funk-groove1_138_beat_4-4.mid", "beat"),
        ("12_punk_180_FILL_4-4.MID", "fill"),
        ("d1.mid", None),  # another corpus: unlabelled
        ("songs/my_fill_song.mid", None),  # "fill" in a name is not a Groove label
        ("", None),
    ],
)
def test_groove_beat_type_reads_groove_file_names(filename: str, label: str | None) -> None:
    assert groove_beat_type(filename) == label


def test_label_windows_keeps_only_groove_windows() -> None:
    windows = [
        window(drum_fill(), groove_name(1, "rock", "fill")),
        window(drum_groove(), groove_name(2, "rock", "beat")),
        window(drum_groove(), groove_name(3, "rock", "beat")),
        window(drum_groove(), "freedoom/e1m1.mid"),
    ]
    labelled = label_windows(windows)
    assert [w.filename for w in labelled.fill] == [groove_name(1, "rock", "fill")]
    assert len(labelled.beat) == 2
    assert len(labelled) == 3
    assert len(label_windows([windows[-1]])) == 0


def test_tom_share_counts_hits_on_the_toms() -> None:
    fill = note_sequence(drum_fill(2), is_drum=True)
    assert tom_share(fill) == pytest.approx(16 / len(fill.notes))
    assert tom_share(note_sequence(drum_beat(2), is_drum=True)) == 0.0
    assert tom_share(note_sequence([], is_drum=True)) == 0.0


def test_fill_metrics_are_recognised() -> None:
    assert all(is_fill_metric(k) for k in ("fill_examples", "beat_examples", "fill_vector_norm"))
    assert is_fill_metric("fill_tom_share_k1.5")
    assert not is_fill_metric("global_step")


def test_groove_windows_take_the_styles_and_labels_of_info_csv(tmp_path: Path) -> None:
    groove = make_groove(tmp_path / "groove")
    windows = groove_windows(groove)  # rock, punk, metal in 4/4
    assert windows.files("fill") == 11  # ten 2-bar rock fills and the 1-bar punk fill
    assert windows.files("beat") == 10  # the funk beat is not taken
    assert all(groove_beat_type(w.filename) == "fill" for w in windows.fill)
    assert all(w.collection_name == "groove" for w in windows.fill + windows.beat)
    # The 2-bar converter takes nothing from the 1-bar fill.
    config = get_preset("drums-tiny").build_config()
    assert files_with_examples(windows.fill, config) == 10
    assert groove_windows(groove, ["funk"]).files("beat") == 1


# -- the vector, export and the attributes command (tiny models) --------------------------------


@pytest.mark.slow
def test_fill_vector_is_mean_fill_latent_minus_mean_beat_latent(
    tiny_bundles: dict[Instrument, Path],
) -> None:
    from metalosc.runtime import InstrumentModel
    from metalosc.training._fill import fill_vector, labelled_examples

    windows = labelled_set(10)
    model = InstrumentModel.load(tiny_bundles["drums"])
    try:
        examples = labelled_examples(windows, get_preset("drums-tiny").build_config())
        assert (len(examples.fill), len(examples.beat)) == (10, 10)
        result = fill_vector(model.session, examples.fill, examples.beat)
        # Independently: every hand-made phrase encoded on its own.
        expected = model.encode(windows.fill).mean(axis=0) - model.encode(windows.beat).mean(axis=0)
        np.testing.assert_allclose(result.vector, expected, rtol=1e-4, atol=1e-5)
        assert result.vector.dtype == np.float32
        assert (result.fill_examples, result.beat_examples) == (10, 10)
        assert result.metrics()["fill_vector_norm"] == pytest.approx(np.linalg.norm(expected))
        # A sample of at most max_examples per class, deterministic.
        capped = fill_vector(model.session, examples.fill, examples.beat, max_examples=8)
        assert (capped.fill_examples, capped.fill_available) == (8, 10)
        again = fill_vector(model.session, examples.fill, examples.beat, max_examples=8)
        np.testing.assert_array_equal(capped.vector, again.vector)
        with pytest.raises(ValueError, match="at least 8 fill examples"):
            fill_vector(model.session, examples.fill.subset(np.arange(3)), examples.beat)
    finally:
        model.close()


def run_attributes(argv: list[str]) -> int:
    """`metalosc-train attributes …` without `main`, which would configure logging."""
    from metalosc.training._cli import attributes_command, build_parser

    return attributes_command(build_parser().parse_args(argv))


def _attribute_bytes(bundle: Path) -> dict[str, bytes]:
    with np.load(bundle / ATTRIBUTES_FILE) as archive:
        return {key: archive[key].tobytes() for key in archive.files}


@pytest.mark.slow
def test_attributes_command_adds_the_fill_vector_and_keeps_the_tension(
    bundle_copy, tmp_path: Path
) -> None:
    from metalosc.runtime import InstrumentModel
    from metalosc.training._attributes import write_attributes

    bundle = bundle_copy("drums")
    # An extra array a later tool might have added survives the rewrite too.
    with np.load(bundle / ATTRIBUTES_FILE) as archive:
        tension = archive[TENSION_ATTRIBUTE]
    write_attributes(bundle, {TENSION_ATTRIBUTE: tension, "extra": np.arange(3, dtype=np.int16)})
    before = _attribute_bytes(bundle)
    groove = make_groove(tmp_path / "groove")

    args = ["attributes", str(bundle), "--groove", str(groove), "--samples", "16"]
    assert run_attributes(args) == 0

    after = _attribute_bytes(bundle)
    assert after[TENSION_ATTRIBUTE] == before[TENSION_ATTRIBUTE]  # bit-identical
    assert after["extra"] == before["extra"]
    manifest = load_manifest(bundle)
    check_model_bundle(bundle, manifest)
    metrics = manifest.metrics
    assert metrics["fill_examples"] == 10
    # Each 4-bar beat file: 2 distinct 2-bar slices (the converter drops repeats).
    assert metrics["beat_examples"] == 20
    assert set(metrics) >= {f"fill_tom_share_k{k}" for k in ("0", "0.5", "1", "1.5")}
    assert metrics["global_step"] > 0  # the other metrics stay
    assert (bundle / ATTRIBUTES_FILE).stat().st_mode & 0o777 == 0o644
    assert not [p.name for p in bundle.iterdir() if p.name.startswith(".")]

    model = InstrumentModel.load(bundle)
    try:
        assert model.fill_vector.shape == (model.z_size,)
        assert np.linalg.norm(model.fill_vector) == pytest.approx(metrics["fill_vector_norm"])
        np.testing.assert_array_equal(model.fill_vector, model.attributes[FILL_ATTRIBUTE])
    finally:
        model.close()

    # Rerun without the response: the fill figures are replaced, not merged with stale ones.
    assert run_attributes([*args[:-2], "--samples", "0", "--style", "rock"]) == 0
    metrics = load_manifest(bundle).metrics
    assert not any(k.startswith("fill_tom_share_k") for k in metrics)
    assert metrics["fill_examples"] == 10
    assert _attribute_bytes(bundle)[TENSION_ATTRIBUTE] == before[TENSION_ATTRIBUTE]


@pytest.mark.slow
def test_a_failed_rewrite_leaves_the_old_attributes(
    bundle_copy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from metalosc.training import _attributes
    from metalosc.training._attributes import update_fill_vector

    bundle = bundle_copy("drums")
    old_attributes = (bundle / ATTRIBUTES_FILE).read_bytes()
    old_manifest = (bundle / MANIFEST_FILE).read_bytes()
    old_files = sorted(os.listdir(bundle))
    windows = groove_windows(make_groove(tmp_path / "groove"))

    def crash_midway(file: BinaryIO, **arrays: object) -> None:
        file.write(b"PK\x03\x04 half an archive")
        raise OSError("disk full")

    monkeypatch.setattr(_attributes.np, "savez", crash_midway)
    with pytest.raises(OSError, match="disk full"):
        update_fill_vector(bundle, windows, samples=0)
    monkeypatch.undo()
    assert (bundle / ATTRIBUTES_FILE).read_bytes() == old_attributes
    assert (bundle / MANIFEST_FILE).read_bytes() == old_manifest
    assert sorted(os.listdir(bundle)) == old_files  # no temp file left behind

    # Refused before anything is written: too few fills, and a bundle that is not drums.
    too_few = LabelledWindows(fill=windows.fill[:3], beat=windows.beat)
    with pytest.raises(ValueError, match="fill examples"):
        update_fill_vector(bundle, too_few, samples=0)
    assert (bundle / ATTRIBUTES_FILE).read_bytes() == old_attributes
    guitar = bundle_copy("guitar")
    guitar_attributes = (guitar / ATTRIBUTES_FILE).read_bytes()
    with pytest.raises(ValueError, match="drums attribute"):
        update_fill_vector(guitar, windows, samples=0)
    assert (guitar / ATTRIBUTES_FILE).read_bytes() == guitar_attributes


def test_attributes_command_errors_are_exit_status_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import structlog
    from metalosc.training._cli import main

    # main configures structlog onto pytest's captured stderr, closed after this test: undo it.
    # (Module loggers first used inside main would stay bound to it; this run fails before
    # using any.)
    try:
        code = main(["attributes", str(tmp_path), "--groove", str(tmp_path / "nowhere")])
    finally:
        structlog.reset_defaults()
    assert code == 1
    assert "info.csv not found" in capsys.readouterr().err


@pytest.mark.slow
def test_a_broken_bundle_is_named_and_left_alone(bundle_copy, tmp_path: Path) -> None:
    from metalosc.protocol import ModelBundleError
    from metalosc.training._attributes import update_fill_vector

    bundle = bundle_copy("drums")
    (bundle / ATTRIBUTES_FILE).write_bytes(b"PK\x03\x04broken")
    windows = groove_windows(make_groove(tmp_path / "groove"))
    with pytest.raises(ModelBundleError, match=r"attributes\.npz"):
        update_fill_vector(bundle, windows, samples=0)
    assert (bundle / ATTRIBUTES_FILE).read_bytes() == b"PK\x03\x04broken"


def _fake_work(work: Path, bundle: Path, windows: list) -> None:
    """A work directory as `train` and `convert` leave it, from a tiny drums bundle (whose
    weights-only checkpoint keeps global_step, so it restores as a training checkpoint)."""
    from metalosc.training._convert import record_path
    from metalosc.training._midi_io import write_note_sequences

    train = work / "train" / "drums"
    train.mkdir(parents=True)
    for path in bundle.glob("model.ckpt.*"):
        shutil.copy(path, train / path.name)
    (train / "checkpoint").write_text('model_checkpoint_path: "model.ckpt"\n')
    (train / "run.json").write_text(json.dumps({"preset": "drums-tiny"}))
    write_note_sequences(record_path(work, "drums", "train"), windows[::2])
    write_note_sequences(record_path(work, "drums", "eval"), windows[1::2])


@pytest.mark.slow
def test_export_writes_the_fill_vector_only_with_labels(
    tiny_bundles: dict[Instrument, Path], tmp_path: Path
) -> None:
    from metalosc.runtime import InstrumentModel
    from metalosc.training._pipeline import export_stage

    labelled = labelled_set(10)
    # Train and eval records both hold labelled windows (the eval ones count too).
    _fake_work(tmp_path / "labelled", tiny_bundles["drums"], [*labelled.fill, *labelled.beat])
    bundle = export_stage(tmp_path / "labelled", "drums", metrics={})
    model = InstrumentModel.load(bundle)
    try:
        assert FILL_ATTRIBUTE in model.attributes
        assert np.linalg.norm(model.fill_vector) > 0
        assert model.manifest.metrics["fill_examples"] == 10
        assert model.manifest.metrics["beat_examples"] == 10
        assert "fill_tom_share_k1.5" in model.manifest.metrics
    finally:
        model.close()

    # The same windows without Groove names: no labels, no fill vector, a valid bundle.
    plain = [window(drum_groove(2, i), f"songs/{i}.mid") for i in range(10)]
    _fake_work(tmp_path / "plain", tiny_bundles["drums"], plain)
    bundle = export_stage(tmp_path / "plain", "drums", metrics={})
    model = InstrumentModel.load(bundle)
    try:
        assert set(model.attributes) == {TENSION_ATTRIBUTE}
        np.testing.assert_array_equal(model.fill_vector, np.zeros(model.z_size, np.float32))
        assert not any(is_fill_metric(k) for k in model.manifest.metrics)
    finally:
        model.close()

    # Labels, but too few fills for a vector: none either.
    few = [*labelled.fill[:3], *labelled.beat]
    _fake_work(tmp_path / "few", tiny_bundles["drums"], few)
    with np.load(export_stage(tmp_path / "few", "drums", metrics={}) / ATTRIBUTES_FILE) as npz:
        assert npz.files == [TENSION_ATTRIBUTE]
