"""Wiring: the daemon's pieces, one nursery, and a graceful stop under a deadline.

``serve`` is started like any trio service — ``await nursery.start(serve, settings)`` — and hands
back a :class:`RunningServer` once the models are loaded and the buffers primed. It stops when
``shutdown_trigger`` returns (signals in production, an event in tests): the transport stops (a
cue being sent is shielded, so nothing goes out half), everything else is cancelled, and the
model executors are closed — all of it within ``settings.grace`` seconds, a deadline on the
serve's own cancel scope (hypercorn's trio worker does the same). A stop that overruns the
deadline is abandoned and reported by :class:`GraceExpiredError`. ``systemd`` hears ``READY=1``
once the daemon can play and ``STOPPING=1`` as the first thing a stop does.

While it runs, a metrics endpoint (``_prometheus``) serves its counters and state to Prometheus,
and :func:`reload_models` swaps in new settings and bundles (SIGHUP), all or nothing.
"""

from __future__ import annotations

import gc
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

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
from ._prometheus import DaemonView, MetricsEndpoint, metrics_registry
from ._ratelimit import PeerRateLimiter, TokenBucket
from ._record import Recorder, RecordError
from ._runner import Executor, ModelRunner, RestartExecutor
from ._scenes import SCENES_FILE, SceneStore
from ._sched_fifo import raise_event_loop_priority
from ._settings import ConfigError, Settings
from ._subscriptions import Subscriptions
from ._transport import Transport
from ._udp import Peer, adopt_udp, open_udp

__all__ = [
    "LIVE_SETTINGS",
    "START_SETTINGS",
    "GraceExpiredError",
    "RunningServer",
    "reload_models",
    "serve",
]

log = structlog.get_logger("metalosc.server")


LIVE_SETTINGS = frozenset(
    {
        "models",
        "model_execution",
        "model_backend",
        "decode_timeout",
        "buffer_depth",
        "batch_size",
        "bass_candidates",
        "guitar_min_notes",
        "power_chords",
        "section_bars",
        "riff_patterns",
        "tension_step",
        "lease",
        "lease_max",
        "bundle_horizon",
        "bundle_capacity",
        "grace",
        "allow",
        "input_rate",
        "input_burst",
        "max_subscribers",
        "max_scenes",
        "max_name",
    }
)
"""Settings a reload applies to the running daemon: the bundles and how they run, how much is
decoded ahead, the form rules (from the next section), leases, client bundle bounds, the stop's
grace, who may send and how much (subscribers already in stay). Any other changed setting
(where it listens, the error budgets, logging, scheduling, …) waits for a restart, and the
reload says so."""
START_SETTINGS = frozenset(
    {"seed", "bpm", "tension", "temperature", "key", "transition", "autoplay"}
)
"""Settings that say how the music *starts*: a reload leaves the music as the game has set it
(the beat keeps its times)."""


class GraceExpiredError(Exception):
    """The graceful stop took longer than ``settings.grace`` seconds and was cut short."""


