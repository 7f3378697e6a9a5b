"""The daemon as ops run it: the README's serve command stopped by its whole process group, and
the commands of the installed console script (``metalosc ping``, ``config check``, ``config show``).

Rules: real processes (``./dev serve`` on the session's tiny bundles, ``.venv/bin/metalosc``),
real sockets on 127.0.0.1 and a real ``NOTIFY_SOCKET``; every subprocess is killed in a ``finally``
and every wait has a deadline. Nothing asserts a duration.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest
from prometheus_client.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
METALOSC = Path(sys.executable).with_name("metalosc")


class Lines:
    """A process's output lines, moved into a queue by a thread so every read can time out."""

    def __init__(self, stream: IO[str]) -> None:
        self.queue: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.pump = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self.pump.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self.queue.put(line.rstrip("\n"))

    def until(self, predicate: Callable[[str], bool], timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.queue.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if predicate(line):
                return line
        raise AssertionError(f"nothing matching within {timeout}s; last lines: {self.seen[-5:]}")

    def rest(self, timeout: float) -> list[str]:
        """Every line, once the stream has ended (the process exited) or ``timeout`` passed."""
        self.pump.join(timeout)
        while not self.queue.empty():
            self.seen.append(self.queue.get_nowait())
        return self.seen


def record(line: str) -> dict[str, object] | None:
    try:
        parsed = json.loads(line)
    except json.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def event(line: str) -> str | None:
    parsed = record(line)
    return None if parsed is None else str(parsed.get("event"))


def notifications(sock: socket.socket, until: str, timeout: float) -> list[str]:
    """``sd_notify`` datagrams received until one with the field ``until``."""
    got: list[str] = []
    deadline = time.monotonic() + timeout
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            datagram = sock.recv(4096).decode()
        except TimeoutError:
            break
        got.append(datagram)
        if until in datagram.splitlines():
            return got
    raise AssertionError(f"no {until} within {timeout}s; got {got}")


def group_members(pgid: int) -> list[int]:
    """Processes whose process group is ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[2]) == pgid:
            members.append(int(entry.name))
    return members


def test_sigterm_to_the_process_group_of_dev_serve_is_one_graceful_stop(
    tiny_bundles: Path, free_udp_port: int
) -> None:
    """``kill -- -PGID`` (``timeout``, a supervisor that kills the group) on ``./dev serve``:
    the daemon is the process that receives it, once; it sends ``STOPPING=1``, stops gracefully
    and exits 0, its workers with it. On the way: nothing raw on the console at start, a ping
    answered, a metrics scrape that shows the model workers decoding."""
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    address = f"metalosc-test-{os.getpid()}-{free_udp_port}"
    notify.bind("\0" + address)
    env = {
        **os.environ,
        "NOTIFY_SOCKET": "@" + address,
        "METALOSC_LOG_FORMAT": "json",
        "METALOSC_METRICS_PORT": "0",
    }
    command = [str(ROOT / "dev"), "serve", "--models", str(tiny_bundles), "--port"]
    command += [str(free_udp_port), "--bpm", "300", "--buffer-depth", "4", "--batch-size", "4"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # a process group of its own, as under a supervisor
    )
    pgid = process.pid
    try:
        assert process.stderr is not None
        logs = Lines(process.stderr)
        assert "READY=1" in notifications(notify, "READY=1", timeout=300)[-1]
        logs.until(lambda line: event(line) == "ready", timeout=30)
        # ./dev serve became the daemon: the process signalled is the one that plays
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")
        assert Path(cmdline[1].decode()).name == "metalosc"
        assert cmdline[2] == b"serve"
        assert len(group_members(pgid)) >= 4  # the daemon and its three model workers

        ping = subprocess.run(
            [str(METALOSC), "ping", f"127.0.0.1:{free_udp_port}"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ping.returncode == 0, ping.stderr
        assert ping.stdout.startswith(f"pong from 127.0.0.1:{free_udp_port}")

        listening = next(line for line in logs.seen if event(line) == "metrics_listening")
        metrics = record(listening)
        assert metrics is not None
        url = f"http://127.0.0.1:{metrics['port']}/metrics"
        with urllib.request.urlopen(url, timeout=30) as response:
            text = response.read().decode()
        samples = {
            (s.name, s.labels.get("process") or s.labels.get("instrument")): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }
        for instrument in ("guitar", "bass", "drums"):
            assert samples[("metalosc_phrases_decoded_total", instrument)] > 0
            assert samples[("metalosc_process_resident_memory_bytes", instrument)] > 1e7
        assert samples[("metalosc_ready", None)] == 1

        os.killpg(pgid, signal.SIGTERM)
        assert "STOPPING=1" in notifications(notify, "STOPPING=1", timeout=30)[-1]
        assert process.wait(timeout=60) == 0
        lines = logs.rest(timeout=10)
        deadline = time.monotonic() + 30
        while group_members(pgid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert group_members(pgid) == []
    finally:
        if process.poll() is None:
            os.killpg(pgid, signal.SIGKILL)
        process.wait(timeout=30)
        notify.close()
    events = [record(line) for line in lines]
    # ./dev's own "==> syncing" line aside, everything on the console is a structured event.
    raw = [line for line, parsed in zip(lines, events, strict=True) if parsed is None]
    assert [line for line in raw if "==>" not in line] == []
    stops = [e for e in events if e and e["event"] == "signal_received"]
    assert (stops[0]["signal"], stops[0]["action"]) == ("SIGTERM", "stop")
    assert all(e["action"] == "ignored" for e in stops[1:])
    names = [e["event"] for e in events if e]
    assert "shutdown_forced" not in names
    assert "stopped" in names
    tensorflow = [e for e in events if e and e["event"] == "third_party_warning"]
    assert all(e["level"] == "debug" for e in tensorflow)  # not even shown at info


def test_config_check_and_show_from_the_console_script(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text(f'port = 9100\nmodels = "{ROOT / "models" / "default"}"\n')
    bad = tmp_path / "bad.toml"
    bad.write_text("port = 70000\nlookahed = 0.2\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("METALOSC_")}

    def metalosc(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(METALOSC), *args], capture_output=True, text=True, timeout=120, env=env
        )

    checked = metalosc("config", "check", str(good))
    assert checked.returncode == 0, checked.stderr
    assert "OK" in checked.stdout
    refused = metalosc("config", "check", str(bad))
    assert refused.returncode == 2
    assert "port" in refused.stderr
    assert "less than or equal to 65535" in refused.stderr
    assert "lookahed: not a setting" in refused.stderr
    shown = metalosc("config", "show", "--config", str(good), "--bpm", "140")
    assert shown.returncode == 0, shown.stderr
    lines = {line.split(" ")[0]: line for line in shown.stdout.splitlines()}
    assert lines["port"].startswith("port = 9100")
    assert lines["port"].endswith(f"# file {good}")
    assert lines["bpm"].endswith("# flag --bpm")
    assert lines["lookahead"].endswith("# default")
