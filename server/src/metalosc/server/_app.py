"""Wiring: one nursery holding the UDP loop, the transport, the refill loops and the housekeeping.

``serve`` is started like any trio service — ``await nursery.start(serve, settings)`` — and hands
back a ``RunningServer`` (bound address, counters, state) once the models are loaded and the
buffers primed. It stops when ``shutdown_trigger`` returns (signals in production, an event in
tests): the transport stops first (a cue being sent is shielded, so nothing goes out half), then the
rest is cancelled, waiting at most for the decode in flight.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import structlog
import trio
from metalosc.protocol import INSTRUMENTS, Instrument, Message, encode_bundle

from ._buffer import PhraseBuffer
from ._clock import BeatClock
from ._conductor import Conductor, Interpolation, PhraseSet
from ._control import Controller
from ._generation import Generator, InstrumentModelLike, ModelRunner, PhraseAnalysis, Runner
from ._metrics import Metrics
from ._notify import SystemdNotifier
from ._ratelimit import PeerRateLimiter
from ._realtime import raise_event_loop_priority
from ._scheduler import Player
from ._settings import Settings
from ._state import MusicState
from ._subscriptions import Mode, Subscriptions
from ._transport import Peer, UdpEndpoint, open_udp
from ._worker import (
    ModelFactory,
    ModelWorker,
    ProcessModelRunner,
    bundle_factories,
    start_workers,
)

__all__ = ["RunningServer", "load_models", "reload_models", "serve"]

log = structlog.get_logger("metalosc.server")


@dataclass(frozen=True, eq=False)
class RunningServer:
    """What ``serve`` hands back once ready (tests and benchmarks look inside)."""

    address: Peer
    settings: Settings
    state: MusicState
    metrics: Metrics
    clock: BeatClock
    conductor: Conductor
    player: Player
    generator: Generator
    subscriptions: Subscriptions
    buffers: Mapping[Instrument, PhraseBuffer]
    runners: Mapping[Instrument, Runner]
    endpoint: UdpEndpoint


def load_models(models_dir: Path) -> dict[Instrument, InstrumentModelLike]:
    """Load the three bundles ``models_dir/{guitar,bass,drums}`` (``ModelBundleError`` names a
    bad file)."""
    from metalosc.runtime import InstrumentModel

    models: dict[Instrument, InstrumentModelLike] = {}
    try:
        for instrument in INSTRUMENTS:
            models[instrument] = InstrumentModel.load(models_dir / instrument)
    except BaseException:
        for model in models.values():
            model.close()
        raise
    return models


async def _never() -> None:
    await trio.sleep_forever()


async def serve(
    settings: Settings,
    *,
    models: Mapping[Instrument, InstrumentModelLike] | None = None,
    analysis: PhraseAnalysis | None = None,
    shutdown_trigger: Callable[[], Awaitable[None]] = _never,
    notifier: SystemdNotifier | None = None,
    task_status: trio.TaskStatus[RunningServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the daemon until ``shutdown_trigger`` returns.

    ``models`` (already loaded, closed by the caller) and ``analysis`` are injectable for tests
    and always run in worker threads; by default the bundles under ``settings.models`` are loaded
    here — in one worker process per model, or in this process with
    ``model_execution="thread"`` — and closed on exit.
    """
    started = time.perf_counter()
    notifier = notifier or SystemdNotifier(None)
    if models is None and settings.model_execution == "process":
        log.info("models_loading", models=str(settings.models), execution="process")
        workers = await start_workers(
            bundle_factories(settings.models),
            log_format=settings.log_format,
            log_level=settings.log_level,
        )
        process_runners = {i: ProcessModelRunner(workers[i]) for i in INSTRUMENTS}
        try:
            await _run_with(
                settings, process_runners, shutdown_trigger, notifier, started, task_status
            )
        finally:  # the runners hold the workers in use (a reload may have swapped them)
            with trio.CancelScope(shield=True):
                await _close_all(process_runners.values())
        return
    owned = models is None
    if models is None:
        log.info("models_loading", models=str(settings.models), execution="thread")
        models = await trio.to_thread.run_sync(load_models, settings.models)
    if analysis is None:
        from ._generation import training_analysis

        analysis = training_analysis()
    runners = {i: ModelRunner(models[i], analysis) for i in INSTRUMENTS}
    try:
        await _run_with(settings, runners, shutdown_trigger, notifier, started, task_status)
    finally:
        if owned:  # the runners hold the models in use (a reload may have swapped them)
            for runner in runners.values():
                runner.close()


