"""Hearing the daemon: ``metalosc listen --wav`` against a live daemon, and ``metalosc render``.

Rules: the real ``metalosc`` command in a subprocess, the real FluidSynth and General MIDI
soundfont, MuseScore where a score is asked for; the daemon runs in this process on fake models
(instant decodes) for the listener, on the session's tiny real bundles for a render from models.
Real time only where audio is rendered live (10 s, bounded by deadlines); the assertions are on
what the audio holds, never on how fast it was made.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
import trio
from metalosc.protocol import INSTRUMENTS, Mute, Note, Subscribe
from metalosc.runtime import PhraseNote
from metalosc.server import Settings
from metalosc.server._cues import Cue
from metalosc.server._midifile import read_midi, write_take
from metalosc.server._take import TakeBuilder
from metalosc.server.testing import FakeModelSource, UdpClient, open_server

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
METALOSC = Path(sys.executable).with_name("metalosc")
HOP_S = 0.01  # the level profile's resolution


def read_wav(path: Path) -> tuple[npt.NDArray[np.float64], int]:
    """Mono samples in -1..1 and the sample rate."""
    with wave.open(str(path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (2, 2)
        rate = wav.getframerate()
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    stereo = data.reshape(-1, 2).astype(np.float64) / 32768.0
    return stereo.mean(axis=1), rate


def level_profile(samples: npt.NDArray[np.float64], rate: int) -> npt.NDArray[np.float64]:
    """RMS of every ``HOP_S`` slice."""
    hop = round(HOP_S * rate)
    usable = len(samples) // hop * hop
    return np.sqrt((samples[:usable].reshape(-1, hop) ** 2).mean(axis=1))


def onset_alignment(
    profile: npt.NDArray[np.float64], onsets_s: list[float], lags_s: list[float]
) -> dict[float, float]:
    """For each lag, the mean rise of the level (dB, the slice after minus the slice before)
    at the note onsets moved by that lag: largest where the audio's attacks are."""
    db = 20 * np.log10(profile + 1e-6)
    out = {}
    for lag in lags_s:
        rises = []
        for onset in onsets_s:
            k = round((onset + lag) / HOP_S)
            if 3 <= k < len(db) - 3:
                rises.append(db[k : k + 3].mean() - db[k - 3 : k].mean())
        out[lag] = float(np.mean(rises))
    return out


async def read_lines_until(stream: trio.abc.ReceiveStream, event: str, seen: list[str]) -> dict:
    """Read JSON log lines from ``stream`` until one has ``event``; every line read is kept."""
    buffer = b""
    while True:
        chunk = await stream.receive_some(65536)
        if not chunk:
            raise AssertionError(f"the listener ended before logging {event}: {seen[-5:]}")
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            seen.append(line.decode())
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if entry.get("event") == event:
                return entry


