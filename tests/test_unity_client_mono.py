"""The Unity C# client (``unity/Assets/MetalOSC``), compiled with Mono's ``mcs``, run with ``mono``.

Rules of this suite:

- It needs only ``mcs`` and ``mono`` (Debian ``mono-mcs``) and, for the EditMode tests, Debian's
  NUnit 2.6 (``nunit-console``, ``libnunit-cil-dev``), never Unity: Runtime/Core is pure C#.
  Without them the tests fail naming the package (``requires_tools``, the root conftest;
  ``METALOSC_ALLOW_MISSING_TOOLS=1`` makes them skip instead); nothing else makes them skip.
- The C# sources are compiled once per module, into a temporary directory, with warnings as errors.
- The EditMode tests (``Tests/Editor``: the files Unity's Test Runner runs, as they are) are
  compiled against NUnit and run by ``nunit-console``; its XML result must list every test the
  sources declare, all passed.
- The integration tests talk real UDP on 127.0.0.1 to the C# probe (``Tests/Mono~``: Unity never
  compiles a ``~`` folder), which prints what it decoded as JSON lines. The peer is built on
  ``metalosc.protocol`` only, so both sides are independent implementations of the same wire
  format. A separate process runs on its own clock, so these tests use the real clock, bounded by
  ``trio.fail_after``; they wait for events, never sleep-and-hope.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import trio
from metalosc.protocol import (
    IMMEDIATELY,
    Beat,
    Bundle,
    Error,
    Fill,
    Interpolate,
    Key,
    Message,
    Mute,
    Note,
    PhraseStarted,
    Ping,
    Play,
    Pong,
    SceneSave,
    SectionRequest,
    State,
    StateRequest,
    Stop,
    Subscribe,
    Temperature,
    Tempo,
    Tension,
    TransitionDefault,
    Unsubscribe,
    decode_packet,
    encode,
    encode_bundle,
    ntp_to_unix,
    unix_to_ntp,
)
from pythonosc.osc_message_builder import OscMessageBuilder

pytestmark = pytest.mark.interop
NEEDS_MONO = pytest.mark.requires_tools("mcs", "mono")  # Debian package mono-mcs
NUNIT_PC = "/usr/lib/pkgconfig/nunit.pc"
NEEDS_NUNIT = pytest.mark.requires_tools("mcs", "mono", "nunit-console", NUNIT_PC)

ROOT = Path(__file__).resolve().parents[1]
CLIENT = ROOT / "unity" / "Assets" / "MetalOSC"
CORE_SOURCES = sorted((CLIENT / "Runtime" / "Core").glob("*.cs"))
EDITMODE_DIR = CLIENT / "Tests" / "Editor"
MONO_DIR = CLIENT / "Tests" / "Mono~"
"""The probe and the Unity signature stubs: Mono-only, in a folder Unity ignores."""

LOCAL_OFFSET = 1000.0
"""The probe's local clock reads unix time minus this, so the true clock offset is known."""


@dataclass(frozen=True)
class CSharpBuild:
    probe: Path


