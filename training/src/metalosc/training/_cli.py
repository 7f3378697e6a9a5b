"""`metalosc-train`: the offline pipeline's command line (argparse subcommands, rich output).

Every stage works on one work directory (see `metalosc.training._pipeline` for its layout) and
is resumable: rerunning a stage continues or redoes it, never corrupts it. Logs are structlog
events on stderr (console on a TTY, JSON otherwise); summaries are rich tables on stdout.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import structlog
from metalosc.protocol import INSTRUMENTS
from metalosc.server import configure_logging

if TYPE_CHECKING:  # the stages import TensorFlow and Magenta: only when a command runs them
    from metalosc.training._pipeline import StageResult
    from metalosc.training._train import TrainResult
    from rich.console import Console

EXIT_USAGE = 2
EXIT_FAILURE = 1


def _configure_logging(verbose: bool) -> None:
    """The daemon's structlog set-up (console on a TTY, JSON otherwise) on stderr; quiet
    TensorFlow."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    configure_logging(level="debug" if verbose else "info")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:  # pragma: no cover - absl comes with TensorFlow
        pass


def _console() -> Console:
    from rich.console import Console

    return Console()


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {number}")
    return number


def _at_least(minimum: int) -> Callable[[str], int]:
    """An argparse type: an int of at least `minimum`."""

    def parse(value: str) -> int:
        number = int(value)
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {number}")
        return number

    return parse


def _unit(value: str) -> float:
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise argparse.ArgumentTypeError(f"must be within 0..1, got {number}")
    return number


def add_quality_arguments(parser: argparse.ArgumentParser) -> None:
    """The `quality` subcommand's arguments."""
    from metalosc.training._quality import MIN_PHRASES

    parser.add_argument("bundles", type=Path, help="directory with guitar/, bass/, drums/ bundles")
    parser.add_argument("out", type=Path, help="output directory (quality.json, .mid, .png)")
    parser.add_argument(
        "--phrases",
        type=_at_least(MIN_PHRASES),
        default=200,
        help="phrases per instrument and measurement",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--excerpts", type=_at_least(1), default=3, help="8-bar score excerpts")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--no-render", action="store_true", help="skip MuseScore rendering")
    parser.add_argument(
        "--backend",
        choices=("tf", "onnx"),
        default="tf",
        help="decode with the TF checkpoints (default) or the bundles' ONNX decoders",
    )
    parser.add_argument("--json", action="store_true", help="print the JSON instead of a table")
    parser.add_argument(
        "--strict", action="store_true", help="exit 1 when a target (Spearman, cohesion) is missed"
    )


def quality_command(args: argparse.Namespace) -> int:
    """Runs `quality` from parsed arguments, prints the table (or JSON); the exit status."""
    from metalosc.training import _quality
    from metalosc.training._quality_report import render_quality_report

    report = _quality.run_quality(
        args.bundles,
        args.out,
        phrases=args.phrases,
        seed=args.seed,
        render=not args.no_render,
        excerpts=args.excerpts,
        temperature=args.temperature,
        backend=args.backend,
    )
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        _console().print(render_quality_report(report))
    return 1 if args.strict and not report.meets_targets else 0


def _default_corpus() -> Path:
    """The Freedoom songs beside the checkout (``$METALOSC_DATA/freedoom/musics`` if set)."""
    data = os.environ.get("METALOSC_DATA")
    root = Path(data) if data else Path("../shared/data/midi")
    return root / "freedoom" / "musics"


def add_form_arguments(parser: argparse.ArgumentParser) -> None:
    """The `form` subcommand's arguments."""
    from metalosc.training._form import DEFAULT_TENSIONS

    parser.add_argument("bundles", type=Path, help="directory with guitar/, bass/, drums/ bundles")
    parser.add_argument("out", type=Path, help="output directory (form.json, .mid, .png)")
    parser.add_argument(
        "--corpus",
        type=Path,
        default=None,
        help="songs to compare with (default: ../shared/data/midi/freedoom/musics, "
        "or $METALOSC_DATA/freedoom/musics)",
    )
    parser.add_argument(
        "--tensions",
        type=float,
        nargs="+",
        default=list(DEFAULT_TENSIONS),
        help="tensions to play at",
    )
    parser.add_argument("--bars", type=_at_least(8), default=128, help="bars per tension")
    parser.add_argument("--score-bars", type=_at_least(2), default=32, help="bars per score")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-render", action="store_true", help="skip MuseScore rendering")
    parser.add_argument("--json", action="store_true", help="print the JSON instead of a table")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 when a measure is outside the corpus's interquartile range",
    )