@pytest.mark.slow
@pytest.mark.requires_tools("fluidsynth", SOUNDFONT)
async def test_listen_writes_the_live_audio_loud_where_the_notes_were_sent(tmp_path: Path) -> None:
    """10 s of a live daemon through ``metalosc listen --wav``: the file is sound, its attacks
    sit on the notes' timetags (not 60 ms either side), and while all three instruments are
    muted for two and a half seconds it falls silent."""
    settings = Settings(port=0, bpm=120.0, buffer_depth=4, batch_size=4, seed=1)
    wav = tmp_path / "live.wav"
    log: list[str] = []
    async with open_server(settings, executors=FakeModelSource()) as server:
        host, port = server.address
        async with UdpClient.open(server.address) as witness, trio.open_nursery() as nursery:
            await witness.send(Subscribe())

            async def hear() -> None:
                while True:
                    await witness.receive()

            nursery.start_soon(hear)
            command = [str(METALOSC), "listen", "--server", f"{host}:{port}", "--wav", str(wav),
                       "--seconds", "10", "--log-format", "json"]  # fmt: skip
            process = await trio.lowlevel.open_process(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            try:
                with trio.fail_after(60):
                    assert process.stderr is not None
                    started = await read_lines_until(process.stderr, "listen_wav_started", log)
                    start = float(started["start_unix"])
                    await trio.sleep(max(0.0, start + 4.0 - time.time()))
                    for instrument in INSTRUMENTS:
                        await witness.send(Mute(instrument=instrument, muted=True))
                    await trio.sleep(max(0.0, start + 6.5 - time.time()))
                    for instrument in INSTRUMENTS:
                        await witness.send(Mute(instrument=instrument, muted=False))
                    async with process.stderr:
                        while chunk := await process.stderr.receive_some(65536):
                            log.extend(chunk.decode().splitlines())
                    code = await process.wait()
            finally:
                process.kill()
            nursery.cancel_scope.cancel()
    assert code == 0, log[-5:]
    assert any(json.loads(line).get("event") == "listen_wav_written" for line in log if line)

    samples, rate = read_wav(wav)
    assert rate == 44100
    assert len(samples) == 10 * rate  # exactly the seconds asked for
    sent = [
        (bundle.timetag - start, message)
        for _, bundle in witness.bundles
        if bundle.timetag is not None
        for message in bundle.messages
        if isinstance(message, Note)
    ]
    onsets = sorted({round(t, 4) for t, _ in sent if 0.1 < t < 9.9})
    assert len(onsets) > 12, onsets
    profile = level_profile(samples, rate)
    assert float(np.sqrt((samples**2).mean())) > 0.01  # sound, not silence (above -40 dBFS)

    # the attacks are on the notes: the level rises most at the onsets themselves
    alignment = onset_alignment(profile, onsets, [-0.06, -0.03, 0.0, 0.03, 0.06])
    assert max(alignment, key=alignment.__getitem__) == 0.0, alignment
    assert alignment[0.0] > 3.0  # dB
    assert alignment[0.0] > 2 * max(alignment[-0.06], alignment[0.06]), alignment

    # the muted stretch: no note was sent, and once the last ones rang out it is quiet
    times = sorted(t for t, _ in sent)
    gaps = [(a, b) for a, b in itertools.pairwise(times) if b - a > 1.5]
    assert gaps, "the mute left no gap in the notes sent"
    quiet_from, quiet_to = gaps[0][0] + 1.0, gaps[0][1]
    quiet = profile[round(quiet_from / HOP_S) : round(quiet_to / HOP_S)]
    loud = profile[round(0.5 / HOP_S) : round(3.5 / HOP_S)]
    assert len(quiet) > 20
    assert quiet.mean() < 0.05 * loud.mean(), (quiet.mean(), loud.mean())


@pytest.mark.requires_tools("fluidsynth", SOUNDFONT)
async def test_listen_without_a_daemon_says_so_and_stops_after_its_seconds(tmp_path: Path) -> None:
    """Nobody answers on the port: the listener says so (a log line naming the address), keeps
    asking, writes a silent file after ``--seconds`` and unsubscribes."""
    with trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM) as silent:
        await silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        received: list[bytes] = []

        async def hear() -> None:
            while True:
                data, _ = await silent.recvfrom(65536)
                received.append(data)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(hear)
            with trio.fail_after(60):
                result = await trio.run_process(
                    [str(METALOSC), "listen", "--server", f"127.0.0.1:{port}", "--wav",
                     str(tmp_path / "nothing.wav"), "--seconds", "4", "--lease", "3",
                     "--log-format", "json"],
                    capture_stdout=True, capture_stderr=True, check=False,
                )  # fmt: skip
            await trio.sleep(0.2)
            nursery.cancel_scope.cancel()
    err = result.stderr.decode()
    assert result.returncode == 0, err
    assert "listen_no_answer" in err
    assert f"127.0.0.1:{port}" in err
    subscribes = [d for d in received if d.startswith(b"/metal/subscribe")]
    assert len(subscribes) >= 3  # renewed every second of a 3 s lease
    assert received[-1].startswith(b"/metal/unsubscribe")
    samples, _ = read_wav(tmp_path / "nothing.wav")
    # silent: nothing above FluidSynth's dither on the way to 16 bits (one step either way)
    assert len(samples) == 4 * 44100
    assert np.abs(samples).max() <= 1 / 32768


