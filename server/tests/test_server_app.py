"""The daemon wired up (``serve``) on real loopback sockets, with instant fake models.

Rules: the only suite of the server's unit tests on trio's real clock, because the kernel's sockets
are real; nothing here asserts a duration — every wait is bounded by ``trio.fail_after`` — and the
tempo is high (300 BPM) so a few phrases take a couple of seconds.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
from metalosc.protocol import (
    Bundle,
    Error,
    Instrument,
    Message,
    ModelBundleError,
    Note,
    PhraseStarted,
    Ping,
    Pong,
    State,
    Subscribe,
    Tension,
    decode_packet,
    encode,
)
from metalosc.server import PhraseAnalysis, RunningServer, Settings, reload_models, serve
from structlog.testing import capture_logs


class Client:
    def __init__(self, sock: trio.socket.SocketType, server: tuple[str, int]) -> None:
        self.sock = sock
        self.server = server

    async def send(self, message: Message | bytes) -> None:
        await self.sock.sendto(
            message if isinstance(message, bytes) else encode(message), self.server
        )

    async def receive(self) -> tuple[float, Message | Bundle]:
        data, _ = await self.sock.recvfrom(65536)
        return time.time(), decode_packet(data, outgoing=True)

    async def receive_message(self, kind: type[Message]) -> Message:
        with trio.fail_after(5):
            while True:
                _, packet = await self.receive()
                if isinstance(packet, kind):
                    return packet


@pytest.fixture
async def server(
    fake_models: dict[Instrument, Any], fake_analysis: PhraseAnalysis
) -> AsyncIterator[RunningServer]:
    settings = Settings(port=0, bpm=300.0, buffer_depth=4, batch_size=4, lookahead=0.1, seed=1)
    async with trio.open_nursery() as nursery:
        running: RunningServer = await nursery.start(
            lambda task_status: serve(  # type: ignore[misc]
                settings, models=fake_models, analysis=fake_analysis, task_status=task_status
            )
        )
        yield running
        nursery.cancel_scope.cancel()


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[Client]:
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await sock.bind(("127.0.0.1", 0))
    with sock:
        yield Client(sock, server.address)


async def test_ready_server_listens_on_the_port_it_reports(server: RunningServer) -> None:
    assert server.address[0] == "127.0.0.1"
    assert server.address[1] > 0
    assert server.state.playing
    # primed before ready: a full buffer per model was decoded (bass: 3 per guitar phrase)
    assert server.runners["guitar"].phrases_decoded >= 4
    assert server.runners["drums"].phrases_decoded >= 4
    assert server.runners["bass"].phrases_decoded >= 12


async def test_subscriber_gets_timetagged_notes_of_all_instruments_ahead_of_time(
    server: RunningServer, client: Client
) -> None:
    await client.send(Subscribe())
    assert isinstance(await client.receive_message(State), State)
    instruments: set[str] = set()
    phrases = 0
    leads: list[float] = []
    with trio.fail_after(10):
        while phrases < 3 * 2:
            arrived, packet = await client.receive()
            if not isinstance(packet, Bundle):
                continue
            assert packet.timetag is not None
            leads.append(packet.timetag - arrived)
            instruments |= {m.instrument for m in packet.messages if isinstance(m, Note)}
            phrases += sum(isinstance(m, PhraseStarted) for m in packet.messages)
    assert instruments == {"guitar", "bass", "drums"}
    assert min(leads) > 0  # every bundle arrived before its sound time
    assert server.metrics["late_sends"] == 0


async def test_ping_state_and_errors_over_the_wire(server: RunningServer, client: Client) -> None:
    await client.send(Ping(args=(7, "x")))
    pong = await client.receive_message(Pong)
    assert isinstance(pong, Pong)
    assert pong.args == (7, "x")
    assert abs(pong.server_time - time.time()) < 5
    with capture_logs() as logs:
        await client.send(b"/metal/tension\x00\x00,s\x00\x00hi\x00\x00")
        error = await client.receive_message(Error)
    assert isinstance(error, Error)
    assert error.refused_address == "/metal/tension"
    assert any(e["event"] == "osc_rejected" for e in logs)
    await client.send(Tension(value=1.0))
    await client.send(b"/metal/state\x00\x00\x00\x00,\x00\x00\x00")
    state = await client.receive_message(State)
    assert isinstance(state, State)
    assert state.tension == 1.0


async def test_a_subscriber_that_goes_away_is_dropped_quietly(server: RunningServer) -> None:
    sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
    await sock.bind(("127.0.0.1", 0))
    await sock.sendto(encode(Subscribe()), server.address)
    with trio.fail_after(5):
        while len(server.subscriptions) == 0:
            await trio.sleep(0.01)
    sock.close()  # the port now answers with ICMP port unreachable
    with capture_logs() as logs, trio.fail_after(5):
        while len(server.subscriptions) > 0:
            await trio.sleep(0.01)
    assert server.metrics["subscribers_gone"] == 1
    assert [e["event"] for e in logs if e["log_level"] != "debug"].count("subscriber_gone") == 1
    assert not [e for e in logs if e["log_level"] in ("warning", "error")]


async def test_reload_swaps_models_and_keeps_the_old_ones_on_failure(
    server: RunningServer, fake_models: dict[Instrument, Any], make_fake_models: Any
) -> None:
    def broken(path: Path) -> dict[Instrument, Any]:
        raise ModelBundleError(path / "guitar" / "manifest.json", "not JSON")

    with capture_logs() as logs:
        assert not await reload_models(server, broken)
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["models_reload_failed"]
    assert "manifest.json" in logs[-1]["error"]
    assert all(server.runners[i].model is fake_models[i] for i in fake_models)

    fresh = make_fake_models()
    assert await reload_models(server, lambda path: fresh)
    assert all(server.runners[i].model is fresh[i] for i in fresh)
    assert all(m.closed for m in fake_models.values())
    before = server.runners["drums"].phrases_decoded
    with trio.fail_after(10):  # the new models decode: the music goes on
        while server.runners["drums"].phrases_decoded == before:
            await trio.sleep(0.05)
    assert fresh["drums"].decode_calls
