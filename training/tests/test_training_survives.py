"""Training survives being killed mid-write and a full disk: the last good file stays good.

Rules: real processes killed with SIGKILL while they write (a TFRecord, a checkpoint); a real full
disk — a 64 KiB tmpfs mounted in a private mount namespace of the test's own (``unshare``,
util-linux; root) so the machine's mounts never change. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from metalosc.runtime import PRESETS
from metalosc.training import extract_examples, train
from metalosc.training._midi_io import NoteSequence, read_note_sequences, write_note_sequences
from metalosc.training._synthetic import instrument_part, synthetic_corpus

pytestmark = pytest.mark.slow

PRESET = PRESETS["drums-tiny"]


def _sequences(n: int, tag: str) -> list[NoteSequence]:
    out = []
    for k in range(n):
        seq = NoteSequence(id=f"{tag}-{k}")
        seq.notes.add(pitch=36 + k % 12, velocity=100, start_time=0.0, end_time=0.5)
        out.append(seq)
    return out


WRITER = """
import sys, time
from pathlib import Path
from metalosc.training._midi_io import NoteSequence, write_note_sequences

def slowly():
    for k in range(1_000_000):
        seq = NoteSequence(id=f"new-{k}")
        seq.notes.add(pitch=40, velocity=90, start_time=0.0, end_time=1.0)
        if k == 2000:
            print("writing", flush=True)
        if k > 2000:
            time.sleep(0.001)
        yield seq

write_note_sequences(Path(sys.argv[1]), slowly())
"""


def test_a_tfrecord_writer_killed_mid_write_leaves_the_old_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "train.tfrecord"
    write_note_sequences(target, _sequences(50, "old"))
    good = target.read_bytes()
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None
        # libraries may print before the script does (pyfluidsynth, imported by pretty_midi,
        # announces where it found libfluidsynth whenever CI is set)
        lines = iter(writer.stdout.readline, "")
        assert "writing" in (line.strip() for line in lines)
        temps = list(tmp_path.glob(".train.tfrecord.*.tmp"))
        assert temps, "the new file is being written beside the old one"
        deadline = time.time() + 30
        while temps[0].stat().st_size == 0 and time.time() < deadline:
            time.sleep(0.05)
        assert temps[0].stat().st_size > 0  # really mid-write: half a file on disk
        writer.send_signal(signal.SIGKILL)
        writer.wait(30)
    finally:
        writer.kill()
    assert target.read_bytes() == good
    assert [s.id for s in read_note_sequences(target)] == [f"old-{k}" for k in range(50)]
    # the next write replaces it and clears what the killed writer left
    assert write_note_sequences(target, _sequences(3, "next")) == 3
    assert [s.id for s in read_note_sequences(target)] == ["next-0", "next-1", "next-2"]
    assert list(tmp_path.glob(".*.tmp")) == []


FULL_DISK = """
import errno, json, sys
from pathlib import Path
from metalosc.training._midi_io import NoteSequence, read_note_sequences, write_note_sequences

def sequences(n, tag):
    for k in range(n):
        seq = NoteSequence(id=f"{tag}-{k}")
        seq.notes.add(pitch=40, velocity=90, start_time=0.0, end_time=1.0)
        yield seq

target = Path(sys.argv[1]) / "train.tfrecord"
write_note_sequences(target, sequences(20, "old"))
try:
    write_note_sequences(target, sequences(20_000, "new"))  # far more than 64 KiB
    error = None
except OSError as exc:
    error = errno.errorcode.get(exc.errno or 0, str(exc))
print(json.dumps({
    "error": error,
    "kept": [s.id for s in read_note_sequences(target)],
    "left": sorted(p.name for p in target.parent.iterdir()),
}))
"""


@pytest.mark.requires_tools("unshare")
def test_a_full_disk_fails_the_write_and_keeps_the_old_file(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("mounting a small tmpfs needs root (run the tests as root)")
    disk = tmp_path / "disk"
    disk.mkdir()
    script = (
        f"mount -t tmpfs -o size=64k metalosc-full {disk} && "
        f"exec {sys.executable} -c '{FULL_DISK}' {disk}"
    )
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["error"] == "ENOSPC"
    assert result["kept"] == [f"old-{k}" for k in range(20)]
    assert result["left"] == ["train.tfrecord"]  # no half-written temporary file either


TRAINER = """
import sys
from pathlib import Path
from metalosc.runtime import PRESETS
from metalosc.training import extract_examples, train
from metalosc.training._synthetic import instrument_part, synthetic_corpus

