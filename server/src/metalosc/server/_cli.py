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
* ``metalosc listen`` plays what a running daemon sends through FluidSynth (or to a MIDI port, or
  into a WAV file); ``metalosc replay`` rebuilds a recorded take from its log; ``metalosc render``
  writes a WAV, a score and a piano roll of a MIDI file or of what the daemon plays on a set of
  models. Exit status: 0 when done, 2 for bad arguments, 3 when a renderer or port the command
  needs is missing (the message says what to install), 4 when a replayed take differs from its
  recording or a preview could not be written, 65 or 66 for a broken bundle (as ``serve``).
* ``metalosc touchosc [OUT]``: writes the TouchOSC layout generated from the protocol (``--check``:
  1 when OUT differs).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
import trio

if sys.version_info < (3, 11):  # pragma: no cover - the deployed interpreter is 3.11
    from exceptiongroup import BaseExceptionGroup
from metalosc.protocol import ModelBundleError

from ._exitstatus import (
    EXIT_BUNDLE,
    EXIT_BUNDLE_MISSING,
    EXIT_CONFIG,
    EXIT_DIFFERENT,
    EXIT_NO_ANSWER,
    EXIT_OK,
    EXIT_UNAVAILABLE,
    exception_leaves,
)
from ._logging import configure_logging
from ._ping import PingError, ping, ping_address

if TYPE_CHECKING:
    from ._settings import ConfigProblem, Origin

# Each command imports what it needs when it runs: the model workers are spawned processes that
# import this module again (it is the console script's), and should not load the daemon's
# sockets, metrics, discovery and settings to decode.

__all__ = ["build_parser", "main"]

log = structlog.get_logger("metalosc.server.cli")

DEFAULT_CONFIG = Path("/etc/metalosc/metalosc.toml")
"""The file the systemd unit and the container image read (``config check``'s default)."""

GIL_SWITCH_INTERVAL_S = 0.0005
"""The model threads run Python between model calls (note conversion, features, chords); with
CPython's default 5 ms switch interval the event loop waited up to tens of ms for the GIL under
decode load (bench/ping_latency.py: pong p99 18 ms -> 10 ms with 0.5 ms on 2 busy cores)."""


