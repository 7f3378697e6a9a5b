"""Interop of the protocol codec with an independent OSC implementation: liblo's command-line
tools (Debian `liblo-tools`).

- `oscsend` packets, received on a real UDP socket, decode to the expected messages;
- what we encode, sent to `oscdump`, is printed back with the same address, type tags and
  values, and bundle timetags are the exact NTP values we meant (liblo also holds a future
  bundle until its time, and dispatches an "immediately" bundle at once).

Rules: real sockets on 127.0.0.1 only; every subprocess is killed in a `finally`; every wait has
a deadline. The liblo binaries are required: without them the tests fail naming the package
(the root conftest; `METALOSC_ALLOW_MISSING_TOOLS=1` makes them skip instead).
"""

from __future__ import annotations

import queue
import re
import shlex
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
from metalosc.protocol import (
    Error,
    Interpolate,
    Message,
    Mute,
    Note,
    PhraseStarted,
    Ping,
    Play,
    Pong,
    ProtocolError,
    SceneSave,
    State,
    StateRequest,
    Stop,
    Subscribe,
    Tempo,
    Tension,
    decode,
    encode,
    encode_bundle,
    unix_to_ntp,
)

pytestmark = [
    pytest.mark.interop,
    pytest.mark.requires_tools("oscsend", "oscdump"),
]

DEADLINE_S = 5.0


def oscsend(port: int, address: str, *args: str) -> None:
    subprocess.run(
        ["oscsend", "127.0.0.1", str(port), address, *args],
        check=True,
        timeout=DEADLINE_S,
        capture_output=True,
    )


def receive_from_oscsend(address: str, *args: str) -> bytes:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(DEADLINE_S)
        oscsend(sock.getsockname()[1], address, *args)
        data, _ = sock.recvfrom(65536)
        return data


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["/metal/tension", "f", "0.5"], Tension(value=0.5)),
        (["/metal/tempo", "i", "140"], Tempo(bpm=140.0)),
        (["/metal/tempo", "d", "133.5"], Tempo(bpm=133.5)),
        (["/metal/interpolate", "si", "boss", "16"], Interpolate(scene="boss", bars=16)),
        (["/metal/interpolate", "s", "verse_2"], Interpolate(scene="verse_2")),
        (["/metal/scene/save", "s", "calm-1"], SceneSave(name="calm-1")),
        (["/metal/mute", "si", "drums", "1"], Mute(instrument="drums", muted=True)),
        (["/metal/mute", "sF", "bass"], Mute(instrument="bass", muted=False)),
        (["/metal/subscribe", "is", "9001", "immediate"], Subscribe(port=9001, mode="immediate")),
        (["/metal/subscribe"], Subscribe()),
        (["/metal/play"], Play()),
        (["/metal/stop"], Stop()),
        (["/metal/state"], StateRequest()),
        (
            ["/metal/ping", "ifsh", "7", "0.25", "hi", "1099511627776"],
            Ping(args=(7, 0.25, "hi", 2**40)),
        ),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else None,
)
def test_oscsend_packets_decode(command: list[str], expected: Message) -> None:
    assert decode(receive_from_oscsend(*command)) == expected


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        (["/metal/tension", "f", "1.5"], "value 1.5 out of range (0..1)"),
        (["/metal/tempo", "s", "fast"], "wrong type tag 's' for bpm"),
        (["/metal/mute", "Si", "drums", "1"], "wrong type tag 'S' for instrument"),
        (["/metal/mute", "si", "piano", "1"], "invalid instrument 'piano'"),
        (["/metal/scene/save", "s", "boss fight"], "invalid name 'boss fight'"),
        (["/metal/volume", "f", "1"], "unknown address"),
    ],
)
def test_oscsend_bad_packets_raise_protocol_error(command: list[str], reason: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode(receive_from_oscsend(*command))
    assert reason in caught.value.reason


# --- oscdump ------------------------------------------------------------------------------

LINE = re.compile(r"^([0-9a-f]{8})\.([0-9a-f]{8}) (\S+) ?(\S*) ?(.*)$")
PROBE = "/interop/ready"


class OscDump:
    """A running `oscdump -L PORT`; a thread moves its stdout lines into a queue, so that every
    read can have a deadline (a select on the pipe would miss lines already in Python's buffer).
    """

    def __init__(self, process: subprocess.Popen[str], port: int) -> None:
        self.process = process
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.queue: queue.Queue[str | None] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.queue.put(line.rstrip("\n"))
        self.queue.put(None)

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, ("127.0.0.1", self.port))

    def readline(self, timeout: float) -> str | None:
        """The next line, or None when none came within `timeout` seconds."""
        try:
            line = self.queue.get(timeout=timeout)
        except queue.Empty:
            return None
        if line is None:
            raise RuntimeError(f"oscdump exited (rc={self.process.poll()})")
        return line

    def lines(self, count: int, timeout: float = DEADLINE_S) -> list[str]:
        """The next `count` lines other than readiness probes."""
        found: list[str] = []
        deadline = time.monotonic() + timeout
        while len(found) < count:
            line = self.readline(max(0.0, deadline - time.monotonic()))
            if line is None:
                raise AssertionError(f"oscdump printed only {found} within {timeout}s")
            if PROBE not in line:
                found.append(line)
        return found

    def wait_ready(self) -> None:
        """oscdump prints nothing when it starts: probe until a probe comes back."""
        probe = encode_probe()
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            self.send(probe)
            line = self.readline(0.05)
            if line is not None and PROBE in line:
                while self.readline(0.1) is not None:  # drain duplicate probes
                    pass
                return
        raise AssertionError("oscdump did not start listening")


