"""``metalosc`` command line: ``metalosc serve`` runs the daemon, ``metalosc touchosc`` writes
the TouchOSC layout.

Exit status: 0 after a graceful stop, 2 for bad settings (a broken scene seed file among them),
65 when a model bundle is corrupt and 66 when one is missing (the message names the file;
``sysexits.h``'s EX_DATAERR and EX_NOINPUT, so a supervisor can tell "fix the models" from a
crash, which exits 1), 70 when a graceful stop overran its grace deadline.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import structlog
import trio

if sys.version_info < (3, 11):  # pragma: no cover - the deployed interpreter is 3.11
    from exceptiongroup import BaseExceptionGroup
from metalosc.protocol import ModelBundleError

from ._app import GraceExpiredError, RunningServer, reload_models, serve
from ._logging import configure_logging
from ._notify import SystemdNotifier
from ._scenes import SceneFileError
from ._settings import ConfigError, Settings, load_settings
from ._touchosc import add_parser as add_touchosc_parser
from ._touchosc import main as touchosc_main

__all__ = ["build_parser", "main"]

log = structlog.get_logger("metalosc.server.cli")

EXIT_BUNDLE = 65
EXIT_BUNDLE_MISSING = 66
EXIT_CONFIG = 2
EXIT_GRACE_EXPIRED = 70

GIL_SWITCH_INTERVAL_S = 0.0005
"""The model threads run Python between model calls (note conversion, features, chords); with
CPython's default 5 ms switch interval the event loop waited up to tens of ms for the GIL under
decode load (bench/ping_latency.py: pong p99 18 ms -> 10 ms with 0.5 ms on 2 busy cores)."""


def build_parser() -> argparse.ArgumentParser:
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
            "SIGHUP reloads the bundles (keeping the old ones if the new ones are broken)."
        ),
        argument_default=None,
    )
    defaults = Settings.model_fields
    run.add_argument(
        "--config", type=Path, help="TOML settings file (ignored if it does not exist)"
    )
    run.add_argument("--host", help=f"address to listen on [{defaults['host'].default}]")
    run.add_argument(
        "--port", type=int, help=f"UDP port, 0 = any free [{defaults['port'].default}]"
    )
    run.add_argument(
        "--models",
        type=Path,
        help=f"bundle dir with guitar/ bass/ drums/ [{defaults['models'].default}]",
    )
    run.add_argument(
        "--lookahead",
        type=float,
        help=f"seconds note bundles are sent before they sound [{defaults['lookahead'].default}]",
    )
    run.add_argument(
        "--buffer-depth",
        type=int,
        help=f"decoded phrases kept per instrument [{defaults['buffer_depth'].default}]",
    )
    run.add_argument(
        "--batch-size", type=int, help=f"phrases per decode [{defaults['batch_size'].default}]"
    )
    run.add_argument(
        "--lease",
        type=float,
        help=f"seconds a subscription lives without a message [{defaults['lease'].default}]",
    )
    run.add_argument(
        "--model-execution",
        choices=["process", "thread"],
        help="run each model in a worker process or in a worker thread "
        f"[{defaults['model_execution'].default}]",
    )
    run.add_argument(
        "--model-backend",
        choices=["auto", "onnx", "tf"],
        help="decode with the bundles' ONNX decoders (no TensorFlow) or their TF checkpoints; "
        f"auto = ONNX where a bundle has one [{defaults['model_backend'].default}]",
    )
    run.add_argument(
        "--realtime-priority",
        type=int,
        help="SCHED_FIFO priority of the event loop, 0 = off; needs LimitRTPRIO= or "
        f"CAP_SYS_NICE [{defaults['realtime_priority'].default}]",
    )
    run.add_argument(
        "--allow",
        action="append",
        metavar="CIDR",
        help="a network whose peers may control the daemon and subscribe (repeat for more); "
        "others are dropped unanswered [127.0.0.0/8 and ::1]",
    )
    run.add_argument("--seed", type=int, help="random seed for reproducible music")
    run.add_argument("--bpm", type=float, help=f"tempo at start [{defaults['bpm'].default}]")
    run.add_argument(
        "--no-autoplay",
        dest="autoplay",
        action="store_false",
        default=None,
        help="wait for /metal/play instead of playing once ready",
    )
    run.add_argument(
        "--log-format",
        choices=["auto", "console", "json"],
        help="auto = console on a TTY, JSON otherwise [auto]",
    )
    run.add_argument("--log-level", choices=["debug", "info", "warning", "error"], help="[info]")
    run.add_argument(
        "--state-dir",
        type=Path,
        help="where saved scenes are kept [$STATE_DIRECTORY, else ~/.local/state/metalosc]",
    )
    run.add_argument(
        "--no-zeroconf",
        dest="zeroconf",
        action="store_false",
        default=None,
        help="do not advertise the daemon on the network",
    )
    run.add_argument(
        "--no-oscquery",
        dest="oscquery",
        action="store_false",
        default=None,
        help="do not serve the address space as OSCQuery (HTTP/JSON)",
    )
    add_touchosc_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "touchosc":
        return touchosc_main(args)
    if args.command != "serve":
        parser.print_help()
        return EXIT_CONFIG
    flags = {k: v for k, v in vars(args).items() if k not in ("command", "config")}
    try:
        settings = load_settings(args.config, **flags)
    except ConfigError as exc:
        print(f"metalosc serve: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings.log_format, settings.log_level)
    if args.config is not None and not args.config.is_file():
        log.info("config_file_absent", path=str(args.config))
    sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
    try:
        trio.run(run_daemon, settings)
    except (
        BaseExceptionGroup,
        ModelBundleError,
        GraceExpiredError,
        SceneFileError,
        ConfigError,
    ) as error:
        return _exit_status(error)
    return 0


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
    return 0


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


async def run_daemon(settings: Settings) -> None:
    """``serve`` with signals: the first SIGINT/SIGTERM stops gracefully within ``settings.grace``
    seconds (``GraceExpiredError`` past that), a second one exits at once; SIGHUP reloads the
    bundles."""
    stop = trio.Event()
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async with trio.open_nursery() as nursery:
            server: RunningServer = await nursery.start(
                _serve_then_cancel, settings, stop, nursery.cancel_scope
            )
            async for signum in signals:
                name = signal.Signals(signum).name
                if signum == signal.SIGHUP:
                    log.info("signal_received", signal=name)
                    nursery.start_soon(reload_models, server)
                elif not stop.is_set():
                    log.info("signal_received", signal=name, grace_s=settings.grace)
                    stop.set()
                else:
                    log.warning("shutdown_forced", signal=name)
                    os._exit(EXIT_GRACE_EXPIRED)


async def _serve_then_cancel(
    settings: Settings,
    stop: trio.Event,
    scope: trio.CancelScope,
    task_status: trio.TaskStatus[RunningServer] = trio.TASK_STATUS_IGNORED,
) -> None:
    try:
        await serve(
            settings,
            shutdown_trigger=stop.wait,
            notifier=SystemdNotifier.from_env(),
            task_status=task_status,
        )
    finally:
        scope.cancel()  # stops the signal loop once the server is down
