"""End to end with an independent OSC implementation: the real ``metalosc serve`` process driven
by liblo's ``oscsend`` and heard through liblo's ``oscdump``.

Rules: real processes and real sockets on 127.0.0.1; every subprocess is killed in a ``finally``;
every wait has a deadline. liblo's tools are required: without them the tests fail naming the
package (the root conftest; ``METALOSC_ALLOW_MISSING_TOOLS=1`` makes them skip instead).
oscdump holds a timetagged bundle until its time, so what it prints arrives as it would sound.
"""

from __future__ import annotations

import json
import os
import queue
import re
import resource
import selectors
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest
from metalosc.protocol import Beat, Bundle, Note, Subscribe, Unsubscribe, decode_packet, encode
from metalosc.server import Settings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.interop,
    pytest.mark.requires_tools("oscsend", "oscdump"),
]

METALOSC = Path(sys.executable).with_name("metalosc")
REALTIME_PRIORITY = int(Settings.model_fields["realtime_priority"].default)
LINE = re.compile(r"^([0-9a-f]{8})\.([0-9a-f]{8}) (/metal/\S+) (\S*)(.*)$")
NTP_UNIX_OFFSET = 2208988800  # seconds from 1900 (NTP's epoch) to 1970
LOOKAHEAD = float(Settings.model_fields["lookahead"].default)  # bundles are sent this early