def encode_probe() -> bytes:
    return b"/interop/ready\x00\x00,\x00\x00\x00"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def oscdump() -> Iterator[OscDump]:
    port = free_udp_port()
    process = subprocess.Popen(
        ["oscdump", "-L", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    dump = OscDump(process, port)
    try:
        dump.wait_ready()
        yield dump
    finally:
        process.kill()
        process.wait(timeout=DEADLINE_S)
        dump.reader.join(timeout=DEADLINE_S)
        dump.sock.close()
        if process.stdout is not None:
            process.stdout.close()


def parse(line: str) -> tuple[int, str, str, list[object]]:
    """(ntp timetag, address, type tags, values) of one oscdump line."""
    match = LINE.match(line)
    assert match, line
    seconds, fraction, address, tags, rest = match.groups()
    words = shlex.split(rest)
    assert len(words) == len(tags), line
    values: list[object] = []
    for tag, word in zip(tags, words, strict=True):
        if tag in "ih":
            values.append(int(word))
        elif tag in "fd":
            values.append(float(word))
        else:
            values.append(word)
    return (int(seconds, 16) << 32) | int(fraction, 16), address, tags, values


def test_oscdump_prints_our_messages(oscdump: OscDump) -> None:
    cases: list[tuple[Message, str, list[object]]] = [
        (
            Note(instrument="drums", pitch=36, velocity=110, duration_s=0.125, beat=4.5),
            "siiff",
            ["drums", 36, 110, 0.125, 4.5],
        ),
        (PhraseStarted(instrument="bass", id=12, tension=0.75), "sif", ["bass", 12, 0.75]),
        (
            State(
                playing=True,
                tension=0.5,
                bpm=120.0,
                temperature=1.0,
                guitar_muted=False,
                bass_muted=True,
                drums_muted=False,
                scene="boss",
                key="E",
                transition="phrase",
            ),
            "ifffiiisss",
            [1, 0.5, 120.0, 1.0, 0, 1, 0, "boss", "E", "phrase"],
        ),
        (
            Pong(args=(7, 0.1, "hi"), server_time=1_893_456_000.125),
            "idsd",
            [7, 0.1, "hi", 1_893_456_000.125],
        ),
        (
            Error(refused_address="/metal/x", reason="unknown address"),
            "ss",
            ["/metal/x", "unknown address"],
        ),
        (Play(), "", []),
    ]
    for message, _, _ in cases:
        oscdump.send(encode(message))
    lines = oscdump.lines(len(cases))
    for line, (message, tags, values) in zip(lines, cases, strict=True):
        _, address, printed_tags, printed = parse(line)
        assert address == type(message).address
        assert printed_tags == tags
        for got, want in zip(printed, values, strict=True):
            # oscdump prints floats with %f (6 decimals); everything else exactly.
            assert got == (pytest.approx(want, abs=1e-6) if isinstance(want, float) else want)


def test_oscdump_reads_bundle_timetags(oscdump: OscDump) -> None:
    now = time.time()
    past = now - 10.123456789
    future = now + 0.3
    # liblo dispatches a past or "immediately" bundle at once and holds a future one until due,
    # printing each message with its bundle's timetag (an "immediately" one with the time now).
    oscdump.send(encode_bundle([Tension(value=0.25), Stop()], future))
    oscdump.send(encode_bundle([Tempo(bpm=90.0)], None))
    oscdump.send(encode_bundle([Play()], past))
    lines = [parse(line) for line in oscdump.lines(4)]

    assert [(a, v) for _, a, _, v in lines] == [
        ("/metal/tempo", [90.0]),
        ("/metal/play", []),
        ("/metal/tension", [0.25]),
        ("/metal/stop", []),
    ]
    immediate_ntp = lines[0][0]
    assert abs(immediate_ntp - unix_to_ntp(now)) < 5 * 2**32  # "now", not 1900
    assert lines[1][0] == unix_to_ntp(past)  # exact to 1/2**32 s
    assert lines[2][0] == lines[3][0] == unix_to_ntp(future)
    assert time.time() >= future - 0.01  # it was held until due
