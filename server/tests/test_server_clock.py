"""Beat clock suite. Rules: time is trio's ``MockClock(autojump_threshold=0)`` (pytest-trio's
``autojump_clock``) wherever a test waits, and assertions are exact (``==`` on floats): every beat
time comes from an anchor, so there is no rounding drift to tolerate."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from metalosc.protocol import ntp_to_unix, unix_to_ntp
from metalosc.server import BeatClock


def test_beat_times_follow_the_anchor() -> None:
    clock = BeatClock(10.0, 120.0)
    assert clock.beat_time(0) == 10.0
    assert clock.beat_time(1) == 10.5
    assert clock.beat_time(2.5) == 11.25
    assert clock.beat_at(11.25) == 2.5


def test_tempo_change_lands_on_the_next_beat_after_the_given_instant() -> None:
    clock = BeatClock(0.0, 120.0)  # a beat every 0.5 s
    beat = clock.set_tempo(240.0, after=1.2)  # beat 2.4 is sounding: beat 3 is the next one
    assert beat == 3
    assert clock.beat_time(2) == 1.0  # before the change: old tempo
    assert clock.beat_time(2.5) == 1.25
    assert clock.beat_time(3) == 1.5  # the change beat itself sounds where it always would
    assert clock.beat_time(4) == 1.75  # then 0.25 s per beat
    assert clock.bpm == 240.0


def test_tempo_change_exactly_on_a_beat_waits_for_the_following_one() -> None:
    clock = BeatClock(0.0, 120.0)
    assert clock.set_tempo(60.0, after=1.0) == 3  # beat 2 sounds at 1.0, not strictly after


def test_tempo_map_stays_small() -> None:
    clock = BeatClock(0.0, 120.0)
    for k in range(100):
        clock.set_tempo(100.0 + k, after=float(k))
    assert len(clock.anchors) == 2


def test_bad_tempo_is_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        BeatClock(0.0, 120.0).set_tempo(0.0, after=0.0)


def test_unix_and_ntp_conversion() -> None:
    clock = BeatClock(5.0, 120.0, unix_offset=1_700_000_000.0)
    assert clock.beat_unix(2) == 1_700_000_006.0
    assert clock.beat_ntp(2) == unix_to_ntp(1_700_000_006.0)
    assert ntp_to_unix(clock.beat_ntp(2)) == pytest.approx(1_700_000_006.0, abs=1e-9)
    assert clock.from_unix(clock.to_unix(3.25)) == 3.25


async def test_thousand_bars_at_240_bpm_do_not_drift(
    autojump_clock: trio.testing.MockClock,
) -> None:
    start = trio.current_time()
    clock = BeatClock(start, 240.0)
    woke: list[float] = []
    for beat in range(4 * 1000 + 1):
        await clock.sleep_until_beat(beat)
        woke.append(trio.current_time())
    assert woke[-1] == start + 1000.0
    assert woke == [start + beat * 0.25 for beat in range(4001)]


async def test_sleeper_follows_a_tempo_change_made_while_it_sleeps(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = BeatClock(trio.current_time(), 60.0)  # one beat per second
    start = trio.current_time()
    woke_at: list[float] = []

    async def sleeper() -> None:
        await clock.sleep_until_beat(4, lead=0.1)
        woke_at.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sleeper)
        await trio.sleep(1.5)
        clock.set_tempo(120.0, after=trio.current_time())  # from beat 2 at 0.5 s per beat
    assert woke_at == [start + 2.0 + 2 * 0.5 - 0.1]


async def test_sleep_until_a_past_beat_returns_at_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    clock = BeatClock(trio.current_time(), 120.0)
    await trio.sleep(3.0)
    before = trio.current_time()
    await clock.sleep_until_beat(1)
    assert trio.current_time() == before