def form_command(args: argparse.Namespace) -> int:
    """Runs `form` from parsed arguments, prints the table (or JSON); the exit status."""
    from metalosc.training._form import render_form_report, run_form

    report = run_form(
        args.bundles,
        args.out,
        args.corpus or _default_corpus(),
        tensions=args.tensions,
        bars=args.bars,
        seed=args.seed,
        render=not args.no_render,
        score_bars=args.score_bars,
    )
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        _console().print(render_form_report(report))
    met = report.inside_all() and report.calm_plays()
    return 1 if args.strict and not met else 0


def default_groove_dir() -> Path:
    """Where the Groove MIDI Dataset is by default: ``$METALOSC_DATA/groove``, else
    ``../shared/data/midi/groove`` (the corpora beside the checkout, as ``./dev`` has it)."""
    return Path(os.environ.get("METALOSC_DATA") or "../shared/data/midi") / "groove"


def add_attributes_arguments(parser: argparse.ArgumentParser) -> None:
    """The `attributes` subcommand's arguments."""
    from metalosc.training._fill import FILL_RESPONSE_SAMPLES
    from metalosc.training._split import DEFAULT_GROOVE_STYLES

    parser.add_argument("bundle", type=Path, help="a drums bundle directory (rewritten in place)")
    parser.add_argument(
        "--groove",
        type=Path,
        default=None,
        help="the Groove MIDI Dataset (with info.csv); default $METALOSC_DATA/groove, "
        "else ../shared/data/midi/groove",
    )
    parser.add_argument(
        "--style",
        action="append",
        metavar="STYLE",
        help="Groove style to take beats and fills from, repeatable "
        f"(default: {', '.join(DEFAULT_GROOVE_STYLES)}, what the drums model trains on)",
    )
    parser.add_argument(
        "--samples",
        type=_at_least(0),
        default=FILL_RESPONSE_SAMPLES,
        help="prior samples decoded at z + k*fill to measure the response (0: skip)",
    )
    parser.add_argument("--seed", type=int, default=0)


def attributes_command(args: argparse.Namespace) -> int:
    """Runs `attributes` from parsed arguments and prints what it wrote; the exit status."""
    from metalosc.protocol import load_manifest
    from metalosc.runtime import build_config
    from metalosc.training._attributes import update_fill_vector
    from metalosc.training._fill import files_with_examples, groove_windows
    from metalosc.training._split import DEFAULT_GROOVE_STYLES
    from rich.table import Table

    styles = tuple(args.style or DEFAULT_GROOVE_STYLES)
    groove = args.groove or default_groove_dir()
    windows = groove_windows(groove, styles)
    manifest = load_manifest(args.bundle)
    config = build_config(manifest.magenta_config, manifest.hparams, manifest.converter)
    fill_files_used = files_with_examples(windows.fill, config)
    update = update_fill_vector(args.bundle, windows, samples=args.samples, seed=args.seed)
    console = _console()
    vector = update.vector
    console.print(
        f"{update.bundle}: fill vector from {vector.fill_examples} fill and "
        f"{vector.beat_examples} beat examples (of {vector.fill_available} and "
        f"{vector.beat_available}), norm {vector.norm:.3f}\n"
        f"Groove {groove}, styles {', '.join(styles)}: {windows.files('fill')} fill files "
        f"({fill_files_used} yield 2-bar examples), "
        f"{windows.files('beat')} beat files"
    )
    if update.response is not None:
        response = update.response
        table = Table(title=f"decoded at z + k·fill ({response.samples} prior samples)")
        for column in ("k", "tom share of hits", "phrases with toms", "hits per phrase"):
            table.add_column(column, justify="right")
        for row in zip(
            response.ks, response.tom_share, response.with_toms, response.notes, strict=True
        ):
            table.add_row(f"{row[0]:g}", f"{row[1]:.3f}", f"{row[2]:.3f}", f"{row[3]:.1f}")
        console.print(table)
    return 0