async def _close_all(runners: Iterable[Runner]) -> None:
    """Close runners concurrently, off the trio thread (a worker may finish a decode first)."""
    async with trio.open_nursery() as nursery:
        for runner in runners:
            nursery.start_soon(partial(trio.to_thread.run_sync, runner.close))


async def _run_with(
    settings: Settings,
    runners: Mapping[Instrument, Runner],
    shutdown_trigger: Callable[[], Awaitable[None]],
    notifier: SystemdNotifier,
    started: float,
    task_status: trio.TaskStatus[RunningServer],
) -> None:
    metrics = Metrics()
    state = MusicState(tension=settings.tension, bpm=settings.bpm, temperature=settings.temperature)
    buffers = {
        i: PhraseBuffer(
            i,
            settings.buffer_depth,
            runners[i].tension_vector,
            reference_size=max(256, 4 * settings.buffer_depth),
        )
        for i in INSTRUMENTS
    }
    clock = BeatClock(
        trio.current_time(), settings.bpm, unix_offset=time.time() - trio.current_time()
    )
    conductor = Conductor(buffers, state)
    generator = Generator(
        runners,
        buffers,
        state,
        seed=settings.seed,
        batch_size=settings.batch_size,
        bass_candidates=settings.bass_candidates,
    )
    subscriptions = Subscriptions(settings.lease)
    endpoint = await open_udp(settings.host, settings.port)

    def peer_gone(peer: Peer) -> None:
        gone = subscriptions.drop_destination(peer)
        if gone:
            metrics.inc("subscribers_gone", len(gone))
            log.info("subscriber_gone", destination=f"{peer[0]}:{peer[1]}")

    endpoint.on_gone = peer_gone

    async def send_cue(messages: Sequence[Message], sound_unix: float, mode: Mode) -> None:
        subs = subscriptions.active(mode)
        if not subs or not messages:
            return
        data = encode_bundle(messages, sound_unix if mode == "bundle" else None)
        with trio.CancelScope(shield=True):  # a cue goes to every subscriber or to none
            for sub in subs:
                await endpoint.sendto(data, sub.destination)
        metrics.inc("cues_sent")

    async with trio.open_nursery() as nursery:

        def on_phrase(chosen: PhraseSet | None) -> None:
            generator.poke()
            if conductor.finish_interpolation():
                log.info("interpolation_arrived")
                nursery.start_soon(controller.broadcast_state)

        player = Player(
            clock,
            conductor,
            state,
            send_cue,
            metrics,
            lookahead=settings.lookahead,
            on_phrase=on_phrase,
        )

        async def decode_interpolation(interp: Interpolation) -> None:
            try:
                await generator.decode_interpolation(interp)
            except Exception:  # a failed morph falls back to buffered stand-ins; keep playing
                log.exception("interpolation_decode_failed", scene=interp.scene)

        controller = Controller(
            state=state,
            clock=clock,
            conductor=conductor,
            player=player,
            subscriptions=subscriptions,
            limiter=PeerRateLimiter(settings.error_rate, settings.error_burst),
            metrics=metrics,
            send_to=endpoint.sendto,
            start_interpolation=lambda interp: nursery.start_soon(decode_interpolation, interp),
            on_tension=generator.poke,
            lookahead=settings.lookahead,
        )
        host, port = endpoint.address
        log.info("listening", host=host, port=port)
        log.info("models_warming_up")
        await generator.warm_up()
        log.info("buffers_priming", depth=settings.buffer_depth)
        await generator.prime()
        _freeze_heap()
        # after the workers exist; what this thread starts from now on is reset to SCHED_OTHER
        restore_priority = raise_event_loop_priority(settings.realtime_priority)

        nursery.start_soon(endpoint.serve, controller.handle_datagram)
        nursery.start_soon(player.run)
        for instrument in ("guitar", "drums"):
            nursery.start_soon(generator.refill_forever, instrument)
        nursery.start_soon(_expire_leases, subscriptions)
        interval = SystemdNotifier.watchdog_interval()
        if interval is not None:
            nursery.start_soon(_watchdog, notifier, interval)
        if settings.autoplay:
            player.play()

        ready_s = time.perf_counter() - started
        log.info("ready", host=host, port=port, startup_s=round(ready_s, 3))
        notifier.ready(f"listening on {host}:{port}")
        task_status.started(
            RunningServer(
                address=(host, port),
                settings=settings,
                state=state,
                metrics=metrics,
                clock=clock,
                conductor=conductor,
                player=player,
                generator=generator,
                subscriptions=subscriptions,
                buffers=buffers,
                runners=runners,
                endpoint=endpoint,
            )
        )
        try:
            await shutdown_trigger()
        finally:
            log.info("stopping")
            restore_priority()
            notifier.stopping()
            player.stop()
            nursery.cancel_scope.cancel()
    endpoint.close()
    underruns = {i: b.underruns for i, b in buffers.items()}
    log.info("stopped", underruns=underruns, errors=metrics["errors"])


