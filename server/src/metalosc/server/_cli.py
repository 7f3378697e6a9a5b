"""``metalosc`` command line: ``serve`` runs the daemon; ``listen`` plays what a running daemon
sends through FluidSynth (or to a MIDI port, or into a WAV file); ``replay`` rebuilds a recorded
take from its log; ``render`` writes a WAV, a score and a piano roll of a MIDI file or of what
the daemon plays on a set of models.

Exit status: 0 when done (after a graceful stop), 2 for bad settings or arguments, 3 when a
renderer or port the command needs is missing (the message says what to install), 4 when a
replayed take differs from its recording or a preview could not be written, 65 when a model
bundle is corrupt and 66 when one is missing (the message names the file; ``sysexits.h``'s
EX_DATAERR and EX_NOINPUT, so a supervisor can tell "fix the models" from a crash, which exits
1), 70 when a graceful stop overran its grace deadline.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import structlog
import trio

if sys.version_info < (3, 11):  # pragma: no cover - the deployed interpreter is 3.11
    from exceptiongroup import BaseExceptionGroup
from metalosc.protocol import ModelBundleError

from ._app import GraceExpiredError, RunningServer, reload_models, serve
from ._listen import DEFAULT_LEASE_S
from ._logging import configure_logging
from ._notify import SystemdNotifier
from ._settings import ConfigError, Settings, load_settings

__all__ = ["build_parser", "main"]

log = structlog.get_logger("metalosc.server.cli")

EXIT_BUNDLE = 65
EXIT_BUNDLE_MISSING = 66
EXIT_CONFIG = 2
EXIT_UNAVAILABLE = 3
EXIT_DIFFERENT = 4
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
        "--lease-max",
        type=float,
        help="the longest lease a subscriber may ask for, seconds "
        f"[{defaults['lease_max'].default}]",
    )
    run.add_argument(
        "--state-dir",
        type=Path,
        help="where the daemon writes its state [$STATE_DIRECTORY, else "
        "$XDG_STATE_HOME/metalosc, else ~/.local/state/metalosc]",
    )
    run.add_argument(
        "--record-dir",
        type=Path,
        help="where /metal/record/start … /metal/record/stop writes takes [<state-dir>/recordings]",
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
    _add_listen(commands)
    _add_replay(commands)
    _add_render(commands)
    return parser


def _add_listen(commands: Any) -> None:
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "listen":
        return _listen(args)
    if args.command == "replay":
        return _replay(args)
    if args.command == "render":
        return _render(args)
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
    except (BaseExceptionGroup, ModelBundleError, GraceExpiredError) as error:
        return _exit_status(error)
    return 0


def _exit_status(error: BaseException) -> int:
    """The exit status of an expected failure (hypercorn's way: split the expected ones out of
    the exception group, re-raise real errors untouched)."""
    group = error if isinstance(error, BaseExceptionGroup) else BaseExceptionGroup("", [error])
    broken, rest = group.split(ModelBundleError)
    expired, rest = rest.split(GraceExpiredError) if rest is not None else (None, None)
    if rest is not None:
        raise rest from None
    if broken is not None:
        return _report_bundle_errors(broken.exceptions)
    if expired is not None:
        return EXIT_GRACE_EXPIRED
    return 0


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The exceptions inside ``group`` and the groups nested in it, in order."""
    return [
        leaf
        for exc in group.exceptions
        for leaf in (_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    ]


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


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--server must be HOST:PORT, got {text!r}")
    return host, int(port)


def _listen(args: argparse.Namespace) -> int:
    from ._listen import ListenOptions, run_listener
    from ._synth import SynthUnavailableError

    configure_logging(args.log_format, "info")
    try:
        server = _address(args.server)
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
        for leaf in _leaves(unavailable):
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
    from metalosc.protocol import ModelBundleError

    from ._midifile import MidiFileError
    from ._render import perform_midi, render_previews
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
            for leaf in _leaves(broken):
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
