"""Flooders: peers sending hostile and valid packets as fast as one process can, for a while."""

from __future__ import annotations

import multiprocessing
import socket
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection

__all__ = ["Flooders"]

_CONTEXT = multiprocessing.get_context("spawn")


def _flood(
    server: tuple[str, int], bind: str, packets: Sequence[bytes], seconds: float, out: Connection
) -> None:
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((bind, 0))
        sock.setblocking(False)
        deadline = time.monotonic() + seconds
        n = len(packets)
        while time.monotonic() < deadline:
            for k in range(256):  # the clock is read every 256 datagrams, not every one
                # a plain try costs less than contextlib.suppress in the hottest loop there is
                try:  # noqa: SIM105
                    sock.sendto(packets[(sent + k) % n], server)
                except OSError:  # a full send buffer, an ICMP error: keep going
                    pass
            sent += 256
    out.send(sent)


class Flooders:
    """``peers`` processes, peer ``k`` sending from ``hosts[k]`` the ``packets`` round and round
    to ``server`` for ``seconds``; :meth:`join` returns how many each sent."""

    def __init__(
        self,
        server: tuple[str, int],
        hosts: Sequence[str],
        packets: Sequence[bytes],
        seconds: float,
    ) -> None:
        self._results: list[Connection] = []
        self._processes = []
        for host in hosts:
            result_in, result_out = _CONTEXT.Pipe(duplex=False)
            process = _CONTEXT.Process(
                target=_flood, args=(server, host, list(packets), seconds, result_out), daemon=True
            )
            process.start()
            self._processes.append(process)
            self._results.append(result_in)

    def join(self, timeout: float) -> list[int]:
        """Wait for every flooder; what each sent (datagrams)."""
        sent = []
        for process, result in zip(self._processes, self._results, strict=True):
            sent.append(result.recv() if result.poll(timeout) else 0)
            process.join(5)
            if process.is_alive():
                process.kill()
        return sent
