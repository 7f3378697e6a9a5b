"""The daemon wired up (``serve``) on real loopback sockets, with instant fake models.

Rules: the only suite of the server's unit tests on trio's real clock, because the kernel's sockets
are real; nothing here asserts a duration — every wait is bounded by ``trio.fail_after`` — and the
tempo is high (300 BPM) so a few phrases take a couple of seconds.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
import trio
from metalosc.protocol import (
    INSTRUMENTS,
    KEY_PITCH_CLASSES,
    Beat,
    Bundle,
    Error,
    Fill,
    Interpolate,
    Key,
    ModelBundleError,
    Note,
    PhraseStarted,
    Ping,
    Play,
    Pong,
    SceneSave,
    SectionStarted,
    State,
    Stop,
    Subscribe,
    Tension,
    decode_packet,
    encode,
)
from metalosc.runtime import TENSION_PUSH, diatonic_share, estimate_tonic
from metalosc.server import RunningServer, Settings, reload_models
from metalosc.server.testing import (
    FAST_SETTINGS,
    FakeModelSource,
    UdpClient,
    open_server,
    slots_heard,
)
from structlog.testing import capture_logs

ServerStarter = Callable[..., AbstractAsyncContextManager[RunningServer]]
BASE_SETTINGS: dict[str, Any] = {**FAST_SETTINGS}


@pytest.fixture
def start_server(fake_source: FakeModelSource) -> ServerStarter:
    """``async with start_server(**settings) as server``: the daemon on fake models (opened by
    ``fake_source``), with ``BASE_SETTINGS`` overridden by the given ones."""

    def start(**overrides: Any) -> AbstractAsyncContextManager[RunningServer]:
        settings = Settings(**{**BASE_SETTINGS, **overrides})
        return open_server(settings, executors=fake_source)

    return start


@pytest.fixture
async def server(start_server: ServerStarter) -> AsyncIterator[RunningServer]:
    async with start_server() as running:
        yield running


def open_client(server: RunningServer) -> AbstractAsyncContextManager[UdpClient]:
    return UdpClient.open(server.address)


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[UdpClient]:
    async with open_client(server) as opened:
        yield opened


async def test_ready_server_listens_on_the_port_it_reports(server: RunningServer) -> None:
    assert server.address[0] == "127.0.0.1"
    assert server.address[1] > 0
    assert server.transport.playing
    # primed before ready: a full buffer per model was decoded (bass: 3 per guitar phrase)
    assert server.runners["guitar"].phrases_decoded >= 4
    assert server.runners["drums"].phrases_decoded >= 4
    assert server.runners["bass"].phrases_decoded >= 12


async def test_subscriber_gets_timetagged_notes_of_all_instruments_ahead_of_time(
    server: RunningServer, client: UdpClient
) -> None:
    await client.send(Subscribe())
    assert isinstance(await client.expect(State), State)
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


async def test_ping_state_and_errors_over_the_wire(
    server: RunningServer, client: UdpClient
) -> None:
    await client.send(Subscribe())  # replies to a stranger are capped by its request's size
    await client.expect(State)
    await client.send(Ping(args=(7, "x")))
    pong = await client.expect(Pong)
    assert isinstance(pong, Pong)
    assert pong.args == (7, "x")
    assert abs(pong.server_time - time.time()) < 5
    with capture_logs() as logs:
        await client.send(b"/metal/tension\x00\x00,s\x00\x00hi\x00\x00")
        error = await client.expect(Error)
    assert isinstance(error, Error)
    assert error.refused_address == "/metal/tension"
    assert any(e["event"] == "osc_rejected" for e in logs)
    await client.send(Tension(value=1.0))
    await client.send(b"/metal/state\x00\x00\x00\x00,\x00\x00\x00")
    state = await client.expect(State)
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
    server: RunningServer, fake_source: FakeModelSource
) -> None:
    fake_models = fake_source.models
    fake_source.fail_next = ModelBundleError(Path("models/guitar/manifest.json"), "not JSON")
    with capture_logs() as logs:
        assert not await reload_models(server)
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["models_reload_failed"]
    assert "manifest.json" in logs[-1]["error"]
    assert all(server.runners[i].executor.model is fake_models[i] for i in fake_models)  # type: ignore[attr-defined]

    assert await reload_models(server)
    fresh = fake_source.models
    assert all(server.runners[i].executor.model is fresh[i] for i in fresh)  # type: ignore[attr-defined]
    assert all(m.closed for m in fake_models.values())
    before = server.runners["drums"].phrases_decoded
    with trio.fail_after(10):  # the new models decode: the music goes on
        while server.runners["drums"].phrases_decoded == before:
            await trio.sleep(0.05)
    assert fresh["drums"].decode_calls


def _tension_targets(latents: list[Any]) -> list[float]:
    """The tension each fake latent was sampled for: the generator places a latent's coordinate
    along the tension vector ([1, 0, 0, 0], length 1) at (2 t - 1) * TENSION_PUSH."""
    return [(float(z[0]) / TENSION_PUSH + 1.0) / 2.0 for z in latents]


async def test_a_tension_change_retunes_the_buffers_at_once_even_while_nothing_plays(
    start_server: ServerStarter, fake_source: FakeModelSource
) -> None:
    """The refill loops otherwise wake only when a phrase is taken; a game that pauses the music,
    raises the tension and plays again must find phrases decoded for the new tension waiting. So
    the tension message itself must wake the generator: with the transport stopped nothing else
    does, and the retune below never comes."""
    async with (
        start_server(tension=0.1, batch_size=16, autoplay=False) as server,
        open_client(server) as client,
    ):
        buffers = server.conductor.buffers
        await client.send(Subscribe())
        await client.expect_state(playing=False)
        fake_models = fake_source.models
        await client.send(Play())
        calm = await client.slots(2)
        await client.send(Stop())
        await client.expect_state(playing=False)
        with trio.fail_after(5):  # the refills of the last phrases taken land; then all is idle
            while buffers["guitar"].missing or buffers["drums"].missing:
                await trio.sleep(0.01)
        decoded = {i: len(fake_models[i].decoded_z) for i in INSTRUMENTS}

        await client.send(Tension(value=0.9))
        await client.expect_state(tension=0.9)
        try:
            with trio.fail_after(5):
                while any(len(fake_models[i].decoded_z) == decoded[i] for i in INSTRUMENTS) or any(
                    len(buffers[i]) < buffers[i].capacity for i in ("guitar", "drums")
                ):
                    await trio.sleep(0.01)
        except trio.TooSlowError:
            pytest.fail("no retune within 5 s of the tension change: the generator was not woken")
        for instrument in INSTRUMENTS:  # the new batch was sampled around the new tension
            targets = _tension_targets(fake_models[instrument].decoded_z[decoded[instrument] :])
            assert len(targets) >= 16
            assert sum(targets) / len(targets) > 0.5, (instrument, targets)  # nearer 0.9 than 0.1

        await client.send(Play())
        tense = await client.slots(2)
    assert [s.tension for s in calm] == pytest.approx([0.1] * 2)
    assert [s.tension for s in tense] == pytest.approx([0.9] * 2)
    for instrument in INSTRUMENTS:
        calm_notes = [s.notes[instrument] for s in calm]
        tense_notes = [s.notes[instrument] for s in tense]
        assert min(tense_notes) > max(calm_notes), (instrument, calm_notes, tense_notes)


def _is_run(needle: list[int], haystack: list[int]) -> bool:
    """``needle`` appears in ``haystack`` as consecutive items."""
    return any(haystack[k : k + len(needle)] == needle for k in range(len(haystack)))


async def test_an_interpolation_plays_the_phrases_decoded_for_it(
    server: RunningServer, client: UdpClient
) -> None:
    """A morph whose decode failed falls back to stand-ins and still "arrives", so arriving proves
    nothing: the phrases played during the morph must be the ones decoded for its path."""
    await client.send(Subscribe())
    await client.expect_state(playing=True)
    await client.slots(1)  # something played: there is a scene to save
    await client.send(SceneSave(name="verse"))
    await client.send(Tension(value=1.0))  # wander off before morphing back
    await client.expect_state(tension=1.0)
    with capture_logs() as logs:
        await client.send(Interpolate(scene="verse", bars=4))
        await client.expect_state(scene="verse")
        interp = server.conductor.interpolation
        assert interp is not None
        assert interp.scene == "verse"
        heard: list[Bundle] = []
        with trio.fail_after(10):
            while True:  # until the morph arrived
                _, packet = await client.receive()
                if isinstance(packet, Bundle):
                    heard.append(packet)
                elif isinstance(packet, State) and packet.scene == "":
                    break
    events = [e["event"] for e in logs]
    assert "interpolation_decode_failed" not in events
    assert "interpolation_decoded" in events
    assert interp.decoded is not None
    assert len(interp.decoded) == 2
    assert interp.stand_ins == 0
    assert interp.done
    last = interp.decoded[-1]
    with trio.fail_after(5):  # the last step was chosen ahead of time: hear it play
        while not any(
            isinstance(m, PhraseStarted) and m.id == last[m.instrument].id
            for bundle in heard
            for m in bundle.messages
        ):
            _, packet = await client.receive()
            if isinstance(packet, Bundle):
                heard.append(packet)
    played = [slot for _, slot in sorted(slots_heard(heard).items())]
    for instrument in INSTRUMENTS:
        decoded_ids = [step[instrument].id for step in interp.decoded]
        played_ids = [s.ids[instrument] for s in played]
        assert _is_run(decoded_ids, played_ids), (instrument, decoded_ids, played_ids)


async def test_an_immediate_subscriber_gets_each_cue_when_it_is_due(
    server: RunningServer, client: UdpClient
) -> None:
    """Immediate mode is for clients that cannot schedule: every cue comes as a bundle timetagged
    "immediately" (NTP 1), sent when it sounds rather than ahead of time."""
    await client.send(Subscribe(mode="immediate"))
    await client.expect_state(playing=True)
    instruments: set[str] = set()
    beats = 0
    with trio.fail_after(10):
        while beats < 16 or instruments != {"guitar", "bass", "drums"}:
            data, _ = await client.sock.recvfrom(65536)
            arrived = time.time()
            packet = decode_packet(data, outgoing=True)
            if not isinstance(packet, Bundle):
                continue
            assert data[8:16] == (1).to_bytes(8, "big")  # the timetag "immediately"
            assert packet.timetag is None
            instruments |= {m.instrument for m in packet.messages if isinstance(m, Note)}
            for message in packet.messages:
                if isinstance(message, Beat):
                    beats += 1
                    sounds = server.clock.beat_unix(message.bar * 4 + message.beat)
                    assert arrived >= sounds - 0.005  # not ahead of time, unlike bundle mode
    assert server.subscriptions.active("bundle") == []


async def test_a_fill_request_over_the_wire_fills_the_next_phrase(
    start_server: ServerStarter,
) -> None:
    """``/metal/fill``, a stinger: the next phrase's drums are a fill, decoded from the groove's
    latent moved along the fill vector (the fake drums' fill direction makes them denser). In
    16-bar sections asked for just after a section starts, no section turnaround is near."""
    async with start_server(section_bars=16) as server, open_client(server) as client:
        await client.send(Subscribe())
        await client.expect_state(playing=True)
        with trio.fail_after(20):
            while True:
                _, packet = await client.receive()
                if isinstance(packet, Bundle) and any(
                    isinstance(m, SectionStarted) for m in packet.messages
                ):
                    break
        await client.send(Fill())
        heard = await client.slots(4)
    drums = [s.notes["drums"] for s in heard]
    groove = min(drums)
    # one of the next two phrases (the one in flight may still be the groove) fills, and then
    # the groove comes back
    assert max(drums[:2]) > groove
    assert drums[-1] == groove


async def test_a_key_change_over_the_wire_lands_on_the_next_section(
    server: RunningServer, client: UdpClient
) -> None:
    """``/metal/key D``: the music stays in E until a section starts, then the section event
    says D and the guitar and bass notes of that section are centred on D."""
    await client.send(Subscribe())
    await client.expect_state(playing=True)
    await client.send(Key(key="D"))
    await client.expect_state(key="D")
    bundles: list[Bundle] = []
    with trio.fail_after(20):
        started = None
        while started is None:
            _, packet = await client.receive()
            if isinstance(packet, Bundle):
                bundles.append(packet)
                started = next((m for m in packet.messages if isinstance(m, SectionStarted)), None)
    assert started.key == "D"
    first_beat = next(m for m in bundles[-1].messages if isinstance(m, Beat))
    start = first_beat.bar * 4
    notes: list[Note] = []
    with trio.fail_after(20):
        while not notes or max(n.beat for n in notes) < start + 8:
            _, packet = await client.receive()
            if isinstance(packet, Bundle):
                notes += [
                    m
                    for m in packet.messages
                    if isinstance(m, Note) and m.instrument != "drums" and m.beat >= start
                ]
    pitches = [(n.pitch, n.duration_s) for n in notes]
    assert estimate_tonic(pitches) == KEY_PITCH_CLASSES["D"]
    assert diatonic_share(pitches, KEY_PITCH_CLASSES["D"]) > 0.9
