"""Wiring: the daemon's pieces, one nursery, and a graceful stop under a deadline.

``serve`` is started like any trio service — ``await nursery.start(serve, settings)`` — and hands
back a :class:`RunningServer` once the models are loaded and the buffers primed. It stops when
``shutdown_trigger`` returns (signals in production, an event in tests): the transport stops (a
cue being sent is shielded, so nothing goes out half), everything else is cancelled, and the
model executors are closed — all of it within ``settings.grace`` seconds, a deadline on the
serve's own cancel scope (hypercorn's trio worker does the same). A stop that overruns the
deadline is abandoned and reported by :class:`GraceExpiredError`.
"""

from __future__ import annotations

import gc
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial

import numpy as np
import structlog
import trio
from metalosc.protocol import INSTRUMENTS, KEY_PITCH_CLASSES, Instrument
from metalosc.runtime import PHRASE_BARS

from ._access import AccessList
from ._buffer import PhraseBuffer
from ._clock import BeatClock
from ._conductor import Conductor, FormRules
from ._control import Controller
from ._controls import Controls
from ._discovery import Advertisement, advertise
from ._generation import Generator
from ._http import serve_http
from ._metrics import Metrics
from ._models import ExecutorSource, bundle_executors
from ._notify import SystemdNotifier
from ._oscquery import HostInfo, http_handler
from ._outbox import Outbox
from ._ratelimit import PeerRateLimiter, TokenBucket
from ._runner import Executor, ModelRunner, RestartExecutor
from ._scenes import SCENES_FILE, SceneStore
from ._sched_fifo import raise_event_loop_priority
from ._settings import ConfigError, Settings
from ._subscriptions import Subscriptions
from ._transport import Transport
from ._udp import Peer, adopt_udp, open_udp

__all__ = ["GraceExpiredError", "RunningServer", "reload_models", "serve"]

log = structlog.get_logger("metalosc.server")


class GraceExpiredError(Exception):
    """The graceful stop took longer than ``settings.grace`` seconds and was cut short."""


@dataclass(frozen=True, eq=False)
class RunningServer:
    """What ``serve`` hands back once ready: where it listens and the pieces tests, benchmarks and
    a reload look at. ``executors`` opens fresh model executors (a reload)."""

    address: Peer
    settings: Settings
    metrics: Metrics
    controls: Controls
    clock: BeatClock
    conductor: Conductor
    transport: Transport
    generator: Generator
    subscriptions: Subscriptions
    runners: Mapping[Instrument, ModelRunner]
    executors: ExecutorSource
    controller: Controller
    scene_store: SceneStore
    oscquery_address: Peer | None
    """Where the OSCQuery (HTTP) server listens; ``None`` when it is off."""


async def _never() -> None:
    await trio.sleep_forever()


