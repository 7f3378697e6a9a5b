"""Control suite: every client message and every kind of bad input, under ``autojump_clock``.

Rules: datagrams go straight into ``Controller.handle_datagram`` and replies into a recorder — no
sockets; the music keeps playing in the same nursery, so each test can check the beat never stops.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
import trio
import trio.testing
from metalosc.protocol import (
    INSTRUMENTS,
    Beat,
    Bundle,
    Error,
    Interpolate,
    Message,
    Mute,
    PhraseStarted,
    Ping,
    Pong,
    SceneSave,
    SectionStarted,
    State,
    StateRequest,
    Stop,
    Subscribe,
    Tempo,
    Tension,
    Unsubscribe,
    decode_outgoing,
    decode_packet,
    encode,
)
from metalosc.runtime import Phrase
from metalosc.server import (
    BeatClock,
    Conductor,
    Controller,
    Controls,
    Interpolation,
    Metrics,
    Outbox,
    PeerRateLimiter,
    PhraseBuffer,
    SectionOrder,
    Subscriptions,
    Transport,
)
from metalosc.server.testing import SlotHeard, slots_heard
from pythonosc.osc_message_builder import OscMessageBuilder
from structlog.testing import capture_logs

PhraseMaker = Callable[..., Phrase]
CLIENT = ("127.0.0.1", 50000)
OTHER = ("127.0.0.1", 50001)
EVENTS = {CLIENT: ("127.0.0.1", 9999), OTHER: ("127.0.0.1", 9998)}
"""Where a rig client that joined has its events sent: not its own port, so that what it is
answered stays apart from the music."""


@dataclass
class Rig:
    controller: Controller
    player: Transport
    sent: list[tuple[tuple[str, int], bytes]] = field(default_factory=list)
    interpolations: list[Interpolation] = field(default_factory=list)
    tension_pokes: list[float] = field(default_factory=list)

    def replies(self, to: tuple[str, int] = CLIENT) -> list[Message]:
        out: list[Message] = []
        for peer, data in self.sent:
            if peer == to and not data.startswith(b"#bundle"):
                out.append(decode_outgoing(data))
        return out

    def beats(self) -> list[Beat]:
        out = []
        for _, data in self.sent:
            packet = decode_packet(data, outgoing=True)
            if not isinstance(packet, Message.__args__):  # type: ignore[attr-defined]
                out += [m for m in packet.messages if isinstance(m, Beat)]
        return out

    def bundles(self, to: tuple[str, int], since: int = 0) -> list[Bundle]:
        """The bundles sent to ``to``, from the ``since``-th datagram sent on."""
        out = []
        for peer, data in self.sent[since:]:
            packet = decode_packet(data, outgoing=True)
            if peer == to and isinstance(packet, Bundle):
                out.append(packet)
        return out

    async def send(self, message: Message | bytes, peer: tuple[str, int] = CLIENT) -> None:
        data = message if isinstance(message, bytes) else encode(message)
        await self.controller.handle_datagram(data, peer)

    async def join(self, peer: tuple[str, int] = CLIENT) -> None:
        """Subscribe ``peer`` with its events going to ``EVENTS[peer]``: replies to a subscriber
        are not capped by the size of its request (a stranger's are)."""
        await self.send(Subscribe(port=EVENTS[peer][1]), peer)


@pytest.fixture
async def rig(make_phrase: PhraseMaker) -> AsyncIterator[Rig]:
    """The daemon's pieces wired as in ``serve``; tests take ``autojump_clock`` themselves
    (pytest-trio picks the clock from the test's own arguments)."""
    buffers = {i: PhraseBuffer(i, depth=256) for i in INSTRUMENTS}
    for level in range(1, 200):
        bass = (make_phrase("bass", level % 9 + 1),)
        buffers["guitar"].add([make_phrase("guitar", level % 9 + 1, accompaniment=bass)], 0.5)
        buffers["drums"].add([make_phrase("drums", level % 9 + 1)], 0.5)
    controls = Controls()
    clock = BeatClock(trio.current_time(), 120.0)
    conductor = Conductor(buffers, controls)
    subscriptions = Subscriptions(lease_s=60.0)
    metrics = Metrics()
    rig_sent: list[tuple[tuple[str, int], bytes]] = []

    async def send_to(data: bytes, peer: tuple[str, int]) -> bool:
        rig_sent.append((peer, data))
        return True

    outbox = Outbox(send_to, subscriptions, PeerRateLimiter(rate=1.0, burst=3), metrics)
    player = Transport(clock, conductor, outbox.send_cue, controls.muted, metrics)
    interpolations: list[Interpolation] = []
    tension_pokes: list[float] = []

    class Generator:  # records what the controller asks the generator to decode
        def poke(self) -> None:
            tension_pokes.append(controls.tension)

        def decode_soon(self, order: Interpolation | SectionOrder) -> None:
            if isinstance(order, Interpolation):  # section orders ride along; not asserted here
                interpolations.append(order)

    controller = Controller(
        controls=controls,
        clock=clock,
        transport=player,
        conductor=conductor,
        generator=Generator(),
        subscriptions=subscriptions,
        outbox=outbox,
        metrics=metrics,
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(player.run)
        nursery.start_soon(controller.run)  # applies future-timetagged bundles
        player.play()
        yield Rig(controller, player, rig_sent, interpolations, tension_pokes)
        nursery.cancel_scope.cancel()


async def test_ping_is_answered_with_its_arguments_and_the_server_time(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    await rig.join()  # a subscriber: its replies are not capped
    rig.controller.clock.unix_offset = 1_000_000.0
    await rig.send(Ping(args=(1, 2.5, "x")))
    [pong] = rig.replies()
    assert isinstance(pong, Pong)
    assert pong.args == (1, 2.5, "x")
    assert pong.server_time == trio.current_time() + 1_000_000.0


async def test_state_request_and_state_after_every_change(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    await rig.send(StateRequest())  # a stranger's: the state is bigger than the request
    assert rig.replies() == []
    assert rig.controller.metrics["replies_withheld"] == 1
    await rig.send(Subscribe())
    await rig.send(StateRequest())
    states = rig.replies()
    assert len(states) == 2  # the subscription's answer, then the reply
    state = states[1]
    assert isinstance(state, State)
    assert state.playing
    assert state.tension == 0.5
    await rig.send(Tension(value=0.9))
    await rig.send(Mute(instrument="bass", muted=True))
    await rig.send(Tempo(bpm=200.0))
    states = [m for m in rig.replies() if isinstance(m, State)]
    assert [(s.tension, s.bass_muted, s.bpm) for s in states[-3:]] == [
        (pytest.approx(0.9), False, 120.0),  # OSC floats are 32-bit
        (pytest.approx(0.9), True, 120.0),
        (pytest.approx(0.9), True, 200.0),
    ]
    assert rig.controller.clock.bpm == 200.0


async def test_subscribers_receive_timetagged_beats_and_stop_after_unsubscribing(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    await rig.send(Subscribe(port=9100))
    await trio.sleep(4.0)
    beats = [b for b in rig.beats()]
    assert len(beats) >= 7
    assert {peer for peer, _ in rig.sent} == {("127.0.0.1", 9100)}
    # Unsubscribing ends this subscriber's events while the music goes on for another one
    # (stopping the transport would silence everyone and prove nothing about the unsubscribe).
    await rig.send(Subscribe(port=9200), OTHER)
    await rig.send(Unsubscribe())
    unsubscribed = len(rig.sent)
    await trio.sleep(4.0)
    assert rig.bundles(("127.0.0.1", 9100), since=unsubscribed) == []
    assert len(rig.bundles(("127.0.0.1", 9200), since=unsubscribed)) >= 8  # 8 beats in 4 s
    assert rig.player.playing
    await rig.send(Stop())
    assert not rig.player.playing


@pytest.mark.parametrize(
    ("packet", "address", "reason"),
    [
        (b"\x00\x01garbage", "", "not an osc message"),
        (OscMessageBuilder("/metal/nope").build().dgram, "/metal/nope", "unknown address"),
        (
            OscMessageBuilder("/metal/tension").build().dgram,
            "/metal/tension",
            "wrong argument count 0",
        ),
    ],
)
async def test_bad_packets_get_an_error_reply_a_log_line_and_a_count(
    rig: Rig, autojump_clock: trio.testing.MockClock, packet: bytes, address: str, reason: str
) -> None:
    await rig.join()  # a subscriber: its replies are not capped
    with capture_logs() as logs:
        await rig.send(packet)
    [error] = rig.replies()
    assert isinstance(error, Error)
    assert error.refused_address == address
    assert reason in error.reason.lower()
    assert rig.controller.metrics["errors"] == 1
    [entry] = [e for e in logs if e["event"] == "osc_rejected"]
    assert entry["log_level"] == "warning"
    assert entry["peer"] == "127.0.0.1:50000"


def _tension_with(value: object) -> bytes:
    builder = OscMessageBuilder("/metal/tension")
    builder.add_arg(value)
    return builder.build().dgram


async def test_wrong_type_and_out_of_range_are_refused_and_change_nothing(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    await rig.join()  # a subscriber: its replies are not capped
    await rig.send(_tension_with("loud"))
    await rig.send(_tension_with(1.5))
    errors = rig.replies()
    assert all(isinstance(e, Error) and e.refused_address == "/metal/tension" for e in errors)
    assert len(errors) == 2
    assert rig.controller.controls.tension == 0.5


async def test_error_replies_are_rate_limited_per_peer_but_all_counted(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    await rig.join()  # a subscriber: its replies are not capped
    await rig.join(OTHER)
    for _ in range(10):
        await rig.send(b"junk")
    await rig.send(b"junk", OTHER)
    assert len(rig.replies(CLIENT)) == 3  # the burst
    assert len(rig.replies(OTHER)) == 1  # another peer has its own budget
    assert rig.controller.metrics["errors"] == 11
    assert rig.controller.metrics["error_replies_suppressed"] == 7
    await trio.sleep(1.0)  # one token back
    await rig.send(b"junk")
    assert len(rig.replies(CLIENT)) == 4


async def test_the_beat_never_stops_under_a_flood_of_bad_input(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    await rig.send(Subscribe(port=9100))
    for _ in range(200):
        await rig.send(b"\xff" * 40)
        await trio.sleep(0.02)
    beats = rig.beats()
    # 4 s at 120 BPM, beat 0 sounding 0.2 s after play: beats 0..7, every one of them
    assert beats == [Beat(bar=b // 4, beat=b % 4) for b in range(8)]
    assert rig.player.metrics["late_sends"] == 0


async def test_scenes_save_and_interpolate(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    await rig.join()  # a subscriber: its replies are not capped
    await rig.send(Interpolate(scene="boss", bars=8))
    [error] = rig.replies()
    assert isinstance(error, Error)
    assert "unknown scene 'boss'" in error.reason
    await trio.sleep(1.0)  # the first phrase is chosen
    await rig.send(SceneSave(name="boss"))
    await rig.send(Interpolate(scene="boss", bars=4))
    assert len(rig.interpolations) == 1
    assert rig.interpolations[0].scene == "boss"
    assert len(rig.interpolations[0].points) == 2
    assert rig.controller.conductor.scene_target == "boss"


async def test_any_message_renews_the_lease(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    subs = rig.controller.subscriptions
    await rig.send(Subscribe())
    await trio.sleep(50.0)
    await rig.send(Ping())
    await trio.sleep(50.0)
    assert subs.expire(trio.current_time()) == []
    await trio.sleep(11.0)
    assert [s.peer for s in subs.expire(trio.current_time())] == [CLIENT]


async def test_tension_changes_the_phrases_played_from_the_next_phrase_on(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    """``/metal/tension`` through the message path reaches the conductor: the phrases chosen after
    it carry the new tension and are as dense as it asks (the rig's phrases have one note per unit
    of intensity, levels 1..9). One phrase already chosen when the message arrives may still play
    at the old tension."""
    clock = rig.controller.clock
    await rig.send(Subscribe(port=9100))
    await rig.send(Tension(value=0.1))
    calm_from = trio.current_time()
    await trio.sleep(20.0)  # five 2-bar slots at 120 BPM
    await rig.send(Tension(value=0.9))
    tense_from = trio.current_time()
    await trio.sleep(20.0)
    assert rig.tension_pokes == [pytest.approx(0.1), pytest.approx(0.9)]  # the generator is woken

    slots = slots_heard(rig.bundles(("127.0.0.1", 9100)))

    def heard_between(start: float, end: float) -> list[SlotHeard]:
        # complete slots only (the next one started too), the first one after the change skipped
        indices = sorted(
            k for k in slots if start < clock.beat_time(8 * k) < end and k + 1 in slots
        )
        return [slots[k] for k in indices[1:]]

    calm = heard_between(calm_from, tense_from)
    tense = heard_between(tense_from, trio.current_time())
    assert len(calm) >= 3
    assert len(tense) >= 3
    assert [s.tension for s in calm] == pytest.approx([0.1] * len(calm))
    assert [s.tension for s in tense] == pytest.approx([0.9] * len(tense))
    for instrument in INSTRUMENTS:
        calm_notes = [s.notes[instrument] for s in calm]
        tense_notes = [s.notes[instrument] for s in tense]
        assert min(tense_notes) > max(calm_notes), (instrument, calm_notes, tense_notes)


async def test_a_refused_tension_does_not_wake_the_generator(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    await rig.send(_tension_with(1.5))
    assert rig.tension_pokes == []
    await rig.send(Tension(value=0.7))
    assert rig.tension_pokes == [pytest.approx(0.7)]


async def test_tempo_change_keeps_the_beats_already_sent_and_respaces_after_the_lookahead(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    """A beat inside the look-ahead has been sent to bundle subscribers with its time already, so
    the new tempo may only start at the first beat after ``now + lookahead``: every beat before it
    keeps the old grid, and the spacing changes after it. Exact times (to NTP's resolution), from
    the timetags of what was sent."""
    clock = rig.controller.clock
    clock.unix_offset = 1_700_000_000.0
    await rig.send(Subscribe(port=9100))
    await trio.testing.wait_all_tasks_blocked()  # play has started: beat 0's time is fixed
    [anchor] = clock.anchors
    assert (anchor.beat, anchor.bpm) == (0, 120.0)
    start = anchor.time
    # 0.1 s before beat 4 sounds (start + 2.0): beat 4 is inside the look-ahead (0.15 s) and was
    # sent at start + 1.85; beat 5 (start + 2.5) is the first beat after now + lookahead.
    await trio.sleep_until(start + 1.9)
    await rig.send(Tempo(bpm=240.0))
    await trio.sleep_until(start + 6.0)

    heard: list[tuple[int, float]] = []
    for bundle in rig.bundles(("127.0.0.1", 9100)):
        for message in bundle.messages:
            if isinstance(message, Beat):
                assert bundle.timetag is not None
                heard.append((message.bar * 4 + message.beat, bundle.timetag - clock.unix_offset))
    old = {k: start + 0.5 * k for k in range(6)}  # beats 0..5 on the 120 BPM grid
    new = {k: start + 2.5 + 0.25 * (k - 5) for k in range(6, 20)}  # then 240 BPM from beat 5
    expected = old | new  # beat 19 sounds at start + 6.0, sent 0.15 s earlier
    times = dict(heard)
    assert len(times) == len(heard)  # every beat sent once
    assert [times.get(k, math.nan) for k in expected] == pytest.approx(
        list(expected.values()), abs=1e-6
    )
    assert list(times) == list(expected)  # and no beat past start + 6.0 + lookahead


async def test_a_next_bar_tension_jump_is_heard_within_one_bar(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    """ "The enemy appears": with ``transition bar`` the phrase in flight is cut at the next bar
    line the look-ahead still allows, so the new tension sounds less than a bar (plus the
    look-ahead) after the message, wherever in the phrase it arrives."""
    bar_s = 4 * 60.0 / 120.0
    await rig.send(Subscribe(port=9100))
    await rig.send(Tension(value=0.1))
    await trio.sleep(9.3)  # inside a phrase's first bar (phrases start every 4 s from 0.2 s)
    for at in (0.0, 1.1, 2.6, 3.7):  # then at other points of a phrase
        await trio.sleep(at)
        await rig.send(Tension(value=0.1, transition="bar"))
        await trio.sleep(5.0)
        sent = trio.current_time()
        since = len(rig.sent)
        await rig.send(Tension(value=0.9, transition="bar"))
        await trio.sleep(4.0)
        first = next(
            bundle
            for bundle in rig.bundles(("127.0.0.1", 9100), since=since)
            if any(isinstance(m, PhraseStarted) and m.tension > 0.85 for m in bundle.messages)
        )
        assert first.timetag is not None
        heard_after = first.timetag - rig.controller.clock.to_unix(sent)
        assert 0 < heard_after <= bar_s + rig.player.lookahead
        # the cut lands on a bar line, and a section starts there
        assert any(isinstance(m, SectionStarted) for m in first.messages)
        beats = [m for m in first.messages if isinstance(m, Beat)]
        assert beats
        assert beats[0].beat == 0


async def test_sections_are_announced_on_their_first_beat(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    await rig.send(Subscribe(port=9100))
    await trio.sleep(4 * 8 * 60.0 / 120.0 * 2)  # two 8-bar sections at 120 BPM
    announced = [
        (m, next(b for b in bundle.messages if isinstance(b, Beat)))
        for bundle in rig.bundles(("127.0.0.1", 9100))
        for m in bundle.messages
        if isinstance(m, SectionStarted)
    ]
    assert [(s.index, beat.bar, beat.beat) for s, beat in announced[:2]] == [(0, 0, 0), (1, 8, 0)]
    assert all(s.key == "E" for s, _ in announced)
    assert announced[0][0].tension == pytest.approx(0.5)
