"""``metalosc`` command line: the daemon and the commands of the people and scripts that run it.

* ``metalosc serve`` runs the daemon. Exit status: 0 after a graceful stop, 2 for bad settings
  (a broken scene seed file among them), 65 when a model bundle is corrupt and 66 when one is
  missing (the message names the file; ``sysexits.h``'s EX_DATAERR and EX_NOINPUT, so a
  supervisor can tell "fix the models" from a crash, which exits 1), 70 when a graceful stop
  overran its grace deadline or a second stop request forced the exit.
* ``metalosc ping [HOST:PORT]``: 0 when a daemon answers, 1 when none does, 2 for an address
  or settings that cannot be used.
* ``metalosc config check [FILE]``: 0 when the file (with the ``METALOSC_*`` environment) makes
  usable settings and names sound bundles; 2 naming each bad key and why; 65 (corrupt) or 66
  (missing) naming a broken bundle file.
* ``metalosc config show``: the effective settings as TOML (or JSON), each with where its value
  came from.
* ``metalosc touchosc [OUT]``: writes the TouchOSC layout generated from the protocol (``--check``:
  1 when OUT differs).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any, Literal

import structlog
import trio

if sys.version_info < (3, 11):  # pragma: no cover - the deployed interpreter is 3.11
    from exceptiongroup import BaseExceptionGroup
from metalosc.protocol import ModelBundleError

from ._app import GraceExpiredError, RunningServer, reload_models, serve
from ._logging import configure_logging
from ._models import ExecutorSource
from ._notify import SystemdNotifier
from ._ping import PingError, ping, ping_address
from ._scenes import SceneFileError
from ._settings import ConfigError, ConfigProblem, Origin, Settings, explain_settings, load_settings
from ._touchosc import add_parser as add_touchosc_parser
from ._touchosc import main as touchosc_main
from ._worker import bundle_factories

__all__ = ["FORCE_AFTER_S", "StopRequests", "build_parser", "main", "run_daemon"]

log = structlog.get_logger("metalosc.server.cli")

EXIT_OK = 0
EXIT_NO_ANSWER = 1
EXIT_BUNDLE = 65
EXIT_BUNDLE_MISSING = 66
EXIT_CONFIG = 2
EXIT_GRACE_EXPIRED = 70
EXIT_FORCED = 70

DEFAULT_CONFIG = Path("/etc/metalosc/metalosc.toml")
"""The file the systemd unit and the container image read (``config check``'s default)."""

GIL_SWITCH_INTERVAL_S = 0.0005
"""The model threads run Python between model calls (note conversion, features, chords); with
CPython's default 5 ms switch interval the event loop waited up to tens of ms for the GIL under
decode load (bench/ping_latency.py: pong p99 18 ms -> 10 ms with 0.5 ms on 2 busy cores)."""

FORCE_AFTER_S = 1.0
"""Seconds after a stop request before another SIGINT/SIGTERM forces the exit. Copies of one
request arrive within microseconds (a whole process group signalled by ``kill -- -PGID``,
``timeout`` or a supervisor, and a wrapper such as ``uv run`` forwarding the same signal); a person
who means "now" presses Ctrl-C again a good deal later than that."""


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that set a :class:`Settings` field (``serve`` and ``config show``)."""
    defaults = Settings.model_fields
    parser.add_argument(
        "--config", type=Path, help="TOML settings file (ignored if it does not exist)"
    )
    parser.add_argument("--host", help=f"address to listen on [{defaults['host'].default}]")
    parser.add_argument(
        "--port", type=int, help=f"UDP port, 0 = any free [{defaults['port'].default}]"
    )
    parser.add_argument(
        "--models",
        type=Path,
        help=f"bundle dir with guitar/ bass/ drums/ [{defaults['models'].default}]",
    )
    parser.add_argument(
        "--lookahead",
        type=float,
        help=f"seconds note bundles are sent before they sound [{defaults['lookahead'].default}]",
    )
    parser.add_argument(
        "--buffer-depth",
        type=int,
        help=f"decoded phrases kept per instrument [{defaults['buffer_depth'].default}]",
    )
    parser.add_argument(
        "--batch-size", type=int, help=f"phrases per decode [{defaults['batch_size'].default}]"
    )
    parser.add_argument(
        "--lease",
        type=float,
        help=f"seconds a subscription lives without a message [{defaults['lease'].default}]",
    )
    parser.add_argument(
        "--model-execution",
        choices=["process", "thread"],
        help="run each model in a worker process or in a worker thread "
        f"[{defaults['model_execution'].default}]",
    )
    parser.add_argument(
        "--model-backend",
        choices=["auto", "onnx", "tf"],
        help="decode with the bundles' ONNX decoders (no TensorFlow) or their TF checkpoints; "
        f"auto = ONNX where a bundle has one [{defaults['model_backend'].default}]",
    )
    parser.add_argument(
        "--allow",
        action="append",
        metavar="CIDR",
        help="a network whose peers may control the daemon and subscribe (repeat for more); "
        "others are dropped unanswered [127.0.0.0/8 and ::1]",
    )
    parser.add_argument(
        "--realtime-priority",
        type=int,
        help="SCHED_FIFO priority of the event loop, 0 = off; needs LimitRTPRIO= or "
        f"CAP_SYS_NICE [{defaults['realtime_priority'].default}]",
    )
    parser.add_argument(
        "--metrics-host",
        help=f"address of the Prometheus metrics endpoint [{defaults['metrics_host'].default}]",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        help=f"TCP port of the metrics endpoint, 0 = any free [{defaults['metrics_port'].default}]",
    )
    parser.add_argument(
        "--no-metrics",
        dest="metrics",
        action="store_false",
        default=None,
        help="no metrics endpoint",
    )
    parser.add_argument("--seed", type=int, help="random seed for reproducible music")
    parser.add_argument("--bpm", type=float, help=f"tempo at start [{defaults['bpm'].default}]")
    parser.add_argument(
        "--no-autoplay",
        dest="autoplay",
        action="store_false",
        default=None,
        help="wait for /metal/play instead of playing once ready",
    )
    parser.add_argument(
        "--log-format",
        choices=["auto", "console", "json"],
        help="auto = console on a TTY, JSON otherwise [auto]",
    )
    parser.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="[info]")
    parser.add_argument(
        "--state-dir",
        type=Path,
        help="where saved scenes are kept [$STATE_DIRECTORY, else ~/.local/state/metalosc]",
    )
    parser.add_argument(
        "--no-zeroconf",
        dest="zeroconf",
        action="store_false",
        default=None,
        help="do not advertise the daemon on the network",
    )
    parser.add_argument(
        "--no-oscquery",
        dest="oscquery",
        action="store_false",
        default=None,
        help="do not serve the address space as OSCQuery (HTTP/JSON)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``metalosc`` argument parser: ``serve``, ``ping``, ``config check``, ``config show``,
    ``touchosc``."""
    parser = argparse.ArgumentParser(
        prog="metalosc",
        description="MetalOSC: real-time Metal from MusicVAE models, controlled over OSC/UDP.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = commands.add_parser(
        "serve",
        help="run the OSC daemon (plays guitar, bass and drums to subscribers)",
        description=(
            "Load the three model bundles, prime the phrase buffers and answer OSC control "
            "messages with beat-scheduled note bundles. Every option can also be set as "
            "METALOSC_<NAME> in the environment or as <name> in the TOML --config file; flags win "
            "over the environment, which wins over the file. SIGINT/SIGTERM stop gracefully, "
            "SIGHUP reloads the settings and the bundles (keeping the old ones if either is "
            "bad). Prometheus metrics are served on 127.0.0.1:9410 unless --no-metrics."
        ),
        argument_default=None,
    )
    _add_setting_flags(run)

    ping_cmd = commands.add_parser(
        "ping",
        help="ask a running daemon for a pong (exit 0: it answered)",
        description=(
            "Send /metal/ping and wait for the daemon's /metal/pong: exit status 0 when it "
            "answered, 1 when it did not (for health checks and scripts). Without HOST:PORT, "
            "where the settings (METALOSC_* environment, --config file) say the daemon listens."
        ),
    )
    ping_cmd.add_argument(
        "address", nargs="?", metavar="HOST:PORT", help="the daemon's OSC address"
    )
    ping_cmd.add_argument(
        "--timeout", type=float, default=2.0, help="seconds to wait for the pong [2]"
    )
    ping_cmd.add_argument("--config", type=Path, help="TOML settings file to read host and port")

    config = commands.add_parser(
        "config",
        help="check a settings file, or show the settings in effect",
        description="Check a TOML settings file, or show the effective settings.",
    )
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION")
    check = config_commands.add_parser(
        "check",
        help="exit non-zero, naming each bad key and why, unless FILE makes usable settings",
        description=(
            "Validate FILE as `metalosc serve --config FILE` would read it (with the "
            "METALOSC_* environment), and the model bundles it names. Exit status 0: usable; "
            "2: a bad setting (each named, with why); 1: a broken bundle (the file named). Run "
            "it before `systemctl reload metalosc`."
        ),
    )
    check.add_argument(
        "file", nargs="?", type=Path, default=DEFAULT_CONFIG, help=f"[{DEFAULT_CONFIG}]"
    )
    check.add_argument(
        "--no-bundles", action="store_true", help="check the settings only, not the bundles"
    )
    show = config_commands.add_parser(
        "show",
        help="print the effective settings and where each came from (flag, env, file, default)",
        description=(
            "Print the settings `metalosc serve` would run with, given the same flags, "
            "environment and --config file, each with where its value came from. The TOML "
            "output can be used as a config file."
        ),
        argument_default=None,
    )
    _add_setting_flags(show)
    show.add_argument("--format", choices=["toml", "json"], default="toml", help="[toml]")
    add_touchosc_parser(commands)
    return parser


def _setting_flags(args: argparse.Namespace) -> dict[str, Any]:
    return {k: v for k, v in vars(args).items() if k in Settings.model_fields}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``metalosc`` command line (``argv`` default: ``sys.argv[1:]``); the exit status
    (module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "touchosc":
        return touchosc_main(args)
    if args.command == "ping":
        return _ping(args)
    if args.command == "config" and args.config_command == "check":
        return _config_check(args)
    if args.command == "config" and args.config_command == "show":
        return _config_show(args)
    parser.print_help()
    return EXIT_CONFIG


def _serve(args: argparse.Namespace) -> int:
    flags = _setting_flags(args)
    try:
        settings = load_settings(args.config, **flags)
    except ConfigError as exc:
        print(f"metalosc serve: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    # TensorFlow's C++ start-up notes would go straight to the console from the workers (which
    # inherit this environment), bypassing the structured log; errors still show.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    configure_logging(settings.log_format, settings.log_level)
    if args.config is not None and not args.config.is_file():
        log.info("config_file_absent", path=str(args.config))
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    reload_settings = partial(load_settings, args.config, **flags)
    # Trio hands a signal it received but was not asked for back to the handler it found when
    # the event loop ends; a late copy of the stop request must then not end the process by the
    # default action (status 143 instead of the graceful stop's 0). So "ignore" is what it finds.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
    try:
        trio.run(partial(run_daemon, settings, reload_settings=reload_settings))
    except (
        BaseExceptionGroup,
        ModelBundleError,
        GraceExpiredError,
        SceneFileError,
        ConfigError,
    ) as error:
        return _exit_status(error)
    return EXIT_OK


def _exit_status(error: BaseException) -> int:
    """The exit status of an expected failure (hypercorn's way: split the expected ones out of
    the exception group, re-raise real errors untouched)."""
    group = error if isinstance(error, BaseExceptionGroup) else BaseExceptionGroup("", [error])
    broken, rest = group.split(ModelBundleError)
    expired, rest = rest.split(GraceExpiredError) if rest is not None else (None, None)
    unusable, rest = rest.split((SceneFileError, ConfigError)) if rest is not None else (None, None)
    if rest is not None:
        raise rest from None
    if unusable is not None:
        for exc in _leaves(unusable):
            log.error("settings_unusable", error=str(exc))
            print(f"metalosc serve: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if broken is not None:
        return _report_bundle_errors(broken.exceptions)
    if expired is not None:
        return EXIT_GRACE_EXPIRED
    return EXIT_OK


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    leaves: list[BaseException] = []
    for exc in group.exceptions:
        leaves.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return leaves


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


# -- ping and config ----------------------------------------------------------------------------


def _parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``[V6]:PORT`` or ``PORT`` (on 127.0.0.1); ``ValueError`` otherwise."""
    if text.isdigit():
        return "127.0.0.1", int(text)
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]"), int(port)


def _ping(args: argparse.Namespace) -> int:
    try:
        if args.address is not None:
            host, port = _parse_address(args.address)
        else:
            settings = load_settings(args.config)
            host, port = ping_address(settings.host, settings.port)
    except (ValueError, ConfigError) as exc:
        print(f"metalosc ping: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        round_trip = ping(host, port, args.timeout)
    except PingError as exc:
        print(f"metalosc ping: {exc}", file=sys.stderr)
        return EXIT_NO_ANSWER
    except OSError as exc:
        print(f"metalosc ping: {host}:{port}: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"pong from {host}:{port} in {round_trip * 1000:.1f} ms")
    return EXIT_OK


def _where(origin: Origin, key: str, file: Path | None) -> str:
    return {
        "flag": f"flag --{key.replace('_', '-')}",
        "env": f"env METALOSC_{key.upper()}",
        "file": f"file {file}",
        "default": "default",
    }[origin]


def _problem_line(path: Path, problem: ConfigProblem) -> str:
    return (
        f"{path}: {problem.key}: {problem.reason} "
        f"(value {problem.value}, from {_where(problem.origin, problem.key, path)})"
    )


def _config_check(args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        print(f"metalosc config check: {path}: no such file", file=sys.stderr)
        return EXIT_CONFIG
    try:
        settings = load_settings(path)
    except ConfigError as exc:
        lines = [_problem_line(path, p) for p in exc.problems] or [str(exc)]
        for line in lines:
            print(f"metalosc config check: {line}", file=sys.stderr)
        return EXIT_CONFIG
    if not args.no_bundles:
        try:
            bundle_factories(settings.models, settings.model_backend)
        except ModelBundleError as exc:
            missing = not exc.path.exists()
            what = "missing model bundle" if missing else "broken model bundle"
            print(
                f"metalosc config check: {path}: models = {settings.models}: {what}: {exc}",
                file=sys.stderr,
            )
            return EXIT_BUNDLE_MISSING if missing else EXIT_BUNDLE
    bundles = "" if args.no_bundles else f"; bundles in {settings.models} are sound"
    print(f"{path}: OK{bundles}")
    return EXIT_OK


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a TOML basic string: JSON's escapes are TOML's


def _config_show(args: argparse.Namespace) -> int:
    try:
        explained = explain_settings(args.config, **_setting_flags(args))
    except ConfigError as exc:
        print(f"metalosc config show: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    settings, origins = explained.settings, explained.origins
    if args.format == "json":
        print(
            json.dumps(
                {
                    "settings": settings.model_dump(mode="json"),
                    "origins": dict(origins),
                    "file": None if explained.file is None else str(explained.file),
                },
                indent=2,
            )
        )
        return EXIT_OK
    read = "none" if explained.file is None else str(explained.file)
    print(f"# metalosc settings in effect (config file: {read})")
    for key in Settings.model_fields:
        value = getattr(settings, key)
        where = _where(origins[key], key, explained.file)
        line = f"# {key} is unset" if value is None else f"{key} = {_toml_value(value)}"
        print(f"{line:<60}  # {where}")
    return EXIT_OK
