"""The daemon on real tiny MusicVAE models and real loopback sockets.

Rules: models come from the session's ``tiny_bundles`` (made by the training pipeline); real time
only because real models decode in real worker processes — bounded by ``trio.fail_after``
everywhere and kept short by a high tempo (300 BPM: a 2-bar phrase lasts 1.6 s).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
from metalosc.protocol import (
    INSTRUMENTS,
    Bundle,
    Error,
    Interpolate,
    Mute,
    Note,
    PhraseStarted,
    SceneSave,
    State,
    Subscribe,
    Tempo,
    Tension,
)
from metalosc.server import ProcessExecutor, RunningServer, Settings
from metalosc.server.testing import UdpClient, open_server
from structlog.testing import capture_logs

pytestmark = pytest.mark.slow


def notes(bundles: list[Bundle]) -> list[Note]:
    return [m for b in bundles for m in b.messages if isinstance(m, Note)]


def played_ids(heard: list[tuple[float, Bundle]], instrument: str) -> list[int]:
    """The ids of ``instrument``'s phrases that started in ``heard``, in order."""
    return [
        m.id
        for _, b in heard
        for m in b.messages
        if isinstance(m, PhraseStarted) and m.instrument == instrument
    ]


@pytest.fixture
async def server(tiny_bundles: Path) -> AsyncIterator[RunningServer]:
    settings = Settings(
        models=tiny_bundles, port=0, bpm=300.0, buffer_depth=4, batch_size=4, seed=0
    )
    async with open_server(settings) as running:
        yield running


@pytest.fixture
async def client(server: RunningServer) -> AsyncIterator[UdpClient]:
    async with UdpClient.open(server.address) as opened:
        yield opened


async def test_a_game_session_on_real_models(server: RunningServer, client: UdpClient) -> None:
    # the default execution: every model in its own worker process
    assert all(isinstance(r.executor, ProcessExecutor) for r in server.runners.values())
    await client.send(Subscribe())
    state = await client.expect(State)
    assert isinstance(state, State)
    assert state.playing

    # four phrases of every instrument, notes of all three, each bundle ahead of its sound time
    bundles = await client.phrases(4)
    assert {n.instrument for n in notes(bundles)} == {"guitar", "bass", "drums"}
    assert all(0 <= n.pitch <= 127 and n.duration_s > 0 for n in notes(bundles))
    leads = [b.timetag - arrived for arrived, b in client.bundles if b.timetag is not None]
    assert min(leads) > 0

    # controls: each change answered with the new state
    await client.send(Tension(value=0.9))
    assert (await client.expect(State)).tension > 0.89  # type: ignore[attr-defined]
    await client.send(Tempo(bpm=280.0))
    assert (await client.expect(State)).bpm == 280.0  # type: ignore[attr-defined]
    await client.send(Mute(instrument="bass", muted=True))
    assert (await client.expect(State)).bass_muted  # type: ignore[attr-defined]
    muted = await client.phrases(1)
    assert "bass" not in {n.instrument for n in notes(muted)}
    assert {"guitar", "drums"} <= {n.instrument for n in notes(muted)}
    await client.send(Mute(instrument="bass", muted=False))
    await client.expect(State)

    # scenes: save the current latents, wander off, morph back over 4 bars (2 phrases)
    await client.send(SceneSave(name="verse"))
    await client.send(Tension(value=0.1))
    await client.expect(State)
    morph_from = len(client.bundles)
    with capture_logs() as logs:
        await client.send(Interpolate(scene="verse", bars=4))
        started = await client.expect(State)
        assert started.scene == "verse"  # type: ignore[attr-defined]
        interp = server.conductor.interpolation
        assert interp is not None
        with trio.fail_after(60):
            while (await client.expect(State)).scene != "":  # type: ignore[attr-defined]
                pass
    interp_decoded = server.runners["guitar"].phrases_decoded
    assert interp_decoded > 0
    # Arriving proves little (a failed decode falls back to stand-ins and arrives too): the
    # morph's path was decoded on the real models, and those phrases are the ones that played.
    events = [e["event"] for e in logs]
    assert "interpolation_decode_failed" not in events
    assert "interpolation_decoded" in events
    assert interp.decoded is not None
    assert len(interp.decoded) == 2
    assert interp.stand_ins == 0
    decoded_ids = {i: [step[i].id for step in interp.decoded] for i in INSTRUMENTS}
    with trio.fail_after(30):  # the last step was chosen ahead of time: hear it start
        while not all(
            ids[-1] in played_ids(client.bundles[morph_from:], i) for i, ids in decoded_ids.items()
        ):
            await client.receive()
    for instrument, ids in decoded_ids.items():
        played = played_ids(client.bundles[morph_from:], instrument)
        assert any(played[k : k + len(ids)] == ids for k in range(len(played))), (ids, played)

    # bad input is answered, the music goes on
    await client.send(Interpolate(scene="chorus", bars=8))
    error = await client.expect(Error)
    assert isinstance(error, Error)
    assert "unknown scene 'chorus'" in error.reason
    await client.send(b"/metal/tempo\x00\x00\x00\x00,f\x00\x00\x47\x00\x00\x00")  # 32768 BPM
    error = await client.expect(Error)
    assert error.refused_address == "/metal/tempo"  # type: ignore[attr-defined]
    assert notes(await client.phrases(1))
    assert server.metrics["late_sends"] == 0
    assert server.metrics["errors"] == 2
