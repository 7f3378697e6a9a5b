"""The legitimate client: a game that subscribes, plays, changes tension and pings, measured.

It runs in a process of its own (what floods or fuzzes the daemon must not slow the client's own
measurements) and measures with the kernel's receive timestamps (``SO_TIMESTAMPNS``): a bundle is
*late* when it reached the client's socket after its timetag, whatever the client process was
doing then. Beats are checked for continuity: within one run of the transport every beat arrives,
in order, none missing.
"""

from __future__ import annotations

import itertools
import multiprocessing
import random
import select
import socket
import struct
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from metalosc.protocol import (
    Beat,
    Bundle,
    Note,
    Ping,
    Play,
    Pong,
    ProtocolError,
    Subscribe,
    Tension,
    decode_packet,
    encode,
)

__all__ = ["Heard", "Listener"]

SO_TIMESTAMPNS = 35  # Linux; Python's socket module does not name it
_CONTEXT = multiprocessing.get_context("spawn")


@dataclass
class Heard:
    """What the client heard: ``bundles`` and ``notes`` received, ``late`` bundles (arrived after
    their timetag), the smallest ``margin`` (seconds between arrival and timetag), ``beats`` in
    order, the ``gaps`` in them (a beat missing within one run of the transport), ``restarts``
    (beat 0 again: the transport was stopped and started), and the ping round trips (seconds, to
    the socket) with the pings ``lost`` (no pong within a second)."""

    bundles: int = 0
    notes: int = 0
    late: int = 0
    margin: float = float("inf")
    beats: int = 0
    gaps: int = 0
    restarts: int = 0
    rtts: list[float] = field(default_factory=list)
    pings: int = 0
    lost: int = 0
    undecodable: int = 0
    first_beat_at: float | None = None
    beat_times: list[float] = field(default_factory=list)

    def ping_p(self, q: float) -> float:
        """The ``q``-th percentile (0..100) of the ping round trips, seconds (nan: none)."""
        if not self.rtts:
            return float("nan")
        ordered = sorted(self.rtts)
        return ordered[min(len(ordered) - 1, int(q / 100.0 * len(ordered)))]

    def longest_silence(self) -> float:
        """The longest time between two beats heard (seconds)."""
        times = self.beat_times
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


def _listen(
    server: tuple[str, int],
    bind: str,
    tension_every: float,
    ping_every: float,
    stop: Connection,
    out: Connection,
) -> None:
    heard = Heard()
    rng = random.Random(1)
    sent_pings: dict[int, float] = {}
    seq = 0
    last_beat: int | None = None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((bind, 0))
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)

        def send(message: Subscribe | Play | Tension | Ping) -> None:
            sock.sendto(encode(message), server)

        send(Subscribe())
        send(Play())
        next_tension = time.time() + tension_every
        next_ping = time.time() + ping_every
        next_renew = time.time() + 1.0
        while not stop.poll():
            now = time.time()
            if now >= next_tension:
                send(Tension(value=rng.random()))
                next_tension = now + tension_every
            if now >= next_renew:  # a game keeps playing whatever another peer asked
                send(Subscribe())
                send(Play())
                next_renew = now + 1.0
            if now >= next_ping:
                seq += 1
                sent_pings[seq] = time.time()
                send(Ping(args=(seq,)))
                next_ping = now + ping_every
            for k in [k for k, t in sent_pings.items() if now - t > 1.0]:
                del sent_pings[k]
                heard.lost += 1
            ready, _, _ = select.select([sock], [], [], 0.005)
            if not ready:
                continue
            data, ancillary, _, _ = sock.recvmsg(65536, 64)
            arrived = time.time()
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", payload[:16])
                    arrived = sec + nsec * 1e-9
            try:
                packet = decode_packet(data, outgoing=True)
            except ProtocolError:
                heard.undecodable += 1
                continue
            if isinstance(packet, Pong):
                if packet.args and isinstance(packet.args[0], int):
                    sent = sent_pings.pop(packet.args[0], None)
                    if sent is not None:
                        heard.rtts.append(arrived - sent)
                        heard.pings += 1
                continue
            if not isinstance(packet, Bundle) or packet.timetag is None:
                continue
            heard.bundles += 1
            margin = packet.timetag - arrived
            heard.margin = min(heard.margin, margin)
            if margin < 0:
                heard.late += 1
            for message in packet.messages:
                if isinstance(message, Note):
                    heard.notes += 1
                elif isinstance(message, Beat):
                    number = message.bar * 4 + message.beat
                    heard.beats += 1
                    heard.beat_times.append(packet.timetag)
                    if heard.first_beat_at is None:
                        heard.first_beat_at = arrived
                    if number == 0 and last_beat is not None:
                        heard.restarts += 1
                    elif last_beat is not None and number != last_beat + 1:
                        heard.gaps += 1
                    last_beat = number
    out.send(heard)


class Listener:
    """The client in its own process: subscribed to ``server`` from ``bind`` (a local address;
    a namespace's own when run inside one), a new tension every ``tension_every`` seconds, a
    ping every ``ping_every``. :meth:`stop` ends it and returns what it heard."""

    def __init__(
        self,
        server: tuple[str, int],
        bind: str = "127.0.0.1",
        tension_every: float = 2.0,
        ping_every: float = 0.05,
    ) -> None:
        self._stop_out, stop_in = _CONTEXT.Pipe()
        result_in, self._results = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(
            target=_listen,
            args=(server, bind, tension_every, ping_every, stop_in, result_in),
            daemon=True,
        )
        self.process.start()

    def stop(self, timeout: float = 30.0) -> Heard:
        """Stop listening; what was heard."""
        self._stop_out.send(True)
        if not self._results.poll(timeout):
            self.process.kill()
            raise TimeoutError("the listener did not report")
        heard: Heard = self._results.recv()
        self.process.join(10)
        return heard
