"""The amplification probe: bytes the daemon sends a stranger for each datagram it sent.

A stranger (a peer that never subscribed) sends, one datagram at a time, a valid message to every
client → server address and hostile packets of every kind; after each, a *barrier* — a ping from a
subscribed control socket on the same host, answered only after the datagram before it was handled
— says that every reply it caused has been sent, and the stranger's socket is read empty. The
ratio is the reply bytes over the request's bytes; the daemon's bound is 1.0.

A valid ``/metal/subscribe`` is the one request whose answer (the state, then the music) is meant
to be bigger than it: the sender asks to become a subscriber. It is measured, reported apart and
undone (``/metal/unsubscribe``) so the stranger stays a stranger.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from metalosc.protocol import (
    INCOMING,
    Fill,
    Interpolate,
    Key,
    Message,
    Mute,
    Ping,
    Play,
    Pong,
    ProtocolError,
    RecordStart,
    RecordStop,
    SceneDelete,
    SceneListRequest,
    SceneSave,
    SectionRequest,
    StateRequest,
    Subscribe,
    Temperature,
    Tempo,
    Tension,
    TransitionDefault,
    Unsubscribe,
    decode_packet,
    encode,
)

from ._packets import accepted_messages

__all__ = ["Amplification", "probe", "valid_requests"]


def valid_requests() -> dict[str, list[Message]]:
    """A valid message (or a few) for every client → server address; raises ``KeyError`` naming
    an address of the protocol that has none here (a new address must be probed too). Stop is
    left out on purpose: it answers nothing, and would silence everyone for the rest of a run."""
    examples: list[Message] = [
        Unsubscribe(),
        Tension(value=0.6),
        Tension(value=0.4, transition="bar"),
        Tempo(bpm=140.0),
        Interpolate(scene="nowhere", bars=8),
        SceneSave(name="x" * 32),
        SceneDelete(name="nowhere"),
        SceneListRequest(),
        Play(),
        Mute(instrument="bass", muted=False),
        Temperature(value=1.0),
        TransitionDefault(when="phrase"),
        Key(key="E"),
        Fill(),
        SectionRequest(label="probe"),
        Ping(),
        Ping(args=(1,)),
        Ping(args=("x" * 40, 2.5)),
        StateRequest(),
        RecordStop(),  # nothing recording: refused
        RecordStart(name="x" * 32),
        RecordStop(),  # the take is written: its news is far bigger than the request
    ]
    out: dict[str, list[Message]] = {}
    for message in examples:
        out.setdefault(message.address, []).append(message)
    missing = set(INCOMING) - set(out) - {"/metal/subscribe", "/metal/stop"}
    if missing:
        raise KeyError(f"no valid example for {sorted(missing)}")
    return out


@dataclass
class Amplification:
    """``requests`` sent, their ``sent_bytes`` and the ``received_bytes`` they caused; the worst
    ratio and the request that caused it (a short description); ``subscribe_ratio`` the same for
    a valid subscription (an opt-in, reported apart); ``barrier_timeouts`` should be 0, and
    ``timed_out_after`` names the request before each."""

    requests: int = 0
    sent_bytes: int = 0
    received_bytes: int = 0
    worst: float = 0.0
    worst_request: str = ""
    subscribe_ratio: float = 0.0
    barrier_timeouts: int = 0
    timed_out_after: list[str] = field(default_factory=list)

    @property
    def overall(self) -> float:
        """Every byte received over every byte sent."""
        return self.received_bytes / self.sent_bytes if self.sent_bytes else 0.0


class _Prober:
    def __init__(
        self, stranger: socket.socket, control: socket.socket, server: tuple[str, int]
    ) -> None:
        self.stranger = stranger
        self.control = control
        self.server = server
        self.stranger.setblocking(False)
        self.control.settimeout(0.2)
        self.seq = 0
        self.result = Amplification()
        self.control.sendto(encode(Subscribe(mode="immediate")), server)

    def barrier(self) -> None:
        self.seq += 1
        self.control.sendto(encode(Ping(args=(self.seq,))), self.server)
        deadline = time.time() + 5.0
        while time.time() < deadline:
            try:
                data = self.control.recv(65536)
            except (TimeoutError, BlockingIOError):
                continue
            try:
                packet = decode_packet(data, outgoing=True)
            except ProtocolError:
                continue
            if isinstance(packet, Pong) and packet.args and packet.args[0] == self.seq:
                return
        self.result.barrier_timeouts += 1

    def drain(self) -> int:
        received = 0
        while True:
            try:
                received += len(self.stranger.recv(65536))
            except (BlockingIOError, ConnectionRefusedError):
                return received

    def one(self, data: bytes, what: str) -> float:
        self.drain()
        self.stranger.sendto(data, self.server)
        timeouts = self.result.barrier_timeouts
        self.barrier()
        if self.result.barrier_timeouts > timeouts:
            self.result.timed_out_after.append(what)
        received = self.drain()
        ratio = received / len(data) if data else float(received > 0) * float("inf")
        return ratio if received else 0.0

    def count(self, data: bytes, what: str) -> None:
        ratio = self.one(data, what)
        result = self.result
        result.requests += 1
        result.sent_bytes += len(data)
        result.received_bytes += round(ratio * len(data))
        if ratio > result.worst:
            result.worst = ratio
            result.worst_request = what


def probe(
    stranger: socket.socket,
    control: socket.socket,
    server: tuple[str, int],
    hostile: Sequence[bytes],
    rounds: int = 1,
) -> Amplification:
    """Probe ``server`` from ``stranger`` (never subscribed) with a valid message for every
    address and every ``hostile`` packet, ``rounds`` times over (later rounds find the per-peer
    error budgets spent); ``control`` is a socket on the same host for the barriers."""
    prober = _Prober(stranger, control, server)
    prober.barrier()
    valid = valid_requests()
    for _ in range(rounds):
        for address, messages in valid.items():
            for message in messages:
                prober.count(encode(message), f"{address} (valid)")
        for data in hostile:
            if not data:
                continue
            if _subscribes(data):  # an opt-in, measured apart and undone
                ratio = prober.one(data, _describe(data))
                prober.result.subscribe_ratio = max(prober.result.subscribe_ratio, ratio)
                prober.one(encode(Unsubscribe()), "/metal/unsubscribe")
                continue
            prober.count(data, _describe(data))
    ratio = prober.one(encode(Subscribe()), "/metal/subscribe (valid)")
    prober.result.subscribe_ratio = max(prober.result.subscribe_ratio, ratio)
    prober.one(encode(Unsubscribe()), "/metal/unsubscribe")
    return prober.result


def _subscribes(data: bytes) -> bool:
    """Whether ``data`` is a request the daemon applies as a subscription."""
    return any(isinstance(m, Subscribe) for m in accepted_messages(data))


def _describe(data: bytes) -> str:
    """A short name for a hostile packet: its address (or bundle) and size."""
    head = data.split(b"\x00", 1)[0][:40].decode("ascii", "replace")
    return f"{head!r} ({len(data)} B)"