async def serve(
    settings: Settings,
    *,
    executors: ExecutorSource | None = None,
    shutdown_trigger: Callable[[], Awaitable[None]] = _never,
    notifier: SystemdNotifier | None = None,
    sock: socket.socket | None = None,
    task_status: trio.TaskStatus[RunningServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the daemon until ``shutdown_trigger`` returns.

    ``executors`` opens the models (default: the bundles under ``settings.models`` on
    ``settings.model_execution``'s executors; tests pass fakes); a model whose executor fails is
    restarted from it. ``sock`` is a bound UDP socket to serve on instead of binding
    ``settings.host:port`` (one opened elsewhere: socket activation, a test's network
    namespace); the daemon closes it. Raises ``ModelBundleError`` naming a broken bundle file
    before anything plays, and :class:`GraceExpiredError` when the graceful stop overran
    ``settings.grace`` seconds.
    """
    started = time.perf_counter()
    source = executors or bundle_executors(settings)
    log.info("models_loading", models=str(settings.models), execution=settings.model_execution)
    metrics = Metrics()
    runners = {
        i: ModelRunner(
            e,
            restart=_restarter(source, i),
            decode_timeout=settings.decode_timeout,
            metrics=metrics,
        )
        for i, e in (await source()).items()
    }
    with trio.CancelScope() as stopping:
        try:
            await _run(
                settings,
                runners,
                source,
                shutdown_trigger,
                notifier or SystemdNotifier(None),
                started,
                stopping,
                metrics,
                sock,
                task_status,
            )
        finally:  # within the grace deadline, once stopping
            async with trio.open_nursery() as nursery:
                for runner in runners.values():
                    nursery.start_soon(
                        partial(trio.to_thread.run_sync, runner.close, abandon_on_cancel=True)
                    )
    if stopping.cancelled_caught:
        log.error("shutdown_grace_expired", grace_s=settings.grace)
        raise GraceExpiredError(f"the graceful stop took longer than {settings.grace} s")


async def _run(
    settings: Settings,
    runners: Mapping[Instrument, ModelRunner],
    source: ExecutorSource,
    shutdown_trigger: Callable[[], Awaitable[None]],
    notifier: SystemdNotifier,
    started: float,
    stopping: trio.CancelScope,
    metrics: Metrics,
    sock: socket.socket | None,
    task_status: trio.TaskStatus[RunningServer],
) -> None:
    controls = Controls(
        tension=settings.tension,
        temperature=settings.temperature,
        transition=settings.transition,
    )
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
    conductor = Conductor(
        buffers,
        controls,
        form_rules(settings),
        key=KEY_PITCH_CLASSES[settings.key],
        fill_vector=runners["drums"].info.fill_vector,
        rng=np.random.default_rng(None if settings.seed is None else [settings.seed, 1]),
    )
    generator = Generator(
        runners,
        buffers,
        controls,
        seed=settings.seed,
        batch_size=settings.batch_size,
        bass_candidates=settings.bass_candidates,
        key=lambda: conductor.target_key,
        guitar_min_notes=settings.guitar_min_notes,
        power_chords=settings.power_chords,
    )
    scene_store = SceneStore(settings.state_path() / SCENES_FILE, settings.scene_seed)
    z_sizes = {i: runners[i].info.z_size for i in INSTRUMENTS}
    conductor.scenes.update(await trio.to_thread.run_sync(scene_store.load, z_sizes))
    subscriptions = Subscriptions(settings.lease, settings.max_subscribers)
    endpoint = adopt_udp(sock) if sock is not None else await open_udp(settings.host, settings.port)
    outbox = Outbox(
        endpoint.sendto,
        subscriptions,
        PeerRateLimiter(settings.error_rate, settings.error_burst),
        metrics,
        error_total=TokenBucket(
            settings.error_rate_total,
            settings.error_burst_total,
            settings.error_burst_total,
            trio.current_time(),
        ),
    )
    transport = Transport(
        clock, conductor, outbox.send_cue, controls.muted, metrics, lookahead=settings.lookahead
    )
    controller = Controller(
        controls=controls,
        clock=clock,
        transport=transport,
        conductor=conductor,
        generator=generator,
        subscriptions=subscriptions,
        outbox=outbox,
        metrics=metrics,
        lookahead=settings.lookahead,
        bundle_horizon=settings.bundle_horizon,
        bundle_capacity=settings.bundle_capacity,
        scene_store=scene_store,
        access=AccessList(settings.allow),
        input_limiter=PeerRateLimiter(settings.input_rate, settings.input_burst),
        max_packet=settings.max_packet,
        max_scenes=settings.max_scenes,
        max_name=settings.max_name,
    )

    def peer_gone(peer: Peer) -> None:
        gone = subscriptions.drop_destination(peer)
        if gone:
            metrics.inc("subscribers_gone", len(gone))
            log.info("subscriber_gone", destination=f"{peer[0]}:{peer[1]}")

    endpoint.on_gone = peer_gone
    try:
        async with trio.open_nursery() as nursery:
            host, port = endpoint.address
            log.info("listening", host=host, port=port, allow=[str(n) for n in settings.allow])
            log.info("models_warming_up")
            await generator.warm_up()
            log.info("buffers_priming", depth=settings.buffer_depth)
            await generator.prime()
            _freeze_heap()
            # after the workers exist; what this thread starts from now on is SCHED_OTHER
            restore_priority = raise_event_loop_priority(settings.realtime_priority)

            name = instance_name(settings)
            oscquery_address: Peer | None = None
            if settings.oscquery:
                oscquery_address = await _start_oscquery(
                    nursery, settings, name, endpoint.address, controller, conductor
                )
            # one byte more than accepted: a longer datagram is then known to be too long
            nursery.start_soon(
                partial(endpoint.serve, max_datagram=settings.max_packet + 1),
                controller.handle_datagram,
            )
            nursery.start_soon(controller.run)
            nursery.start_soon(transport.run)
            nursery.start_soon(generator.run)
            nursery.start_soon(_follow_transport, transport, generator, conductor, controller)
            nursery.start_soon(_expire_leases, subscriptions)
            nursery.start_soon(scene_store.run)
            interval = SystemdNotifier.watchdog_interval()
            if interval is not None:
                nursery.start_soon(_watchdog, notifier, interval)
            if settings.autoplay:
                transport.play()

            if settings.zeroconf:
                http_port = oscquery_address[1] if oscquery_address is not None else None
                ad = Advertisement(name, host, port, http_port)
                nursery.start_soon(partial(advertise, ad))
            ready_s = time.perf_counter() - started
            log.info("ready", host=host, port=port, startup_s=round(ready_s, 3))
            notifier.ready(f"listening on {host}:{port}")
            task_status.started(
                RunningServer(
                    address=(host, port),
                    settings=settings,
                    metrics=metrics,
                    controls=controls,
                    clock=clock,
                    conductor=conductor,
                    transport=transport,
                    generator=generator,
                    subscriptions=subscriptions,
                    runners=runners,
                    executors=source,
                    controller=controller,
                    scene_store=scene_store,
                    oscquery_address=oscquery_address,
                )
            )
            try:
                await shutdown_trigger()
            finally:
                log.info("stopping", grace_s=settings.grace)
                stopping.deadline = trio.current_time() + settings.grace
                restore_priority()
                notifier.stopping()
                transport.stop()
                nursery.cancel_scope.cancel()
    finally:
        endpoint.close()
    underruns = {i: b.underruns for i, b in buffers.items()}
    log.info("stopped", underruns=underruns, errors=metrics["errors"], counts=dict(metrics.counts))


def _restarter(source: ExecutorSource, instrument: Instrument) -> RestartExecutor:
    """A fresh executor for ``instrument`` from ``source``: the same path as a start or a
    reload (so a restart loads what a reload would), keeping that instrument's executor and
    closing the others it opened."""

    async def restart() -> Executor:
        fresh = await source()
        for other, executor in fresh.items():
            if other != instrument:
                await trio.to_thread.run_sync(executor.close)
        return fresh[instrument]

    return restart


async def _follow_transport(
    transport: Transport, generator: Generator, conductor: Conductor, controller: Controller
) -> None:
    """After every bar: decode what the conductor ordered and replacements for what it took;
    log a section's start, and tell subscribers when a morph has arrived at its scene."""
    async for plan in transport.chosen:
        for order in conductor.take_orders():
            generator.decode_soon(order)
        if plan is None or not plan.phrase_start:
            continue
        generator.poke()
        section = plan.section
        if section is not None:
            log.info(
                "section_started",
                index=section.index,
                label=section.label,
                key=section.key_name,
                tension=round(section.tension, 3),
                pattern=section.pattern,
                bar=section.start_bar,
            )
        if conductor.finish_interpolation():
            log.info("interpolation_arrived")
            await controller.broadcast_state()


def instance_name(settings: Settings) -> str:
    """The name the daemon goes by on the network (Zeroconf, OSCQuery's HOST_INFO)."""
    name = settings.zeroconf_name.replace("{hostname}", socket.gethostname().split(".")[0])
    return name.encode("utf-8")[:63].decode("utf-8", "ignore")  # one DNS label at most


async def _start_oscquery(
    nursery: trio.Nursery,
    settings: Settings,
    name: str,
    osc: Peer,
    controller: Controller,
    conductor: Conductor,
) -> Peer:
    """The OSCQuery HTTP server on the OSC host, answering from the live state."""
    host, osc_port = osc
    port = settings.oscquery_port if settings.oscquery_port is not None else settings.port
    info = HostInfo(name, osc_port, None if host in ("0.0.0.0", "::", "") else host)
    handler = http_handler(lambda: (controller.state(), sorted(conductor.scenes)), info)
    # the peers that may control the daemon are the ones that may read it
    serve = partial(serve_http, allows=AccessList(settings.allow).allows)
    try:
        bound: int = await nursery.start(serve, host, port, handler)
    except OSError as exc:
        if settings.oscquery_port is None and port != 0:
            # Only the default was taken (the OSC port's number over TCP): any free port will
            # do, Zeroconf says which. A port asked for is an error.
            log.warning("oscquery_port_taken", port=port, error=exc.strerror or str(exc))
            bound = await nursery.start(serve, host, 0, handler)
            log.info("oscquery_listening", host=host, port=bound)
            return (host, bound)
        raise ConfigError(
            f"cannot serve OSCQuery on {host} TCP port {port} ({exc.strerror or exc}): set "
            "oscquery_port to a free port, or oscquery = false"
        ) from exc
    log.info("oscquery_listening", host=host, port=bound)
    return (host, bound)


def form_rules(settings: Settings) -> FormRules:
    """The conductor's form rules from the daemon's settings."""
    return FormRules(
        section_phrases=settings.section_bars // PHRASE_BARS,
        patterns=settings.riff_patterns,
        tension_step=settings.tension_step,
    )


async def reload_models(server: RunningServer) -> bool:
    """Swap in freshly opened executors (SIGHUP); on any failure keep playing the old ones.

    Each runner's executor is swapped once no decode is in flight on it, then the old one is
    closed. Phrases already buffered stay playable. Returns whether the new models are in.
    """
    log.info("models_reloading", models=str(server.settings.models))
    try:
        fresh = await server.executors()
    except Exception as exc:
        log.error("models_reload_failed", error=str(exc))
        return False
    for instrument, runner in server.runners.items():
        await runner.replace(fresh[instrument])
        server.conductor.buffers[instrument].set_tension_vector(runner.tension_vector)
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
