"""``metalosc serve``'s life under signals: a stop (also while the models load), copies of that
stop, a second request that forces the exit, reloads one at a time; and the exit status of a
start or a stop that failed.

Kept apart from the command line so that parsing arguments imports nothing of the daemon (the
model workers, spawned processes, import the command line's module again).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Literal

import structlog
import trio

if sys.version_info < (3, 11):  # pragma: no cover - the deployed interpreter is 3.11
    from exceptiongroup import BaseExceptionGroup
from metalosc.protocol import ModelBundleError

from ._app import GraceExpiredError, RunningServer, reload_models, serve
from ._exitstatus import (
    EXIT_BUNDLE,
    EXIT_BUNDLE_MISSING,
    EXIT_CONFIG,
    EXIT_FORCED,
    EXIT_GRACE_EXPIRED,
    EXIT_OK,
    exception_leaves,
)
from ._models import ExecutorSource
from ._notify import SystemdNotifier
from ._scenes import SceneFileError
from ._settings import ConfigError, Settings

__all__ = ["FORCE_AFTER_S", "StopRequests", "exit_status", "run_daemon"]

log = structlog.get_logger("metalosc.server.cli")

FORCE_AFTER_S = 1.0
"""Seconds after a stop request before another SIGINT/SIGTERM forces the exit. Copies of one
request arrive within microseconds (a whole process group signalled by ``kill -- -PGID``,
``timeout`` or a supervisor, and a wrapper such as ``uv run`` forwarding the same signal); a person
who means "now" presses Ctrl-C again a good deal later than that."""


def exit_status(error: BaseException) -> int:
    """The exit status of an expected failure (hypercorn's way: split the expected ones out of
    the exception group, re-raise real errors untouched)."""
    group = error if isinstance(error, BaseExceptionGroup) else BaseExceptionGroup("", [error])
    broken, rest = group.split(ModelBundleError)
    expired, rest = rest.split(GraceExpiredError) if rest is not None else (None, None)
    unusable, rest = rest.split((SceneFileError, ConfigError)) if rest is not None else (None, None)
    if rest is not None:
        raise rest from None
    if unusable is not None:
        for exc in exception_leaves(unusable):
            log.error("settings_unusable", error=str(exc))
            print(f"metalosc serve: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if broken is not None:
        return _report_bundle_errors(broken.exceptions)
    if expired is not None:
        return EXIT_GRACE_EXPIRED
    return EXIT_OK


def _report_bundle_errors(errors: Sequence[BaseException]) -> int:
    """Report every broken bundle; the exit status: missing (66) if any file or directory named
    is not there, else corrupt (65)."""
    status = EXIT_BUNDLE
    for exc in errors:
        if isinstance(exc, BaseExceptionGroup):
            status = max(status, _report_bundle_errors(exc.exceptions))
            continue
        missing = isinstance(exc, ModelBundleError) and not exc.path.exists()
        log.error("bundle_invalid", error=str(exc), missing=missing)
        what = "missing" if missing else "cannot load"
        print(f"metalosc serve: {what} model bundle: {exc}", file=sys.stderr)
        if missing:
            status = EXIT_BUNDLE_MISSING
    return status


# -- signals ------------------------------------------------------------------------------------


class StopRequests:
    """Tells a second stop request from copies of the first: a SIGINT/SIGTERM is the stop
    (``"stop"``), a copy of it (``"copy"``: within ``force_after`` seconds of the first) or a
    second request, which forces the exit (``"force"``). Times are any monotonic seconds."""

    def __init__(self, force_after: float = FORCE_AFTER_S) -> None:
        self.force_after = force_after
        self.first: float | None = None

    def classify(self, now: float) -> Literal["stop", "copy", "force"]:
        """What a stop signal arriving at ``now`` (seconds) means."""
        if self.first is None:
            self.first = now
            return "stop"
        return "copy" if now - self.first < self.force_after else "force"


class _Started:
    """``serve``'s task status: keeps the running server (the daemon's handle for reloads) and
    hands it on to ``forward``."""

    def __init__(self, forward: trio.TaskStatus[RunningServer]) -> None:
        self.server: RunningServer | None = None
        self.forward = forward

    def started(self, value: RunningServer | None = None) -> None:
        assert value is not None
        self.server = value
        self.forward.started(value)


class _Daemon:
    """``serve`` under signals: stop (also while starting), copies of a stop, forced exit,
    reloads one at a time."""

    def __init__(
        self,
        settings: Settings,
        reload_settings: Callable[[], Settings],
        notifier: SystemdNotifier,
        force_exit: Callable[[int], object],
        task_status: trio.TaskStatus[RunningServer],
    ) -> None:
        self.settings = settings
        self.reload_settings = reload_settings
        self.notifier = notifier
        self.force_exit = force_exit
        self.stop = trio.Event()
        self.requests = StopRequests()
        self.status = _Started(task_status)
        self.starting = trio.CancelScope()
        self.reloads = trio.Lock()

    async def serve(self, executors: ExecutorSource | None) -> None:
        with self.starting:  # cancelled only by a stop that arrives before ready
            await serve(
                self.settings,
                executors=executors,
                shutdown_trigger=self.stop.wait,
                notifier=self.notifier,
                task_status=self.status,
            )

    async def handle_signals(self, signals: AsyncIterator[int], nursery: trio.Nursery) -> None:
        async for signum in signals:
            name = signal.Signals(signum).name
            server = self.status.server
            if signum == signal.SIGHUP:
                if server is None or self.stop.is_set():
                    why = "starting" if server is None else "stopping"
                    log.info("signal_received", signal=name, action="ignored", why=why)
                else:
                    log.info("signal_received", signal=name, action="reload")
                    nursery.start_soon(self.reload, server)
                continue
            verdict = self.requests.classify(trio.current_time())
            if verdict == "copy":
                log.info("signal_received", signal=name, action="ignored", why="same stop")
                continue
            if verdict == "force":
                log.warning("shutdown_forced", signal=name)
                self.force_exit(EXIT_FORCED)
                continue
            grace = (server.settings if server is not None else self.settings).grace
            log.info("signal_received", signal=name, action="stop", grace_s=grace)
            if server is None:  # nothing plays yet: stop loading
                self.notifier.stopping()
                self.starting.cancel()
            else:
                self.stop.set()

    async def reload(self, server: RunningServer) -> None:
        async with self.reloads:
            if self.stop.is_set():
                return
            self.notifier.reloading()
            try:
                fresh = self.reload_settings()
            except ConfigError as exc:
                server.metrics.inc("reloads_failed")
                log.error("config_reload_failed", error=str(exc))
            else:
                await reload_models(server, fresh)
            host, port = server.address
            self.notifier.ready(f"listening on {host}:{port}")


async def run_daemon(
    settings: Settings,
    *,
    reload_settings: Callable[[], Settings] | None = None,
    executors: ExecutorSource | None = None,
    notifier: SystemdNotifier | None = None,
    force_exit: Callable[[int], object] = os._exit,
    task_status: trio.TaskStatus[RunningServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    """``serve`` with signals (what ``metalosc serve`` runs).

    The first SIGINT/SIGTERM stops gracefully within ``settings.grace`` seconds
    (``GraceExpiredError`` past that), or, while the models are still loading, stops the
    loading; copies of it arriving within :data:`FORCE_AFTER_S` seconds are the same request,
    and one after that calls ``force_exit(70)``. SIGHUP reloads: ``reload_settings()``
    (default: ``settings`` again; a ``ConfigError`` keeps everything as it is) and fresh bundles,
    all or nothing (:func:`~metalosc.server.reload_models`), between ``RELOADING=1`` and
    ``READY=1``. ``executors`` and ``notifier`` default to the bundles and ``$NOTIFY_SOCKET``;
    started with ``nursery.start``, it hands back the :class:`~metalosc.server.RunningServer`
    once ready.
    """
    daemon = _Daemon(
        settings,
        reload_settings or (lambda: settings),
        notifier if notifier is not None else SystemdNotifier.from_env(),
        force_exit,
        task_status,
    )
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(daemon.handle_signals, signals, nursery)
            try:
                await daemon.serve(executors)
            finally:
                nursery.cancel_scope.cancel()  # the server is down: stop listening for signals