@pytest.mark.skipif(Path("/dev/snd/seq").exists(), reason="this machine has an ALSA sequencer")
def test_listen_names_the_midi_port_it_cannot_open(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(METALOSC), "listen", "--midi-out", "DAW", "--seconds", "1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 3
    assert "metalosc listen: cannot open a virtual MIDI port 'DAW'" in result.stderr
    assert "Traceback" not in result.stderr


def a_take(path: Path) -> Path:
    """A 4-bar take with all three instruments and a section marker, written as MIDI."""
    builder = TakeBuilder()
    for beat in range(16):
        notes: list[tuple[str, PhraseNote]] = [
            ("drums", PhraseNote(36 if beat % 2 == 0 else 38, 110, 0, 0.25))
        ]
        notes.append(("guitar", PhraseNote(40 + (beat % 4) * 2, 100, 0, 0.5)))
        if beat % 2 == 0:
            notes.append(("bass", PhraseNote(28, 100, 0, 1.0)))
        builder.cue(1, Cue(float(beat), tuple(notes), beat_marker=True), (), 140.0)  # type: ignore[arg-type]
    write_take(builder.take(), path, title=path.stem)
    return path


@pytest.mark.slow
@pytest.mark.requires_tools("fluidsynth", SOUNDFONT, "mscore3")
def test_render_writes_the_wav_the_score_and_the_piano_roll_of_a_midi_file(
    tmp_path: Path,
) -> None:
    midi = a_take(tmp_path / "riff.mid")
    out = tmp_path / "previews"
    result = subprocess.run(
        [str(METALOSC), "render", str(midi), str(out)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"wav: {out / 'riff.wav'}" in result.stdout
    samples, rate = read_wav(out / "riff.wav")
    assert len(samples) == pytest.approx((16 * 60 / 140 + 2.0) * rate, abs=rate * 0.05)
    profile = level_profile(samples, rate)
    beat_s = 60 / 140
    onsets = [k * beat_s for k in range(16)]
    alignment = onset_alignment(profile, onsets, [-0.05, 0.0, 0.05])
    assert max(alignment, key=alignment.__getitem__) == 0.0, alignment
    pages = sorted(out.glob("riff-[0-9]*.png"))
    assert pages
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in pages)
    roll = out / "riff-roll.png"
    assert roll.read_bytes().startswith(b"\x89PNG")


def test_render_says_which_renderer_is_missing_and_writes_the_rest(
    tmp_path: Path,
) -> None:
    midi = a_take(tmp_path / "riff.mid")
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    env = {"PATH": str(empty_path), "HOME": str(tmp_path)}
    result = subprocess.run(
        [str(METALOSC), "render", str(midi), str(tmp_path / "out"), "--soundfont",
         str(tmp_path / "none.sf2")],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert (
        f"wav: not written: no soundfont at {tmp_path / 'none.sf2'}: apt-get install "
        "fluidsynth fluid-soundfont-gm" in lines
    )
    assert "score: not written: mscore3 not found: apt-get install musescore3" in lines
    assert f"piano roll: {tmp_path / 'out' / 'riff-roll.png'}" in lines


def test_render_refuses_what_is_not_midi(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mid"
    junk.write_text("not midi")
    result = subprocess.run(
        [str(METALOSC), "render", str(junk), str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 2
    assert "junk.mid: not a readable MIDI file" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.requires_tools("fluidsynth", SOUNDFONT, "mscore3")
def test_render_from_models_plays_them_first(tiny_bundles: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [str(METALOSC), "render", str(tiny_bundles), str(out), "--bars", "4", "--seed", "2"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]
    name = f"{tiny_bundles.resolve().name}-t0.50-s2"
    score = read_midi(out / f"{name}.mid")
    assert {n.instrument for n in score.notes} <= set(INSTRUMENTS)
    assert score.beats == 16.0
    assert score.markers  # the section the performance started with
    assert (out / f"{name}.wav").is_file()
    assert (out / f"{name}-roll.png").is_file()
    assert list(out.glob(f"{name}-[0-9]*.png"))
