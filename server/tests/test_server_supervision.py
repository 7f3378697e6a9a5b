"""Model supervision: a model that dies, hangs or fails is restarted, and the music plays on.

Rules: the restart logic on instant in-process fakes under ``autojump_clock``; what only real
processes can show (SIGKILL, a hang killed at its deadline) on fake models in spawned workers,
with every wait bounded by ``trio.fail_after``; the daemon end to end on real loopback sockets.
Spawning costs ~1 s per worker: keep the number of workers small.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping

import numpy as np
import pytest
import trio
import trio.testing
from metalosc.protocol import (
    INSTRUMENTS,
    Beat,
    Bundle,
    Instrument,
    Subscribe,
    Temperature,
    Tension,
)
from metalosc.server import (
    DecodeRequest,
    Executor,
    Metrics,
    ModelRunner,
    ModelUnavailableError,
    ProcessExecutor,
    Settings,
    ThreadExecutor,
    WorkerDiedError,
    WorkerHungError,
)
from metalosc.server.testing import (
    RAISE_TEMPERATURE,
    SLOW_TEMPERATURE,
    FakeModel,
    FakeModelFactory,
    FakeModelSource,
    FakeProcessSource,
    UdpClient,
    fake_analysis,
    open_server,
)
from structlog.testing import capture_logs


def request(temperature: float = 1.0, n: int = 1) -> DecodeRequest:
    return DecodeRequest.of(np.zeros((n, 4)), temperature, None, list(range(n)))


# --- the restart logic, in process ---------------------------------------------------------


async def test_a_model_that_raises_is_restarted_but_one_that_refuses_its_input_is_not(
    autojump_clock: trio.testing.MockClock,
) -> None:
    opened: list[FakeModel] = []

    async def restart() -> Executor:
        opened.append(FakeModel("bass"))
        return ThreadExecutor(opened[-1], fake_analysis())

    metrics = Metrics()
    first = FakeModel("bass")
    # no decode deadline: the mock clock would jump to it while a decode thread runs
    runner = ModelRunner(ThreadExecutor(first, fake_analysis()), restart=restart, metrics=metrics)
    with pytest.raises(ValueError, match="needs chords"):  # a refusal: the model is sound
        await runner.decode(request())
    assert (runner.restarts, opened) == (0, [])
    chords = DecodeRequest.of(np.zeros((1, 4)), RAISE_TEMPERATURE, ["E5", "G5"], [1])
    with capture_logs() as logs, pytest.raises(RuntimeError, match="fake model failed"):
        await runner.decode(chords)
    assert runner.restarts == metrics["worker_restarts"] == 1
    assert first.closed
    assert runner.executor.model is opened[0]  # type: ignore[attr-defined]
    events = [e["event"] for e in logs]
    assert events == ["model_worker_restarting", "model_worker_restarted"]
    ok = DecodeRequest.of(np.zeros((2, 4)), 1.0, ["E5", "G5"], [1, 2])
    assert len(await runner.decode(ok)) == 2


async def test_a_restart_that_fails_is_retried_later_and_meanwhile_decodes_fail_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    attempts: list[float] = []

    async def restart() -> Executor:
        attempts.append(trio.current_time())
        if len(attempts) <= 2:
            raise OSError("models/drums: gone")
        return ThreadExecutor(FakeModel("drums"), fake_analysis())

    runner = ModelRunner(ThreadExecutor(FakeModel("drums"), fake_analysis()), restart=restart)
    with pytest.raises(RuntimeError):
        await runner.decode(request(RAISE_TEMPERATURE))
    assert len(attempts) == 1
    with pytest.raises(ModelUnavailableError, match="drums is down"):
        await runner.decode(request())  # within the back-off: no attempt, no wait
    assert len(attempts) == 1
    await trio.sleep(1.0)
    with pytest.raises(ModelUnavailableError, match="restart failed: models/drums: gone"):
        await runner.decode(request())
    await trio.sleep(2.0)  # the back-off doubled
    assert len(await runner.decode(request())) == 1
    assert np.diff(attempts).tolist() == [1.0, 2.0]


# --- real worker processes -----------------------------------------------------------------


async def _process_runner(decode_timeout: float) -> ModelRunner:
    async def restart() -> Executor:
        return await trio.to_thread.run_sync(ProcessExecutor, FakeModelFactory("drums"), "drums")

    return ModelRunner(await restart(), restart=restart, decode_timeout=decode_timeout)


async def test_a_worker_killed_is_restarted_and_the_next_decode_works() -> None:
    runner = await _process_runner(decode_timeout=20.0)
    try:
        old = runner.executor
        assert isinstance(old, ProcessExecutor)
        assert old.process.pid is not None
        os.kill(old.process.pid, signal.SIGKILL)
        with trio.fail_after(30), pytest.raises(WorkerDiedError, match="code -9"):
            await runner.decode(request())
        assert runner.restarts == 1
        assert runner.executor is not old
        with trio.fail_after(20):
            assert len(await runner.decode(request(n=3))) == 3
    finally:
        runner.close()


async def test_a_worker_that_hangs_is_killed_at_the_deadline_and_restarted() -> None:
    runner = await _process_runner(decode_timeout=1.0)
    try:
        old = runner.executor
        with capture_logs() as logs, trio.fail_after(30), pytest.raises(WorkerHungError):
            await runner.decode(request(SLOW_TEMPERATURE))  # sleeps 30 s in the worker
        assert isinstance(old, ProcessExecutor)
        assert old.exitcode == -9  # killed, not waited for
        assert runner.restarts == 1
        events = [e["event"] for e in logs if e["log_level"] in ("error", "warning")]
        assert events.count("model_worker_restarting") == 1
        with trio.fail_after(20):
            assert len(await runner.decode(request())) == 1
    finally:
        runner.close()


# --- the daemon ----------------------------------------------------------------------------


async def _beats(client: UdpClient, n: int, timeout: float) -> list[int]:
    """The next ``n`` beats the client hears, as beat numbers."""
    heard: list[int] = []
    with trio.fail_after(timeout):
        while len(heard) < n:
            _, packet = await client.receive()
            if isinstance(packet, Bundle):
                heard += [m.bar * 4 + m.beat for m in packet.messages if isinstance(m, Beat)]
    return heard


def _contiguous(beats: list[int]) -> bool:
    return beats == list(range(beats[0], beats[0] + len(beats)))


SETTINGS = {"port": 0, "bpm": 300.0, "buffer_depth": 4, "batch_size": 4, "lookahead": 0.1}


async def test_the_daemon_plays_on_while_its_model_fails_and_recovers(
    fake_source: FakeModelSource,
) -> None:
    settings = Settings(**SETTINGS, seed=3)  # type: ignore[arg-type]
    async with (
        open_server(settings, executors=fake_source) as server,
        UdpClient.open(server.address) as client,
    ):
        await client.send(Subscribe())
        with capture_logs() as logs:
            await client.send(Temperature(value=RAISE_TEMPERATURE))  # every decode now fails
            await client.send(Tension(value=0.9))  # decode now, for the new tension
            beats = await _beats(client, 24, timeout=20)
            assert _contiguous(beats)
            assert server.generator.refills_failed >= 1
            await client.send(Temperature(value=1.0))
            more = await _beats(client, 16, timeout=20)
        assert _contiguous(beats + more)
        assert server.metrics["worker_restarts"] >= 1
        assert server.metrics["late_sends"] == 0
        # logged once per run of failures, not once per failed refill
        failed = [e for e in logs if e["event"] == "refill_failed"]
        assert 1 <= len(failed) <= 2  # guitar and/or drums
        assert len(fake_source.opened) > 1  # restarts opened fresh models


@pytest.mark.slow
async def test_a_daemon_worker_killed_or_hung_is_restarted_while_the_beat_goes_on() -> None:
    source = FakeProcessSource()
    settings = Settings(**SETTINGS, seed=4, decode_timeout=1.0)  # type: ignore[arg-type]
    with trio.fail_after(120):
        async with (
            open_server(settings, executors=source) as server,
            UdpClient.open(server.address) as client,
        ):
            await client.send(Subscribe())
            drums = server.runners["drums"]
            old = drums.executor
            assert isinstance(old, ProcessExecutor)
            assert old.process.pid is not None
            os.kill(old.process.pid, signal.SIGKILL)
            await client.send(Tension(value=0.9))  # decode now, for the new tension
            beats = await _beats(client, 8, timeout=10)
            while drums.executor is old:  # the refill found it dead and restarts it
                beats += await _beats(client, 1, timeout=20)
            await client.send(Temperature(value=SLOW_TEMPERATURE))  # workers hang
            await client.send(Tension(value=0.1))
            while server.metrics["worker_restarts"] < 2:
                beats += await _beats(client, 1, timeout=20)
            await client.send(Temperature(value=1.0))
            beats += await _beats(client, 16, timeout=30)
            assert _contiguous(beats)
            assert server.metrics["late_sends"] == 0
            runners: Mapping[Instrument, ModelRunner] = server.runners
            assert all(runners[i].executor.info.instrument == i for i in INSTRUMENTS)
