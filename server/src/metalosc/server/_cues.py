"""From chosen phrases to cues, and from a cue to OSC messages: the pure half of the scheduler.

A *cue* is everything that sounds at one beat position: notes, the beat marker, phrase starts.
``cues_for`` lays a 2-bar :class:`~metalosc.server.PhraseSet` out as cues in musical time;
``cue_messages`` turns one cue into OSC messages, converting beats to seconds only then, with the
beat clock as it is at that moment (so a tempo change re-times notes chosen before it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from metalosc.protocol import Beat, Instrument, Message, Note, PhraseStarted
from metalosc.runtime import BEATS_PER_BAR, PHRASE_BEATS, PhraseNote

from ._clock import BeatClock
from ._conductor import PhraseSet

__all__ = ["Cue", "cue_messages", "cues_for"]


@dataclass(frozen=True)
class Cue:
    """Everything that sounds at absolute beat ``beat`` (beats since play started)."""

    beat: float
    notes: tuple[tuple[Instrument, PhraseNote], ...] = ()
    beat_marker: bool = False
    phrase_starts: tuple[tuple[Instrument, int], ...] = ()
    tension: float = 0.0


def cues_for(phrases: PhraseSet | None, first_beat: int) -> list[Cue]:
    """The cues of one 2-bar slot starting at beat ``first_beat``, in time order.

    ``None`` (nothing decoded yet) still yields the beat markers: the beat never stops.
    """
    notes: dict[float, list[tuple[Instrument, PhraseNote]]] = {}
    starts: list[tuple[Instrument, int]] = []
    tension = phrases.tension if phrases is not None else 0.0
    if phrases is not None:
        for instrument, phrase in phrases.phrases.items():
            starts.append((instrument, phrase.id))
            for note in phrase.notes:
                notes.setdefault(first_beat + note.start_beat, []).append((instrument, note))
    positions = sorted(set(notes) | {float(first_beat + b) for b in range(PHRASE_BEATS)})
    return [
        Cue(
            beat=pos,
            notes=tuple(notes.get(pos, ())),
            beat_marker=pos.is_integer(),
            phrase_starts=tuple(starts) if pos == first_beat else (),
            tension=tension,
        )
        for pos in positions
    ]


def cue_messages(cue: Cue, clock: BeatClock, muted: Mapping[Instrument, bool]) -> list[Message]:
    """The OSC messages of ``cue``: beat marker, phrase starts, then notes (muted ones left out);
    note durations in seconds at the clock's tempo map."""
    out: list[Message] = []
    if cue.beat_marker:
        beat = int(cue.beat)
        out.append(Beat(bar=beat // BEATS_PER_BAR, beat=beat % BEATS_PER_BAR))
    for instrument, pid in cue.phrase_starts:
        out.append(PhraseStarted(instrument=instrument, id=pid, tension=cue.tension))
    start = clock.beat_time(cue.beat)
    for instrument, note in cue.notes:
        if muted.get(instrument, False):
            continue
        offset = cue.beat - note.start_beat
        duration = clock.beat_time(offset + note.end_beat) - start
        out.append(
            Note(
                instrument=instrument,
                pitch=note.pitch,
                velocity=note.velocity,
                duration_s=duration,
                beat=cue.beat,
            )
        )
    return out
