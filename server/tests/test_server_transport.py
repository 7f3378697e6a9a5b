"""Transport suite: cues, their messages and the send loops under ``MockClock``.

Rules: no sockets and no models — the loops send into a recorder and pick from buffers of phrases
with known notes; every time is asserted exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pytest
import trio
import trio.testing
from metalosc.protocol import INSTRUMENTS, Beat, Instrument, Message, Note, PhraseStarted
from metalosc.runtime import Phrase, PhraseNote
from metalosc.server import (
    BarPlan,
    BeatClock,
    Conductor,
    Controls,
    Metrics,
    PhraseBuffer,
    Transport,
    cue_messages,
    cues_for,
)

PhraseMaker = Callable[..., Phrase]


def _plan(phrases: dict[Instrument, Phrase], bar: int, half: int, tension: float) -> BarPlan:
    return BarPlan(bar, phrases, half, tension, phrase_start=half == 0)


def test_cues_group_everything_sounding_together(make_phrase: PhraseMaker) -> None:
    phrases = {i: make_phrase(i, 2) for i in INSTRUMENTS}  # notes at beats 0 and 0.5
    cues = cues_for(_plan(phrases, bar=2, half=0, tension=0.5), bar=2)
    assert [c.beat for c in cues] == [8.0, 8.5, 9.0, 10.0, 11.0]
    first = cues[0]
    assert first.beat_marker
    assert len(first.phrase_starts) == 3
    assert sorted(i for i, _ in first.notes) == ["bass", "drums", "guitar"]
    assert cues[1].notes
    assert not cues[1].beat_marker
    assert all(not c.notes for c in cues[2:])
    # the phrase's second bar: no phrase start, none of the first bar's notes
    second = cues_for(_plan(phrases, bar=3, half=1, tension=0.5), bar=3)
    assert [c.beat for c in second] == [12.0, 13.0, 14.0, 15.0]
    assert all(not c.notes and not c.phrase_starts for c in second)


def test_nothing_decoded_still_keeps_the_beat() -> None:
    cues = cues_for(None, bar=0)
    assert [c.beat for c in cues] == [float(b) for b in range(4)]
    assert all(c.beat_marker and not c.notes for c in cues)


def test_render_converts_beats_to_seconds_at_send_time() -> None:
    phrase = Phrase("guitar", np.zeros(4), (PhraseNote(45, 90, 1.0, 3.0),), 1.0)
    cue = cues_for(_plan({"guitar": phrase}, bar=0, half=0, tension=0.25), bar=0)[1]
    clock = BeatClock(0.0, 120.0)
    muted = dict.fromkeys(INSTRUMENTS, False)
    messages = cue_messages(cue, clock, muted)
    assert messages == [
        Beat(bar=0, beat=1),
        Note(instrument="guitar", pitch=45, velocity=90, duration_s=1.0, beat=1.0),
    ]
    clock.set_tempo(60.0, after=0.6)  # from beat 2 on, a beat lasts a second
    [_, note] = cue_messages(cue, clock, muted)
    assert isinstance(note, Note)
    assert note.duration_s == 0.5 + 1.0
    assert cue_messages(cue, clock, {**muted, "guitar": True}) == [Beat(bar=0, beat=1)]


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[float, float, str, list[Message]]] = []

    async def __call__(self, messages: Sequence[Message], sound_unix: float, mode: str) -> None:
        self.sent.append((trio.current_time(), sound_unix, mode, list(messages)))


def _transport(make_phrase: PhraseMaker, recorder: Recorder, **kwargs: float) -> Transport:
    buffers = {i: PhraseBuffer(i, depth=64) for i in INSTRUMENTS}
    for _ in range(1, 40):
        bass = (make_phrase("bass", 1),)
        buffers["guitar"].add([make_phrase("guitar", 1, accompaniment=bass)], 0.5)
        buffers["drums"].add([make_phrase("drums", 1)], 0.5)
    controls = Controls()
    clock = BeatClock(trio.current_time(), 120.0, unix_offset=1000.0)
    conductor = Conductor(buffers, controls)
    return Transport(
        clock, conductor, recorder, controls.muted, Metrics(), lookahead=0.15, **kwargs
    )


async def test_bundles_go_out_exactly_lookahead_before_they_sound(
    autojump_clock: trio.testing.MockClock, make_phrase: PhraseMaker
) -> None:
    recorder = Recorder()
    player = _transport(make_phrase, recorder, start_delay=1.0)
    start = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(player.run)
        player.play()
        await trio.sleep(1.0 + 4 * 8 * 0.5)  # four phrases at 120 BPM
        nursery.cancel_scope.cancel()
    bundles = [s for s in recorder.sent if s[2] == "bundle"]
    immediate = [s for s in recorder.sent if s[2] == "immediate"]
    beats = [m for _, _, _, ms in bundles for m in ms if isinstance(m, Beat)]
    assert beats[:9] == [Beat(bar=b // 4, beat=b % 4) for b in range(9)]
    assert len(beats) == 32 + 1  # 4 phrases of 8 beats, and beat 32 sent 0.15 s early
    # trio time of sending vs sound time: exactly the look-ahead (up to float subtraction)
    assert len(player.metrics.leads) == len(bundles)
    assert all(lead == pytest.approx(0.15, abs=1e-12) for lead in player.metrics.leads)
    assert all(sent == pytest.approx(unix - 1000.0, abs=1e-9) for sent, unix, _, _ in immediate)
    assert bundles[0][1] == 1000.0 + start + 1.0  # beat 0 sounds start_delay after play
    phrases = [m for _, _, _, ms in bundles for m in ms if isinstance(m, PhraseStarted)]
    assert len(phrases) == 3 * 5
    assert player.metrics["late_sends"] == 0


async def test_tempo_change_retimes_the_rest_of_the_phrase(
    autojump_clock: trio.testing.MockClock, make_phrase: PhraseMaker
) -> None:
    recorder = Recorder()
    player = _transport(make_phrase, recorder, start_delay=0.5)
    start = trio.current_time() + 0.5
    async with trio.open_nursery() as nursery:
        nursery.start_soon(player.run)
        player.play()
        await trio.sleep(0.5 + 1.2)  # beat 2.4 sounding
        beat = player.clock.set_tempo(240.0, after=trio.current_time() + 0.15)
        await trio.sleep(3.0)
        nursery.cancel_scope.cancel()
    assert beat == 3  # 1.2 + 0.15 s is beat 2.7: the next whole beat is 3
    sound = {
        m.bar * 4 + m.beat: unix - 1000.0
        for _, unix, mode, ms in recorder.sent
        for m in ms
        if isinstance(m, Beat) and mode == "bundle"
    }
    assert sound[2] == start + 1.0
    assert sound[3] == start + 1.5
    assert sound[4] == start + 1.75
    assert sound[9] == start + 1.5 + 6 * 0.25
    assert player.metrics["late_sends"] == 0


async def test_stop_then_play_restarts_at_beat_zero(
    autojump_clock: trio.testing.MockClock, make_phrase: PhraseMaker
) -> None:
    recorder = Recorder()
    player = _transport(make_phrase, recorder)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(player.run)
        player.play()
        await trio.sleep(2.0)
        player.stop()
        assert not player.playing
        await trio.sleep(5.0)
        count = len(recorder.sent)
        await trio.sleep(5.0)
        assert len(recorder.sent) == count  # silence while stopped
        player.play()
        await trio.sleep(0.5)
        nursery.cancel_scope.cancel()
    last_beats = [m for _, _, _, ms in recorder.sent[count:] for m in ms if isinstance(m, Beat)]
    assert last_beats[0] == Beat(bar=0, beat=0)