def _add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that set a :class:`Settings` field (``serve`` and ``config show``)."""
    from ._settings import Settings

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
        "--lease-max",
        type=float,
        help="the longest lease a subscriber may ask for, seconds "
        f"[{defaults['lease_max'].default}]",
    )
    parser.add_argument(
        "--record-dir",
        type=Path,
        help="where /metal/record/start … /metal/record/stop writes takes [<state-dir>/recordings]",
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
        help="where saved scenes and recordings are kept [$STATE_DIRECTORY, else "
        "$XDG_STATE_HOME/metalosc, else ~/.local/state/metalosc]",
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
    from ._touchosc import add_parser as add_touchosc_parser

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
    _add_listen(commands)
    _add_replay(commands)
    _add_render(commands)
    add_touchosc_parser(commands)
    return parser


def _add_listen(commands: Any) -> None:
    from ._listen import DEFAULT_LEASE_S

    listen = commands.add_parser(
        "listen",
        help="hear a running daemon through FluidSynth (or a MIDI port, or a WAV file)",
        description=(
            "Subscribe to a running daemon and play every note it sends on its bundle's "
            "timetag: through FluidSynth and a General MIDI soundfont (distortion guitar, "
            "electric bass, the GM drum kit) to the sound card, to a MIDI port for a DAW's own "
            "instruments (--midi-out), or into a WAV file (--wav). The subscription is renewed "
            "for as long as it runs. Ctrl-C stops it (a WAV file is finished first)."
        ),
    )
    listen.add_argument(
        "--server", default="127.0.0.1:9000", help="the daemon's HOST:PORT [127.0.0.1:9000]"
    )
    listen.add_argument(
        "--bind", default="127.0.0.1", help="local address to receive on [127.0.0.1]"
    )
    listen.add_argument(
        "--soundfont", type=Path, help="a GM soundfont (.sf2) [Debian's FluidR3_GM.sf2]"
    )
    listen.add_argument(
        "--midi-out",
        nargs="?",
        const="MetalOSC",
        metavar="PORT",
        help="send the notes to a new ALSA virtual MIDI port called PORT [MetalOSC] "
        "(guitar on channel 1, bass on 2, drums on 10)",
    )
    listen.add_argument(
        "--midi-port",
        action="store_true",
        help="with --midi-out: connect to the existing output port PORT instead",
    )
    listen.add_argument("--wav", type=Path, help="write the audio to this WAV file instead")
    listen.add_argument("--seconds", type=float, help="stop after this many seconds")
    listen.add_argument(
        "--lease",
        type=int,
        default=DEFAULT_LEASE_S,
        help=f"subscription lease to ask for, seconds; renewed every third [{DEFAULT_LEASE_S}]",
    )
    listen.add_argument("--audio-driver", help="FluidSynth audio driver (alsa, pulseaudio, jack…)")
    listen.add_argument("--log-format", choices=["auto", "console", "json"], default="auto")


def _add_replay(commands: Any) -> None:
    replay = commands.add_parser(
        "replay",
        help="rebuild a recorded take as MIDI from its take log, note for note",
        description=(
            "Read a take log (<name>.take.json, written beside <name>.mid by /metal/record/stop) "
            "and rebuild the take from it alone — every phrase the conductor planned, laid out "
            "as the daemon lays out its bundles, with the mutes and tempi as they were — as a "
            "MIDI file, then compare it note for note with the recorded one beside the log. "
            "Offline: no models, no network."
        ),
    )
    replay.add_argument("log", type=Path, help="the take log, <name>.take.json")
    replay.add_argument("out", type=Path, help="the MIDI file to write")


def _add_render(commands: Any) -> None:
    render = commands.add_parser(
        "render",
        help="write a WAV, a score and a piano roll of a MIDI file or of the models' music",
        description=(
            "IN is a MIDI file (a recorded take or any other) or a models directory (guitar/ "
            "bass/ drums/ bundles), which is first played for --bars bars with the daemon's own "
            "music engine. Writes into the directory OUT: <name>.wav (FluidSynth), "
            "<name>-<page>.png (the score, MuseScore 3) and <name>-roll.png (a piano roll). A "
            "missing renderer leaves its output out and says what to install."
        ),
    )
    render.add_argument("input", type=Path, metavar="IN", help="a MIDI file or a models directory")
    render.add_argument("out", type=Path, metavar="OUT", help="directory for the previews")
    render.add_argument("--soundfont", type=Path, help="a GM soundfont [FluidR3_GM.sf2]")
    render.add_argument("--bars", type=int, default=16, help="bars to play from models [16]")
    render.add_argument("--tension", type=float, default=0.5, help="tension to play at [0.5]")
    render.add_argument("--bpm", type=float, default=120.0, help="tempo to play at [120]")
    render.add_argument("--seed", type=int, default=0, help="random seed [0]")
    render.add_argument("--log-format", choices=["auto", "console", "json"], default="auto")


def _setting_flags(args: argparse.Namespace) -> dict[str, Any]:
    from ._settings import Settings

    return {k: v for k, v in vars(args).items() if k in Settings.model_fields}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``metalosc`` command line (``argv`` default: ``sys.argv[1:]``); the exit status
    (module docstring)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "touchosc":
        from ._touchosc import main as touchosc_main

        return touchosc_main(args)
    if args.command == "ping":
        return _ping(args)
    if args.command == "config" and args.config_command == "check":
        return _config_check(args)
    if args.command == "config" and args.config_command == "show":
        return _config_show(args)
    if args.command == "listen":
        return _listen(args)
    if args.command == "replay":
        return _replay(args)
    if args.command == "render":
        return _render(args)
    parser.print_help()
    return EXIT_CONFIG


def _serve(args: argparse.Namespace) -> int:
    from ._app import GraceExpiredError
    from ._lifecycle import exit_status, run_daemon
    from ._scenes import SceneFileError
    from ._settings import ConfigError, load_settings

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
        return exit_status(error)
    return EXIT_OK


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
    from ._settings import ConfigError, load_settings

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
    from ._settings import ConfigError, load_settings
    from ._worker import bundle_factories

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
    from ._settings import ConfigError, Settings, explain_settings

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


def _listen(args: argparse.Namespace) -> int:
    from ._listen import ListenOptions, run_listener
    from ._synth import SynthUnavailableError

    configure_logging(args.log_format, "info")
    try:
        server = _parse_address(args.server)
    except ValueError as exc:
        print(f"metalosc listen: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.seconds is not None and args.seconds <= 0:
        print("metalosc listen: --seconds must be positive", file=sys.stderr)
        return EXIT_CONFIG
    if not 1 <= args.lease <= 86_400:
        print("metalosc listen: --lease must be 1..86400 seconds", file=sys.stderr)
        return EXIT_CONFIG
    options = ListenOptions(
        server=server,
        bind=args.bind,
        soundfont=args.soundfont,
        midi_out=args.midi_out,
        virtual=not args.midi_port,
        wav=args.wav,
        seconds=args.seconds,
        lease_s=args.lease,
        audio_driver=args.audio_driver,
    )

    async def run() -> None:
        stop = trio.Event()
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with trio.open_nursery() as nursery:

                async def on_signal() -> None:
                    async for _ in signals:
                        stop.set()

                nursery.start_soon(on_signal)
                await run_listener(options, stop)
                nursery.cancel_scope.cancel()

    try:
        trio.run(run)
    except (BaseExceptionGroup, SynthUnavailableError, OSError) as error:
        # trio's nurseries wrap what the listener raises: a missing synth, soundfont, audio
        # output or MIDI port is said in a line; anything else is a bug and keeps its traceback
        group = error if isinstance(error, BaseExceptionGroup) else BaseExceptionGroup("", [error])
        unavailable, rest = group.split((SynthUnavailableError, OSError))
        if rest is not None or unavailable is None:
            raise
        for leaf in exception_leaves(unavailable):
            print(f"metalosc listen: {leaf}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    if args.wav is not None:
        print(f"wrote {args.wav}")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from ._midifile import MidiFileError
    from ._replay import replay
    from ._takelog import TakeLogError

    try:
        result = replay(args.log, args.out)
    except (TakeLogError, MidiFileError, OSError) as exc:
        print(f"metalosc replay: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    take = result.take
    print(f"wrote {result.midi}: {len(take.notes)} notes, {take.beats / 4:g} bars")
    if result.recorded is None:
        print("the recorded MIDI file is not beside the log: nothing to compare with")
        return 0
    if result.differences:
        print(f"differs from the recording {result.recorded}:")
        for line in result.differences:
            print(f"  {line}")
        return EXIT_DIFFERENT
    print(f"identical to the recording {result.recorded}, note for note")
    return 0


def _render(args: argparse.Namespace) -> int:
    from ._midifile import MidiFileError
    from ._render import perform_midi, render_previews
    from ._settings import ConfigError, load_settings
    from ._synth import DEFAULT_SOUNDFONT

    configure_logging(args.log_format, "warning")
    source: Path = args.input
    if not source.exists():
        print(f"metalosc render: {source} does not exist", file=sys.stderr)
        return EXIT_CONFIG
    if source.is_dir():
        try:
            settings = load_settings(
                None,
                models=source,
                tension=args.tension,
                bpm=args.bpm,
                seed=args.seed,
                model_execution="thread",
                log_format=args.log_format,
                log_level="warning",
            )
        except ConfigError as exc:
            print(f"metalosc render: {exc}", file=sys.stderr)
            return EXIT_CONFIG
        if args.bars < 1:
            print("metalosc render: --bars must be at least 1", file=sys.stderr)
            return EXIT_CONFIG
        name = f"{source.resolve().name}-t{args.tension:.2f}-s{args.seed}"
        midi = args.out / f"{name}.mid"
        try:
            trio.run(lambda: perform_midi(settings, midi, bars=args.bars))
        except (BaseExceptionGroup, ModelBundleError) as error:
            group = (
                error if isinstance(error, BaseExceptionGroup) else BaseExceptionGroup("", [error])
            )
            broken, rest = group.split(ModelBundleError)
            if rest is not None or broken is None:
                raise
            for leaf in exception_leaves(broken):
                print(f"metalosc render: cannot load model bundle: {leaf}", file=sys.stderr)
            return EXIT_BUNDLE
        print(f"midi: {midi} ({args.bars} bars played on {source})")
    else:
        midi = source
    try:
        previews = render_previews(midi, args.out, soundfont=args.soundfont or DEFAULT_SOUNDFONT)
    except MidiFileError as exc:
        print(f"metalosc render: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    for preview in previews:
        if preview.written:
            print(f"{preview.kind}: {', '.join(str(p) for p in preview.paths)}")
        else:
            print(f"{preview.kind}: not written: {preview.problem}")
    return 0 if all(p.written for p in previews) else EXIT_DIFFERENT
