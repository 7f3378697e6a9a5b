"""Replay: a recorded take rebuilt from its take log alone, note for note.

:func:`replay_take` walks the log's bars run by run, lays each bar's plan out as cues with the
daemon's own :func:`~metalosc.server.cues_for` — the code that laid out the live bundles — keeps
the cues inside each run's recorded span, applies the mutes and tempi at the beats where they
took effect, and builds the take with the same :class:`~metalosc.server.TakeBuilder` the
recorder used. What it reproduces: every note, velocity, onset and length, the tempo map and the
section markers of the recorded MIDI file, offline, without models or network. What it does not:
decode the latents again — MusicVAE samples each step at the sampling temperature, so the same
latent decodes to other notes (``_takelog`` says why the notes are logged).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path

from metalosc.protocol import Instrument

from ._cues import cues_for
from ._midifile import MidiNote, MidiScore, read_midi, write_take
from ._take import Take, TakeBuilder
from ._takelog import TakeLog, read_take_log

__all__ = ["Replayed", "midi_differences", "replay", "replay_take"]


def replay_take(take_log: TakeLog) -> Take:
    """The take ``take_log`` records (module docstring)."""
    phrases = take_log.played_phrases()
    tempos = sorted((run, beat, bpm) for run, beat, bpm in take_log.tempos)
    mutes = sorted((run, beat, muted) for run, beat, muted in take_log.mutes)
    tempo_keys = [(run, beat) for run, beat, _ in tempos]
    mute_keys = [(run, beat) for run, beat, _ in mutes]
    builder = TakeBuilder()
    for span in take_log.runs:
        bars = sorted((b for b in take_log.bars if b.run == span.run), key=lambda b: b.bar)
        for bar in bars:
            plan = take_log.plan(bar, phrases)
            for cue in cues_for(plan, bar.bar):
                if not span.first_beat <= cue.beat <= span.last_beat:
                    continue
                at = (span.run, cue.beat)
                k = bisect.bisect_right(tempo_keys, at) - 1
                bpm = tempos[max(k, 0)][2]
                m = bisect.bisect_right(mute_keys, at) - 1
                muted: tuple[Instrument, ...] = mutes[m][2] if m >= 0 else ()
                builder.cue(span.run, cue, muted, bpm)
    return builder.take()


def midi_differences(expected: MidiScore, actual: MidiScore, limit: int = 10) -> list[str]:
    """How ``actual`` differs from ``expected``, note for note (channel, pitch, velocity, onset
    and end tick), in tempo map and markers: at most ``limit`` lines, none when equal."""
    out: list[str] = []

    def key(n: MidiNote) -> tuple[int, int, int, int, int]:
        return (n.channel, n.pitch, n.velocity, n.start_tick, n.end_tick)

    a = sorted(key(n) for n in expected.notes)
    b = sorted(key(n) for n in actual.notes)
    if len(a) != len(b):
        out.append(f"{len(a)} notes expected, {len(b)} found")
    missing = sorted(set(a) - set(b))
    extra = sorted(set(b) - set(a))
    out.extend(f"missing note (channel, pitch, velocity, on, off) {n}" for n in missing[:limit])
    out.extend(f"extra note (channel, pitch, velocity, on, off) {n}" for n in extra[:limit])
    if expected.ticks_per_beat != actual.ticks_per_beat:
        out.append(f"ticks per beat {expected.ticks_per_beat} != {actual.ticks_per_beat}")
    if expected.tempos != actual.tempos:
        out.append(f"tempo map {expected.tempos} != {actual.tempos}")
    if expected.markers != actual.markers:
        out.append(f"markers {expected.markers} != {actual.markers}")
    return out[:limit]


@dataclass(frozen=True)
class Replayed:
    """What :func:`replay` wrote: the take, its MIDI file, the recorded MIDI file it was
    compared with (``None`` when that is gone) and the differences found (empty: identical)."""

    take: Take
    midi: Path
    recorded: Path | None
    differences: tuple[str, ...]


def replay(log_path: Path, out: Path) -> Replayed:
    """Rebuild the take logged at ``log_path``, write it as MIDI to ``out`` (atomically) and
    compare it, note for note, with the recorded MIDI file beside the log when there is one.

    Raises ``TakeLogError`` for a log that cannot be read and ``MidiFileError`` for a recorded
    MIDI file that cannot."""
    take_log = read_take_log(log_path)
    take = replay_take(take_log)
    write_take(take, out, title=take_log.name)
    recorded = log_path.parent / take_log.midi
    if not recorded.is_file():
        return Replayed(take, out, None, ())
    differences = midi_differences(read_midi(recorded), read_midi(out))
    return Replayed(take, out, recorded, tuple(differences))