def _mcs(
    out: Path, sources: Sequence[Path], *, library: bool = False, refs: Sequence[Path] = ()
) -> None:
    """Compiles with the C# level Unity 2019.4+ accepts, warnings as errors."""
    target = ["-target:library"] if library else []
    result = subprocess.run(
        ["mcs", "-langversion:7.2", "-warnaserror+", "-nologo", *target, f"-out:{out}"]
        + [f"-r:{ref}" for ref in refs]
        + [str(source) for source in sources],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"mcs failed:\n{result.stdout}{result.stderr}"


@pytest.fixture(scope="module")
def csharp(tmp_path_factory: pytest.TempPathFactory) -> CSharpBuild:
    out = tmp_path_factory.mktemp("unity-client")
    build = CSharpBuild(probe=out / "MetalOscProbe.exe")
    _mcs(build.probe, [*CORE_SOURCES, MONO_DIR / "MetalOscProbe.cs"])
    return build


def nunit_framework() -> Path:
    """The NUnit framework assembly libnunit-cil-dev installs, found through its pkg-config file
    (the same ``-r:`` line ``pkg-config --libs nunit`` prints)."""
    text = Path(NUNIT_PC).read_text(encoding="utf-8")
    pkglibdir = "/usr/lib/cli"
    match = re.search(r"-r:\$\{pkglibdir\}(/nunit\.framework-[^/]+/nunit\.framework\.dll)", text)
    assert match is not None, f"no nunit.framework.dll in {NUNIT_PC}"
    return Path(pkglibdir + match.group(1))


def declared_tests() -> set[str]:
    """``Fixture.Method`` for every ``[Test]`` / ``[TestCase]`` method in Tests/Editor."""
    names: set[str] = set()
    fixture = re.compile(r"\[TestFixture\]\s*public (?:sealed )?class (\w+)")
    attribute = re.compile(r"\[(?:Test|TestCase\(.*\))\]\s*(?:\[[^\]]*\]\s*)*public void (\w+)")
    for source in EDITMODE_DIR.glob("*.cs"):
        text = source.read_text(encoding="utf-8")
        starts = [(m.start(), m.group(1)) for m in fixture.finditer(text)]
        for method in attribute.finditer(text):
            owner = [name for start, name in starts if start < method.start()]
            assert owner, f"{source.name}: {method.group(1)} outside a [TestFixture]"
            names.add(f"{owner[-1]}.{method.group(1)}")
    return names


@NEEDS_NUNIT
def test_editmode_tests_pass_under_nunit_console(tmp_path: Path) -> None:
    # The same files Unity's Test Runner runs (NUnit API shared by 2.6 and Unity's NUnit 3).
    dll = tmp_path / "MetalOSC.Tests.Editor.dll"
    framework = nunit_framework()
    _mcs(dll, [*CORE_SOURCES, *sorted(EDITMODE_DIR.glob("*.cs"))], library=True, refs=[framework])
    shutil.copy(framework, tmp_path)
    report = tmp_path / "TestResult.xml"
    result = subprocess.run(
        ["nunit-console", "-nologo", str(dll), f"-xml={report}"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    print(result.stdout)
    summary = re.search(r"Tests run: (\d+), Errors: (\d+), Failures: (\d+)", result.stdout)
    assert summary is not None, result.stdout + result.stderr
    run, errors, failures = map(int, summary.groups())
    assert (errors, failures) == (0, 0), result.stdout
    assert result.returncode == 0, result.stdout + result.stderr
    cases = ET.parse(report).getroot().iter("test-case")
    executed = {c.get("name", ""): c.get("result") for c in cases}
    assert len(executed) == run
    assert set(executed.values()) == {"Success"}
    # Every declared test ran (a [TestCase] method runs once per case, named Method(args)).
    ran = {re.sub(r"\(.*\)$", "", name).split(".", 2)[-1] for name in executed}
    assert declared_tests() <= ran, declared_tests() - ran
    assert run >= 100


@NEEDS_MONO
def test_unity_behaviours_compile_against_the_unity_signatures_they_use(tmp_path: Path) -> None:
    # Runtime/*.cs and Editor/*.cs need UnityEngine/UnityEditor, which CI lacks; the stubs in
    # Tests/Mono~ declare the few members they use (bodies empty), so at least typos and type
    # errors are caught here.
    runtime = sorted((CLIENT / "Runtime").rglob("*.cs"))
    assert any("MonoBehaviour" in p.read_text(encoding="utf-8") for p in runtime)
    engine = tmp_path / "MetalOSC.dll"
    _mcs(engine, [MONO_DIR / "UnityEngineSignatures.cs", *runtime], library=True)
    editor = sorted((CLIENT / "Editor").glob("*.cs"))
    assert any("MenuItem" in p.read_text(encoding="utf-8") for p in editor)
    _mcs(
        tmp_path / "MetalOSC.Editor.dll",
        [MONO_DIR / "UnityEditorSignatures.cs", *editor],
        library=True,
        refs=[engine],
    )


def test_assembly_definitions_keep_core_free_of_the_engine() -> None:
    def asmdef(path: Path) -> dict[str, Any]:
        return dict(json.loads(path.read_text(encoding="utf-8")))

    core = asmdef(CLIENT / "Runtime" / "Core" / "MetalOSC.Core.asmdef")
    runtime = asmdef(CLIENT / "Runtime" / "MetalOSC.asmdef")
    editor = asmdef(CLIENT / "Editor" / "MetalOSC.Editor.asmdef")
    tests = asmdef(EDITMODE_DIR / "MetalOSC.Tests.Editor.asmdef")
    assert (core["name"], core["noEngineReferences"], core["references"]) == (
        "MetalOSC.Core",
        True,
        [],
    )
    assert runtime["references"] == ["MetalOSC.Core"]
    assert editor["includePlatforms"] == ["Editor"]
    # An EditMode test assembly as Unity's Test Framework expects it: editor-only, NUnit
    # referenced, compiled only when the project includes tests.
    assert tests["includePlatforms"] == ["Editor"]
    assert {"MetalOSC.Core", "UnityEngine.TestRunner", "UnityEditor.TestRunner"} <= set(
        tests["references"]
    )
    assert tests["precompiledReferences"] == ["nunit.framework.dll"]
    assert tests["overrideReferences"] is True
    assert tests["defineConstraints"] == ["UNITY_INCLUDE_TESTS"]
    # The Mono-only programs never reach Unity: a folder ending in '~' is not imported.
    assert not list((CLIENT / "Tests").glob("*.cs"))
    assert (MONO_DIR / "MetalOscProbe.cs").is_file()


# --- the Python peer ------------------------------------------------------------------------


def f32(value: float) -> float:
    """What a float becomes after a trip through OSC's 32-bit 'f'."""
    return float(struct.unpack(">f", struct.pack(">f", value))[0])


@dataclass
class Peer:
    """A stand-in server on ``metalosc.protocol``: answers pings, records what the client sent."""

    sock: trio.socket.SocketType
    received: list[Message] = field(default_factory=list)
    client: Any = None
    pongs_sent: int = 0
    changed: trio.Event = field(default_factory=trio.Event)
    cancel_scope: trio.CancelScope = field(default_factory=trio.CancelScope)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    async def run(self) -> None:
        with self.cancel_scope:
            await self._serve()

    async def _serve(self) -> None:
        while True:
            data, address = await self.sock.recvfrom(65536)
            message = decode_packet(data)  # the client never sends anything invalid
            assert not isinstance(message, Bundle)
            self.received.append(message)
            if isinstance(message, Subscribe):
                self.client = address
            if isinstance(message, Ping):
                await self.sock.sendto(
                    encode(Pong(args=message.args, server_time=time.time())), address
                )
                self.pongs_sent += 1
            self.changed.set()
            self.changed = trio.Event()

    async def wait_for(self, condition: Callable[[], bool]) -> None:
        while not condition():
            await self.changed.wait()

    async def stop_after_unsubscribe(self) -> None:
        """Called once the probe has exited: its last datagram, /metal/unsubscribe (sent when the
        client is disposed), may still be queued, so wait for it before cancelling `run`."""
        with trio.fail_after(5):
            await self.wait_for(lambda: any(isinstance(m, Unsubscribe) for m in self.received))
        self.cancel_scope.cancel()

    async def send(self, data: bytes) -> None:
        await self.sock.sendto(data, self.client)


@pytest.fixture
async def peer() -> AsyncIterator[Peer]:
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await sock.bind(("127.0.0.1", 0))
    with sock:
        yield Peer(sock)


def probe_command(build: CSharpBuild, port: int, *options: str) -> list[str]:
    return ["mono", str(build.probe), "--server", f"127.0.0.1:{port}", *options]


def parse_events(stdout: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]


def nested_bundle(outer: float, inner: float, messages: Sequence[Message]) -> bytes:
    """A bundle holding a bundle: the protocol's encoder makes the inner one, framed here by hand
    (the server never nests, but OSC allows it and the client must use the inner timetag)."""
    inner_bytes = encode_bundle(messages, inner)
    return (
        b"#bundle\x00"
        + struct.pack(">Q", unix_to_ntp(outer))
        + struct.pack(">i", len(inner_bytes))
        + inner_bytes
    )


def unknown_message() -> bytes:
    builder = OscMessageBuilder("/metal/from-the-future")
    builder.add_arg(1, "i")
    return builder.build().dgram


# --- integration: C# client <-> Python peer over UDP ----------------------------------------


@NEEDS_MONO
async def test_probe_decodes_python_peer_events_and_timetags(
    csharp: CSharpBuild, peer: Peer
) -> None:
    guitar = Note(instrument="guitar", pitch=40, velocity=100, duration_s=0.25, beat=1.5)
    drums = Note(instrument="drums", pitch=36, velocity=127, duration_s=0.1, beat=0.0)
    bass = Note(instrument="bass", pitch=28, velocity=90, duration_s=0.7, beat=3.75)
    now_note = Note(instrument="guitar", pitch=45, velocity=64, duration_s=0.125, beat=2.0)
    nested_note = Note(instrument="bass", pitch=33, velocity=80, duration_s=0.5, beat=0.5)
    state = State(
        playing=True,
        tension=0.3,
        bpm=168.0,
        temperature=0.9,
        guitar_muted=False,
        bass_muted=True,
        drums_muted=False,
        scene="boss-1",
        key="E",
        transition="phrase",
    )
    error = Error(refused_address="/metal/tempo", reason="bpm 500.0 out of range (40..320)")
    result: dict[str, subprocess.CompletedProcess[bytes]] = {}
    times: dict[str, float] = {}

    async def run_probe() -> None:
        result["probe"] = await trio.run_process(
            probe_command(
                csharp,
                peer.port,
                *("--tension", "0.7", "--until-notes", "5", "--until-pongs", "3"),
                *("--local-offset", str(LOCAL_OFFSET), "--unseeded", "--seconds", "20"),
            ),
            capture_stdout=True,
            check=False,
        )
        await peer.stop_after_unsubscribe()

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(peer.run)
            nursery.start_soon(run_probe)
            # Events go out only once the clock is synced, so the notes' DSP times are checked
            # against a measured offset (the probe starts with a deliberately wrong one).
            await peer.wait_for(
                lambda: peer.pongs_sent >= 3 and any(isinstance(m, Tension) for m in peer.received)
            )
            await peer.send(encode(guitar)[:-4])  # the last float cut off
            await peer.send(unknown_message())
            await peer.send(encode(state))
            await peer.send(encode(error))
            now = time.time()
            times.update(timed=now + 0.5, beats=now + 0.75, outer=now + 1.0, inner=now + 1.25)
            await peer.send(
                encode_bundle(
                    [Beat(bar=3, beat=2), PhraseStarted(instrument="drums", id=41, tension=0.8)],
                    times["beats"],
                )
            )
            await peer.send(encode_bundle([guitar, drums, bass], times["timed"]))
            await peer.send(encode_bundle([now_note], None))
            await peer.send(nested_bundle(times["outer"], times["inner"], [nested_note]))

    probe = result["probe"]
    assert probe.returncode == 0
    events = parse_events(probe.stdout)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "ready"
    assert kinds[-1] == "done"
    done = events[-1]

    # What the C# client sent, decoded by the Python protocol.
    assert peer.received[0] == Subscribe()
    tensions = [m for m in peer.received if isinstance(m, Tension)]
    assert tensions == [Tension(value=f32(0.7))]
    pings = [m for m in peer.received if isinstance(m, Ping)]
    assert [p.args for p in pings[:3]] == [("metalosc-sync", n) for n in range(3)]

    # Clock sync: measured from pongs alone (the probe started unseeded, offset 0).
    assert done["clock_samples"] >= 3
    assert done["clock_rtt"] < 0.1
    assert abs(done["clock_offset"] - LOCAL_OFFSET) <= done["clock_rtt"] / 2 + 0.002

    # Notes: exact values, exact timetags, and DSP times through the measured offset.
    notes = [e for e in events if e["event"] == "note"]
    assert [(n["instrument"], n["pitch"], n["velocity"]) for n in notes] == [
        ("guitar", 40, 100),
        ("drums", 36, 127),
        ("bass", 28, 90),
        ("guitar", 45, 64),
        ("bass", 33, 80),
    ]
    sent = [guitar, drums, bass, now_note, nested_note]
    assert [n["duration_s"] for n in notes] == [f32(s.duration_s) for s in sent]
    assert [n["beat"] for n in notes] == [f32(s.beat) for s in sent]
    tags = [unix_to_ntp(times["timed"])] * 3 + [IMMEDIATELY, unix_to_ntp(times["inner"])]
    assert [n["timetag"] for n in notes] == tags
    for note in notes[:3] + notes[4:]:
        assert note["sound_time_unix"] == pytest.approx(ntp_to_unix(note["timetag"]), abs=1e-6)
        expected_local = note["sound_time_unix"] - LOCAL_OFFSET
        assert note["local_dsp_time"] == pytest.approx(
            expected_local, abs=done["clock_rtt"] + 0.002
        )
        assert note["local_dsp_time"] > note["pumped_at"], "scheduled ahead, not late"
    immediate = notes[3]
    assert immediate["sound_time_unix"] is None
    assert immediate["local_dsp_time"] == pytest.approx(immediate["pumped_at"], abs=0.05)

    # Every other kind of event, with exact values.
    [beat] = [e for e in events if e["event"] == "beat"]
    assert (beat["bar"], beat["beat"]) == (3, 2)
    [phrase] = [e for e in events if e["event"] == "phrase"]
    assert (phrase["instrument"], phrase["id"], phrase["tension"]) == ("drums", 41, f32(0.8))
    # Beats and phrase starts are timed on the DSP clock like notes (for visuals).
    for timed in (beat, phrase):
        expected_local = times["beats"] - LOCAL_OFFSET
        assert timed["local_dsp_time"] == pytest.approx(
            expected_local, abs=done["clock_rtt"] + 0.002
        )
    [got_state] = [e for e in events if e["event"] == "state"]
    assert got_state == {
        "event": "state",
        "playing": True,
        "tension": f32(0.3),
        "bpm": 168.0,
        "temperature": f32(0.9),
        "guitar_muted": False,
        "bass_muted": True,
        "drums_muted": False,
        "scene": "boss-1",
    }
    [got_error] = [e for e in events if e["event"] == "error"]
    assert (got_error["address"], got_error["reason"]) == (error.refused_address, error.reason)
    pongs = [e for e in events if e["event"] == "pong"]
    assert pongs[0]["args"] == ["metalosc-sync", 0]
    [failure] = [e for e in events if e["event"] == "decode_failure"]
    assert failure["problem"].startswith("float32 argument needs 4 bytes, 0 left")
    assert (done["malformed"], done["unknown"], done["dropped"]) == (1, 1, 0)


@NEEDS_MONO
async def test_probe_subscribes_in_immediate_mode_the_protocol_decodes(
    csharp: CSharpBuild, peer: Peer
) -> None:
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(peer.run)
            command = probe_command(
                csharp, peer.port, "--mode", "immediate", "--tempo", "150", "--request-state"
            )
            await trio.run_process([*command, "--seconds", "0.3"], capture_stdout=True)
            await peer.stop_after_unsubscribe()
    addresses = [type(m).__name__ for m in peer.received if not isinstance(m, Ping)]
    assert addresses == ["Subscribe", "Tempo", "StateRequest", "Unsubscribe"]
    assert peer.received[0] == Subscribe(port=None, mode="immediate")


@NEEDS_MONO
def test_client_builders_encode_what_the_protocol_encodes(csharp: CSharpBuild) -> None:
    dump = subprocess.run(
        ["mono", str(csharp.probe), "--dump-builders"], capture_output=True, timeout=60, check=True
    )
    built = [bytes.fromhex(e["hex"]) for e in parse_events(dump.stdout)]
    expected: list[Message] = [
        Subscribe(),
        Subscribe(port=9100),
        Subscribe(mode="immediate"),
        Subscribe(port=9101, mode="immediate"),
        Unsubscribe(),
        Tension(value=f32(0.7)),
        Tempo(bpm=172.5),
        Interpolate(scene="boss_1"),
        Interpolate(scene="calm-2", bars=16),
        SceneSave(name="calm-2"),
        Play(),
        Stop(),
        Mute(instrument="bass", muted=True),
        Mute(instrument="drums", muted=False),
        Temperature(value=0.5),
        Temperature(value=1.5, transition="section"),
        Tension(value=f32(0.9), transition="bar"),
        TransitionDefault(when="phrase"),
        Key(key="F#"),
        Fill(),
        SectionRequest(),
        SectionRequest(label="boss"),
        Ping(),
        Ping(args=("metalosc-sync", 7, 0.5)),
        StateRequest(),
    ]
    # The protocol's decoder is strict (type tags, sizes, trailing bytes, ranges), so equality
    # here means the C# bytes are valid. Not byte-equal: the client always sends `bars`.
    assert [decode_packet(b) for b in built] == expected


# --- integration: C# client <-> the real daemon ------------------------------------------------

DAEMON_BPM = 240.0
DAEMON_LOOKAHEAD = 0.5
STAND_IN_PITCHES: dict[str, tuple[int, ...]] = {
    "guitar": (40, 43, 45, 47, 50, 52, 55, 57),
    "bass": (28, 31, 33, 35),
    "drums": (36, 38, 42, 46),
}


class StandInModel:
    """The server's ``InstrumentModelLike`` without TensorFlow, so the daemon starts in
    milliseconds: every latent decodes to the same 2 bars of sixteen eighth notes (one step long),
    note k on ``STAND_IN_PITCHES[instrument][k % n]`` with velocity ``64 + 4k``, as a real quantized
    ``NoteSequence``. Knowing every note lets the test check what the C# client received exactly."""

    def __init__(self, instrument: str) -> None:
        self.instrument = instrument
        self.z_size = 4
        self.tension_vector = np.array([1.0, 0.0, 0.0, 0.0])
        self.fill_vector = np.zeros(4)

    def sample_z(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal((n, self.z_size))

    def decode(
        self, z: np.ndarray, temperature: float = 1.0, chords: Sequence[str] | None = None
    ) -> list[Any]:
        from note_seq.protobuf import music_pb2

        phrases = []
        for _ in range(len(z)):
            seq = music_pb2.NoteSequence()
            seq.quantization_info.steps_per_quarter = 4
            pitches = STAND_IN_PITCHES[self.instrument]
            for k in range(16):
                seq.notes.add(
                    pitch=pitches[k % len(pitches)],
                    velocity=64 + 4 * k,
                    quantized_start_step=2 * k,
                    quantized_end_step=2 * k + 1,
                )
            phrases.append(seq)
        return phrases

    def encode(self, seqs: Sequence[Any], chords: Sequence[str] | None = None) -> np.ndarray:
        return np.zeros((len(seqs), self.z_size))

    def close(self) -> None:
        pass


async def run_probe_against_daemon(
    csharp: CSharpBuild, settings: Any, **serve_kwargs: Any
) -> tuple[list[dict[str, Any]], Any]:
    """Starts ``serve``, runs the probe against it until 24 notes and 3 pongs, stops the daemon."""
    from metalosc.server import serve

    stop = trio.Event()
    with trio.fail_after(120):
        async with trio.open_nursery() as nursery:
            server = await nursery.start(
                partial(serve, settings, shutdown_trigger=stop.wait, **serve_kwargs)
            )
            host, port = server.address
            probe = await trio.run_process(
                [
                    "mono",
                    str(csharp.probe),
                    *("--server", f"{host}:{port}", "--tension", "0.8", "--request-state"),
                    *("--until-notes", "24", "--until-pongs", "3", "--until-beats", "2"),
                    *("--seconds", "60"),
                    *("--local-offset", str(LOCAL_OFFSET), "--unseeded"),
                ],
                capture_stdout=True,
            )
            stop.set()
    return parse_events(probe.stdout), server


def check_daemon_session(events: list[dict[str, Any]], lookahead: float, bpm: float) -> None:
    """What must hold for any daemon session, whatever the models play."""
    done = events[-1]
    assert done["event"] == "done"
    assert (done["malformed"], done["unknown"], done["dropped"]) == (0, 0, 0)
    # The daemon's pongs carry its unix time as a double: the offset is measured to within
    # half a round trip (the probe started unseeded, at offset 0).
    assert done["clock_samples"] >= 3
    assert abs(done["clock_offset"] - LOCAL_OFFSET) <= done["clock_rtt"] / 2 + 0.005
    notes = [e for e in events if e["event"] == "note"]
    assert len(notes) >= 24
    assert {n["instrument"] for n in notes} <= {"guitar", "bass", "drums"}
    for note in notes:
        assert note["timetag"] != IMMEDIATELY, "bundle mode: every note has a time"
        # The daemon may send notes before the first pong; the client holds them until the clock
        # has a measured sample (the unseeded offset is 1000 s off), so none is ever mapped
        # through a guess.
        assert note["clock_samples"] >= 1, note
    # Held notes are raised in the pump that first sees the clock synced, before that pump's
    # queued events (the first pong among them); every note raised after it arrived synced.
    first_pong = next(i for i, e in enumerate(events) if e["event"] == "pong")
    for i, note in enumerate(events):
        if note["event"] != "note":
            continue
        lead = note["local_dsp_time"] - note["pumped_at"]
        # Bundles arrive ahead of their sound time by at most the lookahead.
        assert lead <= lookahead + 0.05, note
        if i > first_pong:
            assert lead > 0, note
    sound_times = [n["sound_time_unix"] for n in notes]
    assert sound_times == sorted(sound_times)
    states = [e for e in events if e["event"] == "state"]
    assert states, "a /metal/state reply to the request"
    assert states[-1]["tension"] == f32(0.8)
    assert states[-1]["bpm"] == bpm
    assert [e for e in events if e["event"] == "beat"]


@NEEDS_MONO
@pytest.mark.filterwarnings("ignore:Couldn't find ffmpeg:RuntimeWarning")  # note_seq's pydub
async def test_probe_plays_along_with_the_daemon(csharp: CSharpBuild) -> None:
    from metalosc.server import PhraseAnalysis, Settings, ThreadExecutor

    # The stand-in guitar already lies in E minor (moved by 0); unvoiced, every note the client
    # receives is one the stand-in decoded, so each can be checked exactly.
    settings = Settings(
        port=0,
        bpm=DAEMON_BPM,
        lookahead=DAEMON_LOOKAHEAD,
        seed=0,
        buffer_depth=4,
        batch_size=4,
        power_chords=False,
    )
    analysis = PhraseAnalysis(
        intensity=lambda seq, instrument: float(len(seq.notes)),
        features=lambda seq, instrument: {"note_density": len(seq.notes) / 2.0},
        chords=lambda seq: ["E5", "G5"],
        chord_fit=lambda seq, chords: 0.5,
    )

    async def stand_ins(instruments: Collection[str]) -> dict[str, ThreadExecutor]:
        return {i: ThreadExecutor(StandInModel(i), analysis) for i in instruments}

    events, _ = await run_probe_against_daemon(csharp, settings, executors=stand_ins)

    check_daemon_session(events, DAEMON_LOOKAHEAD, DAEMON_BPM)
    notes = [e for e in events if e["event"] == "note"]
    step_s = 60.0 / DAEMON_BPM / 4
    first = {n["instrument"]: n["sound_time_unix"] for n in reversed(notes)}
    for note in notes:
        k = (note["velocity"] - 64) // 4
        pitches = STAND_IN_PITCHES[note["instrument"]]
        assert (note["velocity"] - 64) % 4 == 0
        assert note["pitch"] == pitches[k % len(pitches)]
        assert note["duration_s"] == pytest.approx(step_s, abs=1e-6)
        # Eighth notes: every sound time is a whole number of eighths after the first one.
        eighths = (note["sound_time_unix"] - first[note["instrument"]]) / (2 * step_s)
        assert eighths == pytest.approx(round(eighths), abs=1e-3)


@NEEDS_MONO
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Couldn't find ffmpeg:RuntimeWarning")
async def test_probe_plays_along_with_the_daemon_on_tiny_bundles(
    csharp: CSharpBuild, tiny_bundles: Path
) -> None:
    # The same session on real (tiny) MusicVAE bundles from the training package.
    from metalosc.server import Settings

    settings = Settings(
        port=0,
        models=tiny_bundles,
        bpm=DAEMON_BPM,
        lookahead=DAEMON_LOOKAHEAD,
        seed=0,
        buffer_depth=4,
        batch_size=4,
    )
    events, _ = await run_probe_against_daemon(csharp, settings)
    check_daemon_session(events, DAEMON_LOOKAHEAD, DAEMON_BPM)


# --- the Default Band: which sample the C# client plays for each pitch -------------------------


@NEEDS_MONO
@pytest.mark.filterwarnings("ignore:Couldn't find ffmpeg:RuntimeWarning")
def test_client_plays_every_emitted_pitch_from_a_default_band_sample(csharp: CSharpBuild) -> None:
    # The committed bank is what `metalosc-train band-samples` renders (the training suite renders
    # it with FluidSynth and compares); here the C# client's own selection picks, for every pitch
    # the shipped models can emit, a sample at most DefaultBand.MaxShiftSemitones away.
    from metalosc.training._band_samples import (
        DEFAULT_MODELS,
        DEFAULT_OUT,
        MAX_SHIFT,
        SAMPLE_STEP,
        emitted_pitches,
    )

    dump = subprocess.run(
        ["mono", str(csharp.probe), "--sample-choices", str(DEFAULT_OUT)],
        capture_output=True,
        timeout=60,
        check=True,
    )
    events = parse_events(dump.stdout)
    files = {e["file"] for e in events if e["event"] == "sample"}
    assert files == {p.name for p in DEFAULT_OUT.glob("*.ogg")}, "the client reads every name"
    choices = {(e["instrument"], e["pitch"]): e for e in events if e["event"] == "choice"}
    for instrument, pitches in emitted_pitches(DEFAULT_MODELS).items():
        shift = 0 if instrument == "drums" else MAX_SHIFT
        for pitch in pitches:
            choice = choices[instrument, pitch]
            assert choice["sample"] is not None, (instrument, pitch)
            assert abs(choice["sample"] - pitch) <= shift, choice
            assert choice["ratio"] == pytest.approx(
                2 ** ((pitch - choice["sample"]) / 12), rel=1e-6
            )
    # Outside what the drums play nothing is stretched onto another drum.
    assert choices["drums", 37]["sample"] is None
    assert SAMPLE_STEP // 2 == MAX_SHIFT