async def reload_models(
    server: RunningServer,
    load: Callable[[Path], Mapping[Instrument, InstrumentModelLike]] = load_models,
    factories: Callable[[Path], Mapping[Instrument, ModelFactory]] = bundle_factories,
) -> bool:
    """Swap in freshly loaded bundles (SIGHUP); on any failure keep playing the old ones.

    Worker processes are replaced by fresh ones started from ``factories``; in-thread models by
    what ``load`` returns (both injectable for tests). Each runner's
    slot is taken before its model is swapped, so no decode is in flight on the model being
    closed. Phrases already buffered stay playable.
    """
    log.info("models_reloading", models=str(server.settings.models))
    in_processes = all(isinstance(r, ProcessModelRunner) for r in server.runners.values())
    workers: Mapping[Instrument, ModelWorker] = {}
    models: Mapping[Instrument, InstrumentModelLike] = {}
    try:
        if in_processes:
            workers = await start_workers(
                factories(server.settings.models),
                log_format=server.settings.log_format,
                log_level=server.settings.log_level,
            )
        else:
            models = await trio.to_thread.run_sync(load, server.settings.models)
    except Exception as exc:
        log.error("models_reload_failed", error=str(exc))
        return False
    for instrument, runner in server.runners.items():
        async with runner.limiter:
            old: ModelWorker | InstrumentModelLike
            if isinstance(runner, ProcessModelRunner):
                old = runner.replace(workers[instrument])
            else:
                assert isinstance(runner, ModelRunner)
                old = runner.replace(models[instrument])
            server.buffers[instrument].set_tension_vector(runner.tension_vector)
            await trio.to_thread.run_sync(old.close)
    log.info("models_reloaded")
    return True


def _freeze_heap() -> None:
    """Exempt everything allocated so far (the models' TF graphs are a great many Python objects)
    from the cyclic garbage collector. A full collection holds the GIL from start to end, so
    walking the graphs would stall the event loop; after ``gc.freeze`` collections only walk what
    the music allocates (the standard trick for long-running servers with a big static heap)."""
    gc.collect()
    gc.freeze()
    log.debug("heap_frozen", objects=gc.get_freeze_count())


async def _expire_leases(subscriptions: Subscriptions, period: float = 1.0) -> None:
    while True:
        await trio.sleep(period)
        for sub in subscriptions.expire(trio.current_time()):
            log.info("subscription_expired", peer=f"{sub.peer[0]}:{sub.peer[1]}")


async def _watchdog(notifier: SystemdNotifier, interval: float) -> None:
    """``WATCHDOG=1`` from the trio thread itself: a blocked event loop stops the pings."""
    while True:
        notifier.watchdog()
        await trio.sleep(interval)
