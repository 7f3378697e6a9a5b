"""Worker-process suite: models in spawned processes, driven through the real pipe protocol.

Rules: fake models from ``metalosc.server.testing`` (picklable factories, no TensorFlow), real
processes (so real time, each wait bounded by ``trio.fail_after``); every worker started here is
closed here. Spawning costs ~1 s per process: keep the number of workers small.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import trio
from metalosc.protocol import INSTRUMENTS, Instrument, ModelBundleError
from metalosc.server import (
    ConfigError,
    Controls,
    DecodeRequest,
    Executor,
    Generator,
    LatentDraw,
    Metrics,
    ModelRunner,
    PhraseBuffer,
    ProcessExecutor,
    Settings,
    WorkerDiedError,
    WorkerError,
    load_settings,
    reload_models,
    start_process_executors,
)
from metalosc.server._cli import build_parser
from metalosc.server.testing import EXIT_TEMPERATURE, SLOW_TEMPERATURE, FakeModelFactory
from structlog.testing import capture_logs


@pytest.fixture
async def runners() -> AsyncIterator[dict[Instrument, ModelRunner]]:
    with trio.fail_after(60):
        workers = await start_process_executors({i: FakeModelFactory(i) for i in INSTRUMENTS})
    yield {i: ModelRunner(w) for i, w in workers.items()}
    for worker in workers.values():
        worker.close()


async def test_decodes_come_back_as_measured_phrases_and_fill_the_buffers(
    runners: dict[Instrument, ModelRunner],
) -> None:
    drums = runners["drums"]
    assert (drums.instrument, drums.z_size) == ("drums", 4)
    np.testing.assert_array_equal(drums.tension_vector, [1.0, 0.0, 0.0, 0.0])
    z = np.array([[1.0, 0, 0, 0], [-1.0, 0, 0, 0]])
    with trio.fail_after(20):
        phrases = await drums.decode(DecodeRequest.of(z, 1.0, None, [11, 12]))
    assert [p.id for p in phrases] == [11, 12]
    assert [len(p.notes) for p in phrases] == [12, 4]
    assert [p.intensity for p in phrases] == [12.0, 4.0]
    assert phrases[0].features == {"note_density": 6.0}
    np.testing.assert_array_equal(phrases[1].z, z[1])
    assert (phrases[0].notes[1].start_beat, phrases[0].notes[1].end_beat) == (0.5, 0.75)
    assert drums.phrases_decoded == 2
    request = DecodeRequest.of(z[:1], 1.0, None, [1], infer_chords=True)
    guitar = await runners["guitar"].decode(request)
    assert guitar[0].chords == ("A5", "C5")  # inferred in the worker (12 notes: even)
    assert "chord_fit" not in guitar[0].features
    bass = await runners["bass"].decode(DecodeRequest.of(z[:1], 1.0, ["E5", "G5"], [2]))
    assert bass[0].chords == ("E5", "G5")
    assert bass[0].features["chord_fit"] == 1 / 12  # measured in the worker on its chords
    # latents drawn in the worker are the draw's, wherever it is made
    draw = LatentDraw(7, (0.0, 0.5, 1.0), (0.2, 0.9))
    drawn = await drums.decode(DecodeRequest.of(draw, 1.0, None, [21, 22, 23]))
    expected = draw.latents(drums.z_size, drums.tension_vector)
    np.testing.assert_array_equal(np.stack([p.z for p in drawn]), expected)
    assert expected[0, 0] < expected[1, 0] < expected[2, 0]  # placed along the tension vector

    # the generator drives process runners like thread runners
    buffers = {i: PhraseBuffer(i, 4, runners[i].tension_vector) for i in INSTRUMENTS}
    gen = Generator(runners, buffers, Controls(), seed=1, batch_size=4, bass_candidates=2)
    with trio.fail_after(30):
        await gen.prime()
    assert len(buffers["guitar"]) == 4
    assert len(buffers["drums"]) == 4
    for guitar in buffers["guitar"]._pool:
        assert len(guitar.accompaniment) == 2
        assert all(b.chords == guitar.chords for b in guitar.accompaniment)


async def test_a_worker_exception_is_raised_as_itself_with_the_worker_traceback() -> None:
    worker = await trio.to_thread.run_sync(ProcessExecutor, FakeModelFactory("bass"), "bass")
    runner = ModelRunner(worker)
    try:
        await _raises_value_error(runner)
    finally:
        worker.close()


async def _raises_value_error(runner: ModelRunner) -> None:
    with trio.fail_after(20), pytest.raises(ValueError, match="needs chords") as caught:
        await runner.decode(DecodeRequest.of(np.zeros((1, 4)), 1.0, None, [1]))
    cause = caught.value.__cause__
    assert isinstance(cause, WorkerError)
    assert "in model worker bass" in str(cause)
    assert "testing.py" in str(cause)  # where it was raised, in the worker
    # the worker survives its model's errors
    request = DecodeRequest.of(np.zeros((1, 4)), 1.0, ["N.C.", "N.C."], [2])
    assert len(await runner.decode(request)) == 1


def test_a_load_error_is_raised_at_start_and_names_the_file() -> None:
    broken = Path("models/guitar/manifest.json")
    with pytest.raises(ModelBundleError, match=r"guitar/manifest\.json"):
        ProcessExecutor(FakeModelFactory("guitar", broken=broken), "guitar")


async def test_starting_workers_stops_the_others_when_one_fails() -> None:
    broken = Path("models/bass/attributes.npz")
    factories = {
        "guitar": FakeModelFactory("guitar"),
        "bass": FakeModelFactory("bass", broken=broken),
    }
    with trio.fail_after(60), pytest.raises(ModelBundleError, match=r"attributes\.npz"):
        await start_process_executors(factories)  # the error itself, not an exception group


async def test_a_worker_dying_mid_decode_is_reported_not_a_hang() -> None:
    worker = await trio.to_thread.run_sync(ProcessExecutor, FakeModelFactory("drums"), "drums")
    runner = ModelRunner(worker)
    try:
        with capture_logs() as logs, trio.fail_after(20):
            with pytest.raises(WorkerDiedError, match="drums exited with code 3"):
                await runner.decode(DecodeRequest.of(np.zeros((1, 4)), EXIT_TEMPERATURE, None, [1]))
            with pytest.raises(WorkerDiedError):  # and so is every later call
                await runner.decode(DecodeRequest.of(np.zeros((1, 4)), 1.0, None, [2]))
        assert [e["event"] for e in logs].count("model_worker_died") == 2
    finally:
        runner.close()


async def test_close_stops_the_worker_and_kills_one_that_hangs() -> None:
    worker = await trio.to_thread.run_sync(ProcessExecutor, FakeModelFactory("drums"), "drums")
    await trio.to_thread.run_sync(worker.close)
    assert worker.exitcode == 0  # asked to stop, it stopped
    worker.close()  # idempotent

    stuck = await trio.to_thread.run_sync(ProcessExecutor, FakeModelFactory("drums"), "drums")
    await stuck._send(DecodeRequest.of(np.zeros((1, 4)), SLOW_TEMPERATURE, None, [1]))
    with capture_logs() as logs, trio.fail_after(20):
        await trio.to_thread.run_sync(lambda: stuck.close(timeout=0.5))
    assert stuck.exitcode == -9  # killed after the timeout
    assert [e["event"] for e in logs] == ["model_worker_killed"]


async def test_a_decode_cancelled_part_way_leaves_the_worker_refusing_until_closed() -> None:
    """The reply of a cancelled decode is still on its way: the next decode would read it as
    its own, so it is refused (the runner closes and restarts such a worker)."""
    worker = await trio.to_thread.run_sync(ProcessExecutor, FakeModelFactory("drums"), "drums")
    try:
        with trio.move_on_after(0.5) as waited:
            await worker.decode(DecodeRequest.of(np.zeros((1, 4)), SLOW_TEMPERATURE, None, [1]))
        assert waited.cancelled_caught
        with trio.fail_after(5), pytest.raises(WorkerError, match="out of step"):
            await worker.decode(DecodeRequest.of(np.zeros((1, 4)), 1.0, None, [2]))
    finally:
        await trio.to_thread.run_sync(lambda: worker.close(timeout=0.1))
    assert worker.exitcode == -9


def test_model_execution_is_a_setting_flag_and_env(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(None).model_execution == "process"
    monkeypatch.setenv("METALOSC_MODEL_EXECUTION", "thread")
    assert load_settings(None).model_execution == "thread"
    args = build_parser().parse_args(["serve", "--model-execution", "process"])
    assert load_settings(None, model_execution=args.model_execution).model_execution == "process"
    monkeypatch.setenv("METALOSC_MODEL_EXECUTION", "fork")
    with pytest.raises(ConfigError, match="model_execution"):
        load_settings(None)


async def test_reload_replaces_the_workers_and_keeps_them_on_failure(
    runners: dict[Instrument, ModelRunner],
) -> None:
    old = {i: r.executor for i, r in runners.items()}
    buffers = {i: PhraseBuffer(i, 2, r.tension_vector) for i, r in runners.items()}
    broken_drums = Path("models/drums")

    async def open_workers(instruments: Collection[Instrument]) -> Mapping[Instrument, Executor]:
        factories = {i: FakeModelFactory(i) for i in instruments}
        if broken:
            factories["drums"] = FakeModelFactory("drums", broken=broken_drums)
        return await start_process_executors(factories)

    server = SimpleNamespace(
        settings=Settings(),
        metrics=Metrics(),
        runners=runners,
        conductor=SimpleNamespace(buffers=buffers, fill_vector=None),
        executors=open_workers,
        executors_for=None,
    )
    broken = True
    with capture_logs() as logs, trio.fail_after(60):
        assert not await reload_models(server)  # type: ignore[arg-type]
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["models_reload_failed"]
    assert all(runners[i].executor is old[i] for i in INSTRUMENTS)
    assert server.metrics["reloads_failed"] == 1

    broken = False
    with trio.fail_after(60):
        assert await reload_models(server)  # type: ignore[arg-type]
    assert all(runners[i].executor is not old[i] for i in INSTRUMENTS)
    assert all(w.exitcode == 0 for w in old.values())  # type: ignore[attr-defined]
    phrases = await runners["drums"].decode(DecodeRequest.of(np.zeros((1, 4)), 1.0, None, [1]))
    assert len(phrases) == 1
    for runner in runners.values():  # the fixture closes the workers it started
        runner.close()
