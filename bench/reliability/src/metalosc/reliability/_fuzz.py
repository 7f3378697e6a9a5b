"""The fuzzer: libFuzzer (through atheris) driving hostile packets into the live daemon.

Run as its own process (``python -m metalosc.reliability._fuzz``; libFuzzer ends the process when
done). Coverage comes from the daemon's own decoder run here on every input — the protocol and
python-osc are instrumented — so libFuzzer's mutator learns the OSC grammar the daemon parses; every
input is also sent, as one datagram, to the daemon. The corpus starts from hypothesis's
grammar-aware packets (:mod:`._packets`).

Flow control: a datagram the kernel drops for a full socket buffer would never be counted by the
daemon, so every ``window`` packets a *barrier* — a ``/metal/ping`` from a subscribed control socket
on another host address, answered only after every packet queued before it — keeps at most one
window in flight. The fuzzing socket is on its own loopback address (127.0.0.2 by default), so
nothing it subscribes can take over the control socket's or the listener's subscription.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

import atheris

with atheris.instrument_imports(include=["metalosc.protocol", "pythonosc"]):
    from metalosc.protocol import Ping, Pong, ProtocolError, Subscribe, decode_packet, encode

MAX_LEN = 1024
"""Longest input libFuzzer makes (bytes): far below the daemon's ``max_packet``, so a fuzzed
packet is parsed, not refused for its size."""


WINDOW = 64
"""Packets in flight between barriers: 64 of at most :data:`MAX_LEN` bytes take at most about
170 KiB of the daemon's receive buffer (the kernel counts up to ~2.6 KiB for such a datagram on
loopback), which fits Linux's default of 208 KiB, so the kernel never has to drop one of them."""


class _Fuzz:
    def __init__(self, server: tuple[str, int], bind: str, control: str, runs: int, window: int):
        self.server = server
        self.runs = runs
        self.window = window
        self.sent = 0
        self.malformed = 0
        self.barrier_timeouts = 0
        self.started = time.time()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((bind, 0))
        self.control = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.control.bind((control, 0))
        self.control.settimeout(0.5)
        self.control_sent = 0
        self._seq = 0
        self._send_control(encode(Subscribe(mode="immediate")))
        self.barrier()

    def _send_control(self, data: bytes) -> None:
        self.control.sendto(data, self.server)
        self.control_sent += 1

    def barrier(self, timeout: float = 10.0) -> None:
        """Wait until the daemon has handled everything sent so far (its pong to a ping sent
        after it); drains what the control socket hears meanwhile."""
        self._seq += 1
        self._send_control(encode(Ping(args=(self._seq,))))
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                data = self.control.recv(65536)
            except TimeoutError:
                continue
            try:
                packet = decode_packet(data, outgoing=True)
            except ProtocolError:
                continue
            if isinstance(packet, Pong) and packet.args and packet.args[0] == self._seq:
                return
        self.barrier_timeouts += 1

    def one(self, data: bytes) -> None:
        try:
            decode_packet(data)
        except ProtocolError:
            self.malformed += 1
        with contextlib.suppress(OSError):  # e.g. a pending ICMP error from an earlier datagram
            self.sock.sendto(data, self.server)
        self.sent += 1
        if self.sent % self.window == 0:
            self.barrier()
            if self.sent % (self.window * 64) == 0:
                self._send_control(encode(Subscribe(mode="immediate")))  # renew the lease
        if self.sent == self.runs:
            self.barrier()

    def result(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "malformed": self.malformed,
            "control_sent": self.control_sent,
            "barrier_timeouts": self.barrier_timeouts,
            "seconds": time.time() - self.started,
        }


def main(argv: list[str] | None = None) -> None:
    """Fuzz: ``--server HOST:PORT --runs N --corpus DIR --out FILE`` (see ``--help``)."""
    parser = argparse.ArgumentParser(prog="python -m metalosc.reliability._fuzz")
    parser.add_argument("--server", required=True)
    parser.add_argument("--bind", default="127.0.0.2")
    parser.add_argument("--control", default="127.0.0.1")
    parser.add_argument("--runs", type=int, required=True)
    parser.add_argument("--window", type=int, default=WINDOW)
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    host, port = args.server.rsplit(":", 1)
    fuzz = _Fuzz((host, int(port)), args.bind, args.control, args.runs, args.window)

    def test_one_input(data: bytes) -> None:
        fuzz.one(data)
        # after every barrier: libFuzzer ends the process without unwinding, so the last
        # figures must already be on disk
        if fuzz.sent % fuzz.window == 0 or fuzz.sent == fuzz.runs:
            tmp = args.out.with_suffix(".tmp")
            tmp.write_text(json.dumps(fuzz.result()))
            os.replace(tmp, args.out)

    atheris.Setup(
        [
            sys.argv[0],
            f"-runs={args.runs}",
            f"-max_len={MAX_LEN}",
            f"-seed={args.seed}",
            "-print_final_stats=0",
            "-print_pcs=0",
            "-close_fd_mask=1",
            # crash, timeout and slow-unit files go beside the result, not into the working dir
            f"-artifact_prefix={args.out.parent}/",
            str(args.corpus),
        ],
        test_one_input,
    )
    atheris.Fuzz()


if __name__ == "__main__":
    main()