preset = PRESETS["drums-tiny"]
songs = synthetic_corpus(6, seed=2, bars=6)
examples = extract_examples([instrument_part(s, "drums") for s in songs], preset.build_config())
train(Path(sys.argv[1]), preset, examples, steps=100_000, checkpoint_every=1, progress=False)
"""


def test_training_killed_while_it_checkpoints_resumes_from_its_last_good_checkpoint(
    tmp_path: Path,
) -> None:
    """A checkpoint after every step, so the kill lands in or near a save; the latest checkpoint
    must load whole, and a rerun go on from it."""
    import tensorflow as tf

    run = tmp_path / "run"
    trainer = subprocess.Popen(
        [sys.executable, "-c", TRAINER, str(run)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    mid_save = False
    try:
        deadline = time.time() + 240
        while time.time() < deadline:
            latest = tf.train.latest_checkpoint(str(run)) if run.is_dir() else None
            if latest is not None and int(latest.rsplit("-", 1)[1]) >= 3:
                break
            time.sleep(0.05)
        else:
            pytest.fail("no third checkpoint within 240 s")
        deadline = time.time() + 10
        while time.time() < deadline and not mid_save:  # wait for a save in progress
            mid_save = any("_temp" in p.name for p in run.iterdir())
        trainer.send_signal(signal.SIGKILL)
        trainer.wait(30)
    finally:
        trainer.kill()
    latest = tf.train.latest_checkpoint(str(run))
    assert latest is not None
    step = int(tf.train.load_variable(latest, "global_step"))
    reader = tf.compat.v1.train.NewCheckpointReader(latest)
    assert all(reader.get_tensor(name) is not None for name in reader.get_variable_to_shape_map())
    songs = synthetic_corpus(6, seed=2, bars=6)
    examples = extract_examples([instrument_part(s, "drums") for s in songs], PRESET.build_config())
    resumed = train(run, PRESET, examples, steps=step + 2, checkpoint_every=1, progress=False)
    assert (resumed.start_step, resumed.global_step) == (step, step + 2)


TRAIN_ON_SMALL_DISK = """
import json, os, shutil, subprocess, sys, time
from pathlib import Path

disk, out = Path(sys.argv[1]), Path(sys.argv[2])
run = disk / "run"
trainer = subprocess.Popen(
    [sys.executable, "-c", sys.argv[3], str(run)],
    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
)

def steps_saved():
    state = run / "checkpoint"
    return state.read_text().count("all_model_checkpoint_paths") if state.is_file() else 0

deadline = time.time() + 240
while steps_saved() < 2 and trainer.poll() is None and time.time() < deadline:
    time.sleep(0.05)
saved_before = steps_saved()
ballast = os.open(disk / "ballast", os.O_WRONLY | os.O_CREAT)  # the disk fills up meanwhile
try:
    while True:
        os.write(ballast, bytes(65536))
except OSError:
    pass
os.close(ballast)
try:
    trainer.wait(300)
    code, err = trainer.returncode, trainer.stderr.read()
except subprocess.TimeoutExpired:
    trainer.kill()
    code, err = None, ""
shutil.copytree(run, out / "run", ignore=shutil.ignore_patterns("events.*"))
print(json.dumps({
    "saved_before": saved_before,
    "exit": code,
    "no_space": "No space left on device" in err or "ENOSPC" in err,
}))
"""


@pytest.mark.requires_tools("unshare")
def test_training_on_a_disk_that_fills_fails_and_keeps_its_last_good_checkpoint(
    tmp_path: Path,
) -> None:
    """Training runs on a tmpfs of its own; once two checkpoints are saved the disk is filled.
    The trainer must stop with an error naming the full disk, and its latest checkpoint (copied
    out of the namespace) load whole and resume."""
    if os.geteuid() != 0:
        pytest.fail("mounting a tmpfs needs root (run the tests as root)")
    import tensorflow as tf

    disk, out = tmp_path / "disk", tmp_path / "out"
    disk.mkdir()
    out.mkdir()
    script = (
        f"mount -t tmpfs -o size=128m metalosc-filling {disk} && "
        f'exec {sys.executable} -c "$0" {disk} {out} "$1"'
    )
    scripts = [TRAIN_ON_SMALL_DISK, TRAINER]  # sh's $0 and $1
    done = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, *scripts],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "1"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["saved_before"] >= 2
    assert result["exit"] not in (None, 0)  # it stopped, with an error...
    assert result["no_space"]  # ...that names the cause
    # back where it was written: TF's checkpoint state file names checkpoints by absolute path
    run = disk / "run"
    (out / "run").rename(run)
    latest = tf.train.latest_checkpoint(str(run))
    assert latest is not None
    step = int(tf.train.load_variable(latest, "global_step"))
    assert step >= 1
    reader = tf.compat.v1.train.NewCheckpointReader(latest)
    assert all(reader.get_tensor(name) is not None for name in reader.get_variable_to_shape_map())
    songs = synthetic_corpus(6, seed=2, bars=6)
    examples = extract_examples([instrument_part(s, "drums") for s in songs], PRESET.build_config())
    resumed = train(run, PRESET, examples, steps=step + 2, checkpoint_every=1, progress=False)
    assert (resumed.start_step, resumed.global_step) == (step, step + 2)