@dataclass(eq=False)
class RunningServer:
    """What ``serve`` hands back once ready: where it listens and the pieces tests, benchmarks and
    a reload look at. ``settings`` are those in effect (a reload replaces them); ``executors``
    opened the models playing, ``executors_for(settings)`` opens fresh ones for a reload;
    ``metrics_address`` is where the metrics endpoint listens (``None``: off or unavailable)."""

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
    recorder: Recorder
    controller: Controller | None = None
    metrics_address: Peer | None = None
    executors_for: Callable[[Settings], ExecutorSource] | None = None
    scene_store: SceneStore = field(default_factory=lambda: SceneStore(None))
    """Where saved scenes are kept (``SceneStore(None)``: nowhere)."""
    oscquery_address: Peer | None = None
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
    ``settings.model_execution``'s executors; tests pass fakes, which a reload opens again); a
    model whose executor fails is restarted from it. ``sock`` is a bound UDP socket to serve on
    instead of binding ``settings.host:port`` (one opened elsewhere: socket activation, a test's
    network namespace); the daemon closes it. Raises ``ModelBundleError`` naming a broken bundle
    file before anything plays, and :class:`GraceExpiredError` when the graceful stop overran
    ``settings.grace`` seconds.
    """
    started = time.perf_counter()

    def executors_for(wanted: Settings) -> ExecutorSource:
        return executors if executors is not None else bundle_executors(wanted)

    source = executors_for(settings)
    metrics = Metrics()
    log.info("models_loading", models=str(settings.models), execution=settings.model_execution)
    runners = {
        i: ModelRunner(
            e,
            restart=_restarter(source, i),
            decode_timeout=settings.decode_timeout,
            metrics=metrics,
        )
        for i, e in (await source(INSTRUMENTS)).items()
    }
    # Blocking clean-ups for the stop, run in threads under the grace deadline.
    closers: list[Callable[[], Any]] = [runner.close for runner in runners.values()]
    in_effect = [settings]  # the reload replaces the settings; the stop reads its grace there
    with trio.CancelScope() as stopping:
        try:
            await _run(
                settings,
                _Start(runners, source, executors_for, metrics, closers, in_effect),
                shutdown_trigger,
                notifier or SystemdNotifier(None),
                started,
                stopping,
                sock,
                task_status,
            )
        finally:  # within the grace deadline, once stopping
            async with trio.open_nursery() as nursery:
                for close in closers:
                    nursery.start_soon(
                        partial(trio.to_thread.run_sync, close, abandon_on_cancel=True)
                    )
    if stopping.cancelled_caught:
        grace = in_effect[-1].grace
        log.error("shutdown_grace_expired", grace_s=grace)
        raise GraceExpiredError(f"the graceful stop took longer than {grace} s")


@dataclass(frozen=True, eq=False)
class _Start:
    """What ``serve`` made before the daemon's pieces exist."""

    runners: Mapping[Instrument, ModelRunner]
    source: ExecutorSource
    executors_for: Callable[[Settings], ExecutorSource]
    metrics: Metrics
    closers: list[Callable[[], Any]]
    in_effect: list[Settings]