def add_band_samples_arguments(parser: argparse.ArgumentParser) -> None:
    """The `band-samples` subcommand's arguments."""
    from metalosc.training._band_samples import DEFAULT_MODELS, DEFAULT_OUT, FLUIDSYNTH, SOUNDFONT

    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder of the samples")
    parser.add_argument(
        "--models", type=Path, default=DEFAULT_MODELS, help="bundles whose pitches to cover"
    )
    parser.add_argument("--soundfont", type=Path, default=SOUNDFONT, help="a GM .sf2 file")
    parser.add_argument("--fluidsynth", default=FLUIDSYNTH, help="the FluidSynth program")


def band_samples_command(args: argparse.Namespace) -> int:
    """Runs `band-samples` from parsed arguments and prints what it wrote; the exit status."""
    from metalosc.training._band_samples import BandSampleError, render_bank
    from rich.table import Table

    try:
        samples = render_bank(
            args.out, models_dir=args.models, soundfont=args.soundfont, fluidsynth=args.fluidsynth
        )
    except BandSampleError as e:
        print(f"metalosc-train: error: {e}", file=sys.stderr)
        return EXIT_FAILURE
    table = Table(title=f"Default Band samples in {args.out}")
    for column in ("instrument", "samples", "pitches", "seconds", "peak dBFS", "RMS dBFS", "kB"):
        table.add_column(column, justify="right")
    for instrument in INSTRUMENTS:
        own = [s for s in samples if s.instrument == instrument]
        if not own:
            continue
        size = sum((args.out / s.name).stat().st_size for s in own)
        table.add_row(
            instrument,
            str(len(own)),
            f"{own[0].pitch}..{own[-1].pitch}",
            f"{sum(s.seconds for s in own):.1f}",
            f"{max(s.peak_dbfs for s in own):.1f}",
            f"{min(s.rms_dbfs for s in own):.1f}..{max(s.rms_dbfs for s in own):.1f}",
            f"{size / 1000:.0f}",
        )
    _console().print(table)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also used by the tests for --help)."""
    from metalosc.runtime import PRESET_SETS, PRESETS

    preset_help = "; ".join(
        f"{name} ({p.magenta_config}, {p.steps} steps)" for name, p in PRESETS.items()
    )
    parser = argparse.ArgumentParser(
        prog="metalosc-train",
        description=(
            "Turn a Metal MIDI corpus into three fine-tuned MusicVAE bundles (guitar, bass, "
            "drums) for the metalosc server. Stages share a WORK directory and are resumable: "
            "split -> convert -> train -> evaluate -> export, or `all` to run them in order."
        ),
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("split", help="split multi-track MIDI into guitar/bass/drum parts")
    p.add_argument("input_dir", type=Path, help="directory of MIDI files (recursive)")
    p.add_argument("work", type=Path, help="work directory (writes WORK/split)")
    p.add_argument("--extra-drums", type=Path, help="drum-only corpus, e.g. Groove MIDI")

    p = sub.add_parser("convert", help="NoteSequence TFRecords per instrument, train/eval split")
    p.add_argument("work", type=Path, help="work directory (reads split, writes WORK/data)")
    p.add_argument("--no-count", action="store_true", help="skip counting examples (faster)")

    p = sub.add_parser(
        "train",
        help="fine-tune one instrument's model (resumes from its latest checkpoint)",
        description="Train or fine-tune one instrument. Rerunning continues from the latest "
        "checkpoint in WORK/train/INSTRUMENT until global step --steps. Presets: " + preset_help,
    )
    p.add_argument("work", type=Path, help="work directory (reads WORK/data)")
    p.add_argument("--instrument", required=True, choices=INSTRUMENTS)
    p.add_argument("--preset", required=True, choices=sorted(PRESETS), metavar="PRESET")
    p.add_argument(
        "--init-from",
        type=Path,
        help="warm-start from a published MusicVAE checkpoint (.tar, directory or prefix)",
    )
    p.add_argument(
        "--steps", type=_positive, help="target global step (default: the preset's steps)"
    )
    p.add_argument("--batch-size", type=_positive, help="override the preset's batch size")
    p.add_argument("--checkpoint-every", type=_positive, default=500, help="steps")
    p.add_argument("--keep", type=_positive, default=5, help="checkpoints to keep")

    p = sub.add_parser("evaluate", help="held-out reconstruction accuracy (table + JSON)")
    p.add_argument("work", type=Path, help="work directory")
    p.add_argument("--instrument", action="append", choices=INSTRUMENTS, help="repeatable")
    p.add_argument("--max-examples", type=_positive, default=1024)
    p.add_argument("--json", action="store_true", help="print the JSON instead of a table")

    p = sub.add_parser("export", help="write model bundles for the server")
    p.add_argument("work", type=Path, help="work directory")
    p.add_argument("--out", type=Path, help="bundles directory (default WORK/bundles)")
    p.add_argument("--instrument", action="append", choices=INSTRUMENTS, help="repeatable")

    p = sub.add_parser(
        "onnx",
        help="(re-)export the ONNX decoder of finished bundles (manifest schema 2)",
        description="Freeze each bundle's decoder from its checkpoint, convert it to ONNX "
        "(decoder.onnx) and list it in the manifest; the rest of the bundle stays as it is.",
    )
    p.add_argument("bundles", type=Path, help="directory with guitar/, bass/, drums/ bundles")
    p.add_argument("--instrument", action="append", choices=INSTRUMENTS, help="repeatable")

    p = sub.add_parser(
        "attributes",
        help="(re)compute a drums bundle's fill vector from its own weights, in place",
        description="Recompute the fill attribute vector (mean latent of Groove fills minus "
        "that of Groove beats) of a drums bundle with the bundle's own weights, and rewrite its "
        "attributes.npz (other arrays kept as they are) and manifest metrics atomically.",
    )
    add_attributes_arguments(p)

    p = sub.add_parser("generate", help="multi-track MIDI files from three bundles")
    p.add_argument("bundles", type=Path, help="directory with guitar/, bass/, drums/ bundles")
    p.add_argument("out", type=Path, help="output directory for .mid files")
    p.add_argument("--count", type=_positive, default=4)
    p.add_argument("--bars", type=int, choices=(2, 4, 8), default=2)
    p.add_argument("--tension", type=_unit, default=0.5, help="0 calm .. 1 intense")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)

    p = sub.add_parser(
        "quality", help="tension calibration, band cohesion and score renders of three bundles"
    )
    add_quality_arguments(p)

    p = sub.add_parser(
        "form",
        help="the daemon's musical form against the corpus's: riffs, groove, key, guitar-bass",
        description="Play the bundles with the daemon's own music engine (no sockets) for "
        "--bars bars at each tension, measure riff repetition, groove consistency, key "
        "consistency and guitar-bass agreement, and compare them with the same measures over "
        "the corpus's songs with guitar, bass and drums; writes form.json, a MIDI file per "
        "tension and (with MuseScore 3) score pages.",
    )
    add_form_arguments(p)

    p = sub.add_parser(
        "band-samples",
        help="render the Unity client's Default Band samples from a GM soundfont (FluidSynth)",
        description="Render one-shot samples of distortion guitar and electric bass every 3 "
        "semitones over every pitch the bundles can play, and of each drum note the drums "
        "model plays, with FluidSynth from a General MIDI soundfont; trimmed, mono, "
        "normalised, Ogg Vorbis, with the soundfont's licence notice. Writes the Unity "
        "package's Default Band sample (and its .meta files) unless --out says otherwise.",
    )
    add_band_samples_arguments(p)

    p = sub.add_parser("all", help="every stage in order, skipping up-to-date ones")
    p.add_argument("input_dir", type=Path, help="directory of MIDI files (recursive)")
    p.add_argument("work", type=Path, help="work directory")
    p.add_argument("--extra-drums", type=Path, help="drum-only corpus, e.g. Groove MIDI")
    p.add_argument("--preset-set", choices=sorted(PRESET_SETS), default="default")
    p.add_argument(
        "--steps", type=_positive, help="target global step of every model (default: each preset's)"
    )
    p.add_argument("--batch-size", type=_positive, help="override the presets' batch size")
    p.add_argument("--checkpoint-every", type=_positive, default=500, help="steps")
    return parser


def _print_train(console: Console, instrument: str, result: TrainResult) -> None:
    console.print(
        f"[bold]{instrument}[/]: global step {result.start_step} -> {result.global_step} "
        f"({result.steps_per_second:.2f} steps/s, loss {result.final_loss}) "
        f"checkpoint {result.checkpoint}"
    )


def _run(args: argparse.Namespace) -> int:
    from metalosc.training import _pipeline as pipeline

    console = _console()
    if args.command == "split":
        from metalosc.training._split import render_split_summary, split_corpus

        summary = split_corpus(pipeline._sources(args.input_dir, args.extra_drums), args.work)
        console.print(render_split_summary(summary))
    elif args.command == "convert":
        from metalosc.training._convert import convert_corpus, render_convert_summary

        console.print(render_convert_summary(convert_corpus(args.work, count=not args.no_count)))
    elif args.command == "train":
        from metalosc.runtime import get_preset

        preset = get_preset(args.preset)
        result = pipeline.train_stage(
            args.work,
            args.instrument,
            preset,
            steps=preset.steps if args.steps is None else args.steps,
            batch_size=args.batch_size,
            init_from=args.init_from,
            checkpoint_every=args.checkpoint_every,
            keep_checkpoints=args.keep,
        )
        _print_train(console, args.instrument, result)
    elif args.command == "evaluate":
        from metalosc.training._evaluate import evaluation_json, render_evaluation

        missing: dict[str, str] = {}
        results = pipeline.evaluate_stage(
            args.work,
            args.instrument or INSTRUMENTS,
            max_examples=args.max_examples,
            missing=missing,
        )
        if args.json:
            print(json.dumps(evaluation_json(results, list(missing)), indent=2))
        else:
            console.print(render_evaluation(results, missing))
    elif args.command == "export":
        for instrument in args.instrument or INSTRUMENTS:
            out = args.out / instrument if args.out else None
            console.print(f"{instrument}: {pipeline.export_stage(args.work, instrument, out)}")
    elif args.command == "onnx":
        from metalosc.training._onnx import add_onnx_decoder

        for instrument in args.instrument or INSTRUMENTS:
            manifest = add_onnx_decoder(args.bundles / instrument)
            assert manifest.decoder is not None
            console.print(f"{instrument}: {args.bundles / instrument / manifest.decoder.file}")
    elif args.command == "generate":
        from metalosc.training._generate import generate

        paths = generate(
            args.bundles,
            args.out,
            count=args.count,
            bars=args.bars,
            tension=args.tension,
            temperature=args.temperature,
            seed=args.seed,
        )
        for path in paths:
            console.print(str(path))
    elif args.command == "quality":
        return quality_command(args)
    elif args.command == "form":
        return form_command(args)
    elif args.command == "attributes":
        return attributes_command(args)
    elif args.command == "band-samples":
        return band_samples_command(args)
    elif args.command == "all":
        _run_all(args, console)
    return 0


def _run_all(args: argparse.Namespace, console: Console) -> None:
    from metalosc.training import _pipeline as pipeline
    from metalosc.training._convert import ConvertSummary, render_convert_summary
    from metalosc.training._evaluate import render_evaluation
    from metalosc.training._split import SplitSummary, render_split_summary
    from metalosc.training._train import TrainResult

    def on_stage(stage: str, status: str, result: StageResult) -> None:
        console.print(f"[bold]{stage}[/]: {status}")
        if status != "ran":
            return
        if isinstance(result, SplitSummary):
            console.print(render_split_summary(result))
        elif isinstance(result, ConvertSummary):
            console.print(render_convert_summary(result))
        elif isinstance(result, TrainResult):
            _print_train(console, stage.split()[1], result)

    report = pipeline.run_all(
        args.input_dir,
        args.work,
        extra_drums=args.extra_drums,
        preset_set=args.preset_set,
        steps=args.steps,
        batch_size=args.batch_size,
        checkpoint_every=args.checkpoint_every,
        on_stage=on_stage,
    )
    console.print(render_evaluation(report.evaluation, report.evaluation_missing))
    for instrument, path in report.bundles.items():
        console.print(f"bundle {instrument}: {path}")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `metalosc-train`; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    from metalosc.protocol import ModelBundleError
    from metalosc.training._pipeline import StageError
    from metalosc.training._train import InitCheckpointError

    try:
        return _run(args)
    except (StageError, ModelBundleError, InitCheckpointError, FileNotFoundError, ValueError) as e:
        structlog.get_logger("metalosc.training").error("cli.failed", error=str(e))
        print(f"metalosc-train: error: {e}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("metalosc-train: interrupted (rerun to resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
