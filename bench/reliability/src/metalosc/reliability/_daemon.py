"""The daemon as the suite runs it: ``metalosc serve`` in its own process, read through its logs.

Everything the suite needs from the daemon it learns the way an operator would: the JSON log lines
on stderr (``ready``, ``model_worker_started`` with each worker's pid, ``model_worker_restarted``,
``subscriber_gone``, and at the end ``stopped`` with every counter), its process (signals, RSS
from ``/proc``) and the network.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["DaemonError", "LiveDaemon", "free_port"]

Event = dict[str, Any]


class DaemonError(Exception):
    """The daemon did not do what was waited for (the message says what, with its last logs)."""


def free_port(host: str = "127.0.0.1") -> int:
    """A UDP port nobody listens on right now at ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def metalosc_command() -> str:
    """The ``metalosc`` entry point of the environment this runs in."""
    return str(Path(sys.executable).parent / "metalosc")


@dataclass
class LiveDaemon:
    """``metalosc serve --models models --port port [args]`` with ``env`` added, optionally run
    through ``wrap`` (e.g. inside a network namespace). Logs are JSON lines, kept in
    ``events`` with the time each was read (``_at``, unix seconds). What it writes (the takes a
    probe records) goes to a state directory of its own, removed when it stops."""

    models: Path
    port: int
    args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    wrap: Callable[[list[str]], list[str]] = lambda argv: argv
    events: list[Event] = field(default_factory=list)
    process: subprocess.Popen[str] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _state_dir: tempfile.TemporaryDirectory[str] = field(
        default_factory=lambda: tempfile.TemporaryDirectory(prefix="metalosc-reliability-")
    )

    def start(self, timeout: float = 300.0) -> float:
        """Start it and wait for ``ready``; the seconds that took."""
        argv = [
            metalosc_command(),
            "serve",
            "--models",
            str(self.models),
            "--port",
            str(self.port),
            "--log-format",
            "json",
            *self.args,
        ]
        # as deployed: the event loop under SCHED_FIFO (a test runner may have turned it off
        # for daemons in its own process, which is no concern for one in a process of its own)
        env = {
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "METALOSC_REALTIME_PRIORITY": "10",
            "METALOSC_STATE_DIR": self._state_dir.name,
            **self.env,
        }
        started = time.time()
        self.process = subprocess.Popen(
            self.wrap(argv),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.process.stderr is not None
        threading.Thread(target=self._read, args=(self.process.stderr,), daemon=True).start()
        self.wait_for("ready", timeout=timeout, since=started)
        return time.time() - started

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                event = {"event": "_text", "text": line.rstrip()}
            if not isinstance(event, dict):
                continue
            event["_at"] = time.time()
            with self._lock:
                self.events.append(event)

    @property
    def pid(self) -> int:
        """The daemon's process id (the ``metalosc`` process, not a wrapper)."""
        ready = self.last("listening")
        if ready is not None and "pid" in ready:
            return int(ready["pid"])
        assert self.process is not None
        return self.process.pid

    def find(self, name: str, since: float = 0.0, **fields: object) -> list[Event]:
        """The events called ``name`` read at or after ``since`` whose ``fields`` match."""
        with self._lock:
            return [
                e
                for e in self.events
                if e.get("event") == name
                and e["_at"] >= since
                and all(e.get(k) == v for k, v in fields.items())
            ]

    def events_named(self, prefix: str) -> list[Event]:
        """The events whose names start with ``prefix``, in the order they were read."""
        with self._lock:
            return [e for e in self.events if str(e.get("event", "")).startswith(prefix)]

    def last(self, name: str) -> Event | None:
        """The last event called ``name``."""
        found = self.find(name)
        return found[-1] if found else None

    def wait_for(self, name: str, timeout: float, since: float = 0.0, **fields: object) -> Event:
        """The first event ``name`` (with ``fields``) read since ``since``; raises
        :class:`DaemonError` after ``timeout`` seconds or when the daemon exits first."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            found = self.find(name, since, **fields)
            if found:
                return found[0]
            if self.process is not None and self.process.poll() is not None:
                time.sleep(0.2)  # the reader may still be behind
                found = self.find(name, since, **fields)
                if found:
                    return found[0]
                raise DaemonError(
                    f"the daemon exited ({self.process.returncode}) before {name}: {self.tail()}"
                )
            time.sleep(0.02)
        raise DaemonError(f"no {name} within {timeout} s: {self.tail()}")

    def tail(self, n: int = 8) -> str:
        """The last ``n`` log events, for error messages."""
        with self._lock:
            return "; ".join(
                json.dumps({k: v for k, v in e.items() if k != "_at"}) for e in self.events[-n:]
            )

    def workers(self, since: float = 0.0) -> dict[str, int]:
        """The pid of each model worker started since ``since``, by instrument (the latest)."""
        return {str(e["worker"]): int(e["pid"]) for e in self.find("model_worker_started", since)}

    def rss_mib(self) -> float:
        """The daemon's resident memory now (MiB; its workers not included)."""
        assert self.process is not None
        with open(f"/proc/{self.process.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
        return 0.0

    def kernel_drops(self) -> int:
        """Datagrams the kernel dropped for the daemon's UDP socket (a full receive buffer), as
        ``/proc/PID/net/udp`` counts them in the daemon's own network namespace; read it before
        the daemon stops (its socket's row goes with it)."""
        drops = 0
        for table in ("udp", "udp6"):
            try:
                lines = Path(f"/proc/{self.pid}/net/{table}").read_text().splitlines()[1:]
            except OSError:
                continue
            for line in lines:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == self.port:
                    drops += int(fields[-1])
        return drops

    def signal(self, signum: int) -> None:
        """Send ``signum`` to the daemon."""
        assert self.process is not None
        self.process.send_signal(signum)

    def stop(self, timeout: float = 30.0) -> dict[str, int]:
        """SIGTERM, wait for it to exit, and return its counters (from ``stopped``)."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
                raise DaemonError(f"did not stop within {timeout} s: {self.tail()}") from None
        time.sleep(0.2)  # the reader thread drains the last lines
        self._state_dir.cleanup()
        stopped = self.last("stopped")
        if stopped is None:
            raise DaemonError(f"exited {self.process.returncode} without 'stopped': {self.tail()}")
        return {str(k): int(v) for k, v in stopped.get("counts", {}).items()}

    def kill(self) -> None:
        """SIGKILL, and wait."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._state_dir.cleanup()
