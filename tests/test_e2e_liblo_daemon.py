"""End to end with an independent OSC implementation: the real ``metalosc serve`` process driven
by liblo's ``oscsend`` and heard through liblo's ``oscdump``.

Rules: real processes and real sockets on 127.0.0.1; every subprocess is killed in a ``finally``;
every wait has a deadline; skipped (with the reason) only when liblo's tools are not installed.
oscdump holds a timetagged bundle until its time, so what it prints arrives as it would sound.
"""

from __future__ import annotations

import json
import os
import queue
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from metalosc.server import Settings

pytestmark = [
    pytest.mark.slow,
    pytest.mark.interop,
    pytest.mark.skipif(
        shutil.which("oscsend") is None or shutil.which("oscdump") is None,
        reason="liblo-tools (oscsend/oscdump) not installed: apt-get install liblo-tools",
    ),
]

METALOSC = Path(sys.executable).with_name("metalosc")
REALTIME_PRIORITY = int(Settings.model_fields["realtime_priority"].default)
LINE = re.compile(r"^([0-9a-f]{8})\.([0-9a-f]{8}) (/metal/\S+) (\S*)(.*)$")


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


def log_event(line: str) -> str | None:
    try:
        return str(json.loads(line).get("event"))
    except (json.JSONDecodeError, AttributeError):
        return None


def oscsend(port: int, address: str, types: str = "", *args: str) -> None:
    subprocess.run(
        ["oscsend", "localhost", str(port), address, types, *args], check=True, timeout=10
    )


@pytest.fixture
def daemon(
    tiny_bundles: Path, free_udp_port: int
) -> Iterator[tuple[int, Lines, subprocess.Popen[str]]]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "METALOSC_LOG_FORMAT": "json"}
    env["METALOSC_REALTIME_PRIORITY"] = str(REALTIME_PRIORITY)  # as shipped
    process = subprocess.Popen(
        [
            str(METALOSC),
            "serve",
            "--models",
            str(tiny_bundles),
            "--port",
            str(free_udp_port),
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
        yield free_udp_port, logs, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


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

        oscsend(port, "/metal/tension", "f", "0.9")
        oscsend(port, "/metal/tempo", "f", "280")
        heard.until(lambda line: " /metal/state " in line and " 280.0" in line, timeout=10)
        oscsend(port, "/metal/mute", "si", "drums", "1")
        oscsend(port, "/metal/scene/save", "s", "verse")
        oscsend(port, "/metal/interpolate", "si", "verse", "2")
        heard.until(lambda line: " /metal/state " in line and '"verse"' in line, timeout=10)

        # bad input: refused with a log line (the /metal/error goes to oscsend's own port)
        oscsend(port, "/metal/tension", "s", "loud")
        rejected = logs.until(lambda line: log_event(line) == "osc_rejected", timeout=10)
        assert json.loads(rejected)["address"] == "/metal/tension"

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
    daemon: tuple[int, Lines, subprocess.Popen[str]],
) -> None:
    _, logs, process = daemon
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