async def _run(
    settings: Settings,
    start: _Start,
    shutdown_trigger: Callable[[], Awaitable[None]],
    notifier: SystemdNotifier,
    started: float,
    stopping: trio.CancelScope,
    sock: socket.socket | None,
    task_status: trio.TaskStatus[RunningServer],
) -> None:
    runners, metrics = start.runners, start.metrics
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
    # Always a known seed: the log and every take's log say which one the music was drawn with.
    seed = settings.seed if settings.seed is not None else secrets.randbits(32)
    log.info("seed_chosen", seed=seed, drawn=settings.seed is None)
    conductor = Conductor(
        buffers,
        controls,
        form_rules(settings),
        key=KEY_PITCH_CLASSES[settings.key],
        fill_vector=runners["drums"].info.fill_vector,
        rng=np.random.default_rng([seed, 1]),
    )
    generator = Generator(
        runners,
        buffers,
        controls,
        seed=seed,
        batch_size=settings.batch_size,
        bass_candidates=settings.bass_candidates,
        key=lambda: conductor.target_key,
        guitar_min_notes=settings.guitar_min_notes,
        power_chords=settings.power_chords,
    )
    scene_store = SceneStore(settings.state_path() / SCENES_FILE, settings.scene_seed)
    z_sizes = {i: runners[i].info.z_size for i in INSTRUMENTS}
    conductor.scenes.update(await trio.to_thread.run_sync(scene_store.load, z_sizes))
    subscriptions = Subscriptions(
        settings.lease, settings.max_subscribers, max_lease_s=settings.lease_max
    )
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
    recorder = Recorder(
        settings.recordings,
        clock,
        settings=settings.model_dump(mode="json"),
        seed=seed,
    )
    transport.observer = recorder
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
        recorder=recorder,
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
    host, port = endpoint.address
    view = DaemonView(
        metrics=metrics,
        endpoint=endpoint,
        subscriptions=subscriptions,
        buffers=buffers,
        runners=runners,
        generator=generator,
        conductor=conductor,
        clock=clock,
        controls=controls,
        transport=transport,
        scheduled=controller.scheduled,
    )
    server = RunningServer(
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
        executors=start.source,
        recorder=recorder,
        controller=controller,
        metrics_address=_open_metrics(settings, view, start.closers),
        executors_for=start.executors_for,
        scene_store=scene_store,
    )
    try:
        async with trio.open_nursery() as nursery:
            log.info("listening", host=host, port=port, allow=[str(n) for n in settings.allow])
            log.info("models_warming_up")
            await generator.warm_up()
            log.info("buffers_priming", depth=settings.buffer_depth)
            await generator.prime()
            _freeze_heap()
            # after the workers exist; what this thread starts from now on is SCHED_OTHER
            restore_priority = raise_event_loop_priority(settings.realtime_priority)

            name = instance_name(settings)
            if settings.oscquery:
                server.oscquery_address = await _start_oscquery(
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
                oscquery = server.oscquery_address
                http_port = oscquery[1] if oscquery is not None else None
                ad = Advertisement(name, host, port, http_port)
                nursery.start_soon(partial(advertise, ad))
            ready_s = time.perf_counter() - started
            view.startup_s = ready_s
            log.info("ready", host=host, port=port, startup_s=round(ready_s, 3))
            notifier.ready(f"listening on {host}:{port}")
            task_status.started(server)
            try:
                await shutdown_trigger()
            finally:
                # First: whatever else the stop meets, systemd knows a stop is under way.
                notifier.stopping()
                grace = server.settings.grace
                start.in_effect.append(server.settings)
                log.info("stopping", grace_s=grace)
                stopping.deadline = trio.current_time() + grace
                restore_priority()
                transport.stop()
                await _save_recording(recorder, settings.grace)
                nursery.cancel_scope.cancel()
    finally:
        endpoint.close()
    underruns = {i: b.underruns for i, b in buffers.items()}
    log.info("stopped", underruns=underruns, errors=metrics["errors"], counts=dict(metrics.counts))


def _restarter(source: ExecutorSource, instrument: Instrument) -> RestartExecutor:
    """A fresh executor for ``instrument`` from ``source``: the same path as a start or a
    reload (so a restart loads what a reload would), for that instrument alone."""

    async def restart() -> Executor:
        return (await source((instrument,)))[instrument]

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
    # the peers that may control the daemon are the ones that may read it; read at each
    # connection, since a reload may change them
    serve = partial(serve_http, allows=controller.may_send)
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


def _open_metrics(
    settings: Settings, view: DaemonView, closers: list[Callable[[], Any]]
) -> Peer | None:
    """Start the metrics endpoint (unless off); where it listens. One that cannot listen is
    logged and left out: the music does not depend on it."""
    if not settings.metrics:
        return None
    registry = metrics_registry(view, trio.lowlevel.current_trio_token())
    try:
        endpoint = MetricsEndpoint(registry, settings.metrics_host, settings.metrics_port)
    except OSError as exc:
        log.error(
            "metrics_unavailable",
            host=settings.metrics_host,
            port=settings.metrics_port,
            error=str(exc),
        )
        return None
    closers.append(endpoint.close)
    host, port = endpoint.address
    log.info("metrics_listening", host=host, port=port)
    return endpoint.address


async def reload_models(server: RunningServer, settings: Settings | None = None) -> bool:
    """Reload (SIGHUP): swap in freshly opened executors and, when given, ``settings``; on any
    failure keep playing the old models with the old settings (all or nothing).

    The bundles are opened from ``settings`` (default: those in effect). Once they are in,
    the changed :data:`LIVE_SETTINGS` are applied; changed :data:`START_SETTINGS` are left
    (the music goes on as the game has set it, the beat keeps its times) and any other change
    is logged as needing a restart and not applied. Each runner's executor is swapped once no
    decode is in flight on it, then the old one is closed; phrases already buffered stay
    playable. Returns whether the reload went through.
    """
    old = server.settings
    new = settings if settings is not None else old
    source = server.executors_for(new) if server.executors_for is not None else server.executors
    log.info("models_reloading", models=str(new.models))
    try:
        fresh = await source(INSTRUMENTS)
    except Exception as exc:
        server.metrics.inc("reloads_failed")
        log.error("models_reload_failed", error=str(exc))
        return False
    for instrument, runner in server.runners.items():
        await runner.replace(fresh[instrument])
        if runner.restart is not None:  # a worker that dies from now on restarts on the new ones
            runner.restart = _restarter(source, instrument)
        server.conductor.buffers[instrument].set_tension_vector(runner.tension_vector)
    server.conductor.fill_vector = server.runners["drums"].info.fill_vector
    server.executors = source
    changed = [name for name in type(new).model_fields if getattr(new, name) != getattr(old, name)]
    restart = [name for name in changed if name not in LIVE_SETTINGS | START_SETTINGS]
    server.settings = new.model_copy(update={name: getattr(old, name) for name in restart})
    server.metrics.inc("reloads")
    log.info("models_reloaded")
    if changed:
        _apply_live_settings(server)
        log.info(
            "settings_reloaded",
            applied=[name for name in changed if name in LIVE_SETTINGS],
            start_values_kept=[name for name in changed if name in START_SETTINGS],
            restart_needed=restart,
        )
    return True


def _apply_live_settings(server: RunningServer) -> None:
    """Put ``server.settings``' :data:`LIVE_SETTINGS` into the running pieces."""
    settings = server.settings
    generator = server.generator
    generator.batch_size = settings.batch_size
    generator.bass_candidates = settings.bass_candidates
    generator.guitar_min_notes = settings.guitar_min_notes
    generator.power_chords = settings.power_chords
    for buffer in server.conductor.buffers.values():
        buffer.depth = settings.buffer_depth
        buffer.capacity = 2 * settings.buffer_depth
    for runner in server.runners.values():
        runner.decode_timeout = settings.decode_timeout
    server.conductor.rules = form_rules(settings)  # from the next section on
    server.subscriptions.lease_s = settings.lease
    server.subscriptions.max_lease_s = settings.lease_max
    server.subscriptions.capacity = settings.max_subscribers
    controller = server.controller
    if controller is not None:
        controller.scheduled.horizon = settings.bundle_horizon
        controller.scheduled.capacity = settings.bundle_capacity
        controller.access = AccessList(settings.allow)
        limiter = controller.input_limiter
        # a fresh limiter forgets every peer's spent budget: only when the budget changed
        if limiter is None or (limiter.rate, limiter.burst) != (
            settings.input_rate,
            settings.input_burst,
        ):
            controller.input_limiter = PeerRateLimiter(settings.input_rate, settings.input_burst)
        controller.max_scenes = settings.max_scenes
        controller.max_name = settings.max_name
    generator.poke()  # a deeper buffer fills now


def _freeze_heap() -> None:
    """Exempt everything allocated so far (the models' TF graphs are a great many Python objects)
    from the cyclic garbage collector. A full collection holds the GIL from start to end, so
    walking the graphs would stall the event loop; after ``gc.freeze`` collections only walk what
    the music allocates (the standard trick for long-running servers with a big static heap)."""
    gc.collect()
    gc.freeze()
    log.debug("heap_frozen", objects=gc.get_freeze_count())


async def _save_recording(recorder: Recorder, grace: float) -> None:
    """Write a take still being recorded when the daemon stops (within ``grace`` seconds, even
    while the stop cancels everything else: a take is worth keeping)."""
    if recorder.recording is None:
        return
    with trio.CancelScope(shield=True, deadline=trio.current_time() + grace):
        try:
            await recorder.stop()
        except RecordError as exc:
            log.error("recording_lost", error=str(exc))


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
