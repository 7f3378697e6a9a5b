"""``metalosc render``: previews of a MIDI file — or of what the daemon would play on a set of
models — to listen to and look at without a game.

From a MIDI file (a recorded take, or any other) :func:`render_previews` writes, into one
directory:

* ``<stem>.wav`` — the audio, through FluidSynth and a General MIDI soundfont (``_synth``);
* ``<stem>-<page>.png`` — the score, engraved by MuseScore 3 headless
  (:func:`metalosc.runtime.render_score`);
* ``<stem>-roll.png`` — a piano roll (``_pianoroll``).

Each renderer is optional: a missing one leaves its output out with a message naming what to
install, and the others are still written. From a models directory, :func:`perform_midi` first
plays ``bars`` bars on those models with the daemon's own music engine
(:func:`~metalosc.server.perform`) and writes them as a MIDI file laid out like a recorded take.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import structlog

from ._midifile import MidiFileError, read_midi, write_take
from ._perform import perform
from ._pianoroll import PianoRollUnavailableError, piano_roll
from ._settings import Settings
from ._synth import DEFAULT_SOUNDFONT, SynthUnavailableError, render_midi_wav
from ._take import plans_take

__all__ = ["Preview", "perform_midi", "render_previews"]

log = structlog.get_logger("metalosc.server.render")


@dataclass(frozen=True)
class Preview:
    """One output of :func:`render_previews`: what it is (``wav``, ``score``, ``piano roll``),
    the files written (none when it could not be), and why not."""

    kind: str
    paths: tuple[Path, ...]
    problem: str | None = None

    @property
    def written(self) -> bool:
        """Whether the output was written."""
        return self.problem is None


def render_previews(
    midi: Path,
    out_dir: Path,
    *,
    soundfont: Path = DEFAULT_SOUNDFONT,
    stem: str | None = None,
) -> list[Preview]:
    """The WAV, score and piano roll of the MIDI file ``midi`` in ``out_dir`` (module
    docstring), named after ``stem`` (default: the file's). Raises ``MidiFileError`` when
    ``midi`` is not a readable MIDI file; a missing renderer only leaves its output out."""
    from metalosc.runtime import RenderError, render_score

    score = read_midi(midi)  # fails first, and clearly, on a file that is not MIDI
    name = stem or midi.stem
    out_dir.mkdir(parents=True, exist_ok=True)
    previews: list[Preview] = []

    wav = out_dir / f"{name}.wav"
    try:
        seconds = render_midi_wav(midi, wav, soundfont)
        log.info("render_wav", path=str(wav), seconds=round(seconds, 2))
        previews.append(Preview("wav", (wav,)))
    except (SynthUnavailableError, MidiFileError) as exc:
        previews.append(Preview("wav", (), str(exc)))

    try:
        source = midi
        if midi.stem != name:  # MuseScore names its pages after the file it reads
            source = out_dir / f"{name}.mid"
            if source.resolve() != midi.resolve():
                source.write_bytes(midi.read_bytes())
        pages = render_score(source, out_dir)
        previews.append(Preview("score", tuple(pages)))
    except RenderError as exc:
        previews.append(Preview("score", (), str(exc)))

    roll = out_dir / f"{name}-roll.png"
    try:
        piano_roll(score, roll, title=name)
        previews.append(Preview("piano roll", (roll,)))
    except PianoRollUnavailableError as exc:
        previews.append(Preview("piano roll", (), str(exc)))
    return previews


async def perform_midi(settings: Settings, out: Path, *, bars: int) -> Path:
    """Play ``bars`` bars on ``settings.models`` with the daemon's own engine (at
    ``settings.tension``, ``settings.bpm``, seeded by ``settings.seed``) and write them to the
    MIDI file ``out``, laid out like a recorded take (sections marked). Raises
    ``ModelBundleError`` for a broken bundle."""
    performed = await perform(settings, bars=bars)
    take = plans_take(performed.plans, settings.bpm)
    write_take(take, out, title=out.stem)
    log.info(
        "render_performed",
        models=str(settings.models),
        bars=bars,
        notes=len(take.notes),
        sections=len(performed.sections),
        midi=str(out),
    )
    return out