class Lines:
    """A process's output lines, moved into a queue by a thread so every read can time out."""

    def __init__(self, stream: IO[str]) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.queue.put(line.rstrip("\n"))

    def until(self, predicate: object, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.queue.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if callable(predicate) and predicate(line):
                return line
        raise AssertionError(f"nothing matching within {timeout}s; last lines: {self.seen[-5:]}")

    def during(self, seconds: float) -> list[str]:
        """Every line that arrives in the next ``seconds`` (to check that something stopped)."""
        deadline = time.monotonic() + seconds
        lines: list[str] = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.queue.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            lines.append(line)
        return lines


@dataclass(frozen=True)
class Event:
    """One line oscdump printed: when it sounds (unix seconds), its address and arguments."""

    unix: float
    address: str
    args: list[str]


def event(line: str) -> Event | None:
    match = LINE.match(line)
    if match is None:
        return None
    seconds, fraction, address, _, args = match.groups()
    ntp = int(seconds, 16) + int(fraction, 16) / 2**32
    return Event(ntp - NTP_UNIX_OFFSET, address, shlex.split(args))


def log_event(line: str) -> str | None:
    try:
        return str(json.loads(line).get("event"))
    except (json.JSONDecodeError, AttributeError):
        return None


def oscsend(port: int, address: str, types: str = "", *args: str) -> None:
    subprocess.run(
        ["oscsend", "localhost", str(port), address, types, *args], check=True, timeout=10
    )


@contextmanager
def running_daemon(models: Path, port: int) -> Iterator[tuple[int, Lines, subprocess.Popen[str]]]:
    """``metalosc serve`` on ``port``, as shipped (JSON logs, real-time priority), until ready."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "METALOSC_LOG_FORMAT": "json"}
    env["METALOSC_REALTIME_PRIORITY"] = str(REALTIME_PRIORITY)  # as shipped
    process = subprocess.Popen(
        [
            str(METALOSC),
            "serve",
            "--models",
            str(models),
            "--port",
            str(port),
            "--bpm",
            "300",
            "--buffer-depth",
            "4",
            "--batch-size",
            "4",
            "--seed",
            "3",
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert process.stderr is not None
        logs = Lines(process.stderr)
        logs.until(lambda line: log_event(line) == "ready", timeout=180)
        yield port, logs, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


@pytest.fixture
def daemon(
    tiny_bundles: Path, free_udp_port: int
) -> Iterator[tuple[int, Lines, subprocess.Popen[str]]]:
    """A daemon of this test's own (the test may stop it)."""
    with running_daemon(tiny_bundles, free_udp_port) as started:
        yield started


@pytest.fixture(scope="module")
def shared_daemon(tiny_bundles: Path) -> Iterator[tuple[int, Lines, subprocess.Popen[str]]]:
    """One daemon for the tests that only listen to it and look at it (each start costs half a
    minute of model loading)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    with running_daemon(tiny_bundles, port) as started:
        yield started


def test_liblo_client_drives_the_daemon(
    daemon: tuple[int, Lines, subprocess.Popen[str]], tmp_path: Path
) -> None:
    port, logs, process = daemon
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        dump_port = probe.getsockname()[1]
    dump = subprocess.Popen(["oscdump", "-L", str(dump_port)], stdout=subprocess.PIPE, text=True)
    try:
        assert dump.stdout is not None
        heard = Lines(dump.stdout)
        time.sleep(0.3)  # oscdump prints nothing when it starts listening
        oscsend(port, "/metal/subscribe", "i", str(dump_port))
        heard.until(lambda line: " /metal/state " in line, timeout=10)

        phrases: dict[str, int] = {"guitar": 0, "bass": 0, "drums": 0}
        instruments: set[str] = set()

        def tally(line: str) -> bool:
            match = LINE.match(line)
            if match is None:
                return False
            _, _, address, _, args = match.groups()
            if address == "/metal/phrase":
                phrases[args.split()[0].strip('"')] += 1
            if address == "/metal/note":
                instruments.add(args.split()[0].strip('"'))
            return min(phrases.values()) >= 4

        heard.until(tally, timeout=30)
        assert instruments == {"guitar", "bass", "drums"}
        bundle_times = [
            int(m.group(1), 16) - 2208988800
            for line in heard.seen
            if (m := LINE.match(line)) and m.group(3) == "/metal/note"
        ]
        assert all(abs(t - time.time()) < 60 for t in bundle_times)  # NTP timetags, now-ish

        # Tension: the phrase already chosen may still start at the old tension; every later
        # one carries the new one. (The tiny test models play about as densely at any tension,
        # so density is checked on the fake models, in server/tests.)
        oscsend(port, "/metal/tension", "f", "0.9")
        tension_from = len(heard.seen)

        def phrase_tensions() -> dict[str, list[float]]:
            out: dict[str, list[float]] = {"guitar": [], "bass": [], "drums": []}
            for line in heard.seen[tension_from:]:
                if (e := event(line)) and e.address == "/metal/phrase":
                    out[e.args[0]].append(float(e.args[2]))
            return out

        heard.until(lambda _: min(map(len, phrase_tensions().values())) >= 3, timeout=20)
        for instrument, tensions in phrase_tensions().items():
            assert tensions[1:] == pytest.approx([0.9] * (len(tensions) - 1), abs=1e-6), instrument

        oscsend(port, "/metal/tempo", "f", "280")
        heard.until(lambda line: " /metal/state " in line and " 280.0" in line, timeout=10)

        # Mute: a bundle sent after the mute has no drum notes; one sent before it (at most the
        # look-ahead before it sounds) may, so only notes sounding later than that are checked.
        oscsend(port, "/metal/mute", "si", "drums", "1")
        heard.until(
            lambda line: (
                (e := event(line)) is not None and e.address == "/metal/state" and e.args[6] == "1"
            ),
            timeout=10,
        )
        muted_at = time.time()
        muted_from = len(heard.seen)
        drum_phrases = 0

        def two_drum_phrases(line: str) -> bool:
            nonlocal drum_phrases
            heard_event = event(line)
            if heard_event and heard_event.address == "/metal/phrase":
                drum_phrases += heard_event.args[0] == "drums"
            return drum_phrases >= 2

        heard.until(two_drum_phrases, timeout=20)
        after_mute = [e for line in heard.seen[muted_from:] if (e := event(line))]
        late_drums = [
            e
            for e in after_mute
            if e.address == "/metal/note"
            and e.args[0] == "drums"
            and e.unix > muted_at + LOOKAHEAD + 0.05
        ]
        assert late_drums == []
        assert {e.args[0] for e in after_mute if e.address == "/metal/note"} >= {"guitar", "bass"}

        oscsend(port, "/metal/scene/save", "s", "verse")
        oscsend(port, "/metal/interpolate", "si", "verse", "2")
        heard.until(lambda line: " /metal/state " in line and '"verse"' in line, timeout=10)

        # bad input: refused with a log line (the /metal/error goes to oscsend's own port)
        oscsend(port, "/metal/tension", "s", "loud")
        rejected = logs.until(lambda line: log_event(line) == "osc_rejected", timeout=10)
        assert json.loads(rejected)["address"] == "/metal/tension"

        # Unsubscribe. A subscription belongs to the source port that asked, and every oscsend
        # run has a new one, so a game's socket takes the subscription over (same destination)
        # and then unsubscribes from that same socket: oscdump hears nothing sent after it.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as game:
            game.bind(("127.0.0.1", 0))
            game.sendto(encode(Subscribe(port=dump_port)), ("127.0.0.1", port))
            logs.until(lambda line: log_event(line) == "subscribed", timeout=10)
            game.sendto(encode(Unsubscribe()), ("127.0.0.1", port))
            logs.until(lambda line: log_event(line) == "unsubscribed", timeout=10)
            unsubscribed_at = time.time()
        silence = [e for line in heard.during(2.0) if (e := event(line))]  # > a phrase at 280
        assert [e for e in silence if e.unix > unsubscribed_at + LOOKAHEAD + 0.05] == []

        # graceful stop on SIGTERM
        process.send_signal(signal.SIGTERM)
        logs.until(lambda line: log_event(line) == "signal_received", timeout=10)
        logs.until(lambda line: log_event(line) == "stopped", timeout=30)
        assert process.wait(timeout=30) == 0
    finally:
        dump.kill()
        dump.wait(timeout=10)


def _policy(pid: int, tid: int | None = None) -> int:
    """The scheduling policy of a thread (``tid``) or a process's main thread, from /proc."""
    stat = Path(f"/proc/{pid}/task/{tid or pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[38])  # field 41: policy


def _realtime_allowed() -> bool:
    soft, _ = resource.getrlimit(resource.RLIMIT_RTPRIO)
    return os.geteuid() == 0 or soft == resource.RLIM_INFINITY or soft >= REALTIME_PRIORITY


def test_only_the_event_loop_runs_at_realtime_priority(
    shared_daemon: tuple[int, Lines, subprocess.Popen[str]],
) -> None:
    _, logs, process = shared_daemon
    events = [log_event(line) for line in logs.seen]
    if not _realtime_allowed():
        assert "realtime_unavailable" in events
        return
    assert "realtime_enabled" in events
    pid = process.pid
    assert _policy(pid) == os.SCHED_FIFO
    threads = [int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid]
    assert threads  # trio's worker threads, the pipe readers
    assert {_policy(pid, t) for t in threads} == {os.SCHED_OTHER}
    workers = [  # children are listed under the thread that started them
        int(child)
        for task in os.listdir(f"/proc/{pid}/task")
        for child in Path(f"/proc/{pid}/task/{task}/children").read_text().split()
    ]
    assert len(workers) >= 3  # one model worker per instrument (plus multiprocessing's tracker)
    assert {_policy(w) for w in workers} == {os.SCHED_OTHER}


def test_an_immediate_mode_subscriber_hears_each_cue_when_it_sounds(
    shared_daemon: tuple[int, Lines, subprocess.Popen[str]],
) -> None:
    """``/metal/subscribe i PORT s immediate`` from liblo: every cue then comes as a bundle
    timetagged "immediately", sent when it sounds. A second listener subscribed in bundle mode
    hears the same beats timetagged ahead of time, which says when each one sounds."""
    port, _, _ = shared_daemon
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as immediate,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as ahead,
        selectors.DefaultSelector() as selector,
    ):
        for sock in (immediate, ahead):
            sock.bind(("127.0.0.1", 0))
            sock.setblocking(False)
            selector.register(sock, selectors.EVENT_READ)
        oscsend(port, "/metal/subscribe", "is", str(immediate.getsockname()[1]), "immediate")
        ahead.sendto(encode(Subscribe()), ("127.0.0.1", port))

        arrivals: dict[tuple[int, int], float] = {}  # beat -> when it arrived, immediate mode
        sounds: dict[tuple[int, int], float] = {}  # beat -> its bundle-mode timetag
        instruments: set[str] = set()
        deadline = time.monotonic() + 20
        while len(arrivals.keys() & sounds.keys()) < 16 or len(instruments) < 3:
            assert time.monotonic() < deadline, (len(arrivals), len(sounds), instruments)
            for key, _ in selector.select(timeout=1.0):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                data = sock.recv(65536)
                arrived = time.time()
                packet = decode_packet(data, outgoing=True)
                if not isinstance(packet, Bundle):
                    continue  # the /metal/state answering the subscription
                beats = [(m.bar, m.beat) for m in packet.messages if isinstance(m, Beat)]
                if sock is immediate:
                    assert data[8:16] == (1).to_bytes(8, "big")  # the timetag "immediately"
                    instruments |= {m.instrument for m in packet.messages if isinstance(m, Note)}
                    arrivals.update(dict.fromkeys(beats, arrived))
                else:
                    assert packet.timetag is not None
                    sounds.update(dict.fromkeys(beats, packet.timetag))
        ahead.sendto(encode(Unsubscribe()), ("127.0.0.1", port))
    assert instruments == {"guitar", "bass", "drums"}
    both = sorted(arrivals.keys() & sounds.keys())
    # not sent ahead of time (bundle mode sends each beat a look-ahead early)
    early = [
        (beat, sounds[beat] - arrivals[beat])
        for beat in both
        if arrivals[beat] < sounds[beat] - 0.01
    ]
    assert early == []
