"""OSC as other tools really send it, through the controller: address patterns, bundles timetagged
in the future, pings of every tag, and reasons that say what is accepted.

Same rules as the control suite (whose rig this is): raw datagrams straight into
``Controller.handle_datagram``, replies into a recorder, time under ``autojump_clock``. The last
test sends over a real socket to a daemon on fake models, every wait bounded by
``trio.fail_after``.
"""

from __future__ import annotations

import time

import pytest
import trio
import trio.testing
from metalosc.protocol import (
    Error,
    Message,
    Play,
    State,
    Subscribe,
    Tempo,
    Tension,
    decode_outgoing,
    encode,
    encode_bundle,
)
from metalosc.server import Settings
from metalosc.server.testing import FakeModelSource, UdpClient, open_server
from pythonosc.osc_message_builder import OscMessageBuilder

from .test_server_control import (
    CLIENT,
    Rig,
    rig as rig,  # the fixture, shared
)

UNIX = 1_700_000_000.0


def build(address: str, *args: tuple[object, str]) -> bytes:
    builder = OscMessageBuilder(address=address)
    for value, tag in args:
        builder.add_arg(value, tag)  # type: ignore[arg-type]
    return builder.build().dgram


def errors(rig: Rig) -> list[Error]:
    return [m for m in rig.replies() if isinstance(m, Error)]


def in_(rig: Rig, seconds: float) -> float:
    """The unix time ``seconds`` from now on the rig's clock (what a game puts in a timetag)."""
    return rig.controller.clock.to_unix(trio.current_time() + seconds)


@pytest.fixture
def offset(rig: Rig) -> None:
    rig.controller.clock.unix_offset = UNIX


# --- address patterns ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "pattern",
    [
        "/metal/t?nsion",
        "/metal/tens*",
        "/metal/[st]ension",
        "/metal/{tension,tensor}",
        "/*/tension",
    ],
)
async def test_a_pattern_changes_what_it_names(
    rig: Rig, autojump_clock: trio.testing.MockClock, pattern: str
) -> None:
    await rig.send(build(pattern, (0.7, "f")))
    assert rig.controller.controls.tension == pytest.approx(0.7)
    assert rig.tension_pokes == [pytest.approx(0.7)]
    assert errors(rig) == []


async def test_a_pattern_is_sent_to_each_address_and_each_refusal_is_answered(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    await rig.join()  # a subscriber: its replies are not capped
    await rig.send(build("/metal/{tension,tempo}", (0.7, "f")))
    assert rig.controller.controls.tension == pytest.approx(0.7)
    assert rig.controller.clock.bpm == 120.0
    [error] = errors(rig)
    assert error.refused_address == "/metal/tempo"
    assert error.reason.startswith("bpm 0.699999988079071 out of range (40..320)")

    await rig.send(build("/metal/{tension,tempo}", (150.0, "f")))
    assert rig.controller.clock.bpm == 150.0
    assert rig.controller.controls.tension == pytest.approx(0.7)
    assert [e.refused_address for e in errors(rig)] == ["/metal/tempo", "/metal/tension"]


async def test_a_pattern_that_matches_nothing_is_refused_as_such(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    await rig.join()  # a subscriber: its replies are not capped
    await rig.send(build("/metal/vol*", (0.7, "f")))
    [error] = errors(rig)
    assert (error.refused_address, error.reason) == (
        "/metal/vol*",
        "no address matches the pattern",
    )
    assert rig.controller.controls.tension == 0.5


# --- bundle timetags ----------------------------------------------------------------------


async def test_a_future_bundle_is_applied_at_its_timetag_not_on_arrival(
    rig: Rig, autojump_clock: trio.testing.MockClock, offset: None
) -> None:
    start = trio.current_time()
    await rig.send(encode_bundle([Tension(value=0.9)], in_(rig, 1.5)))
    assert rig.controller.controls.tension == 0.5
    assert rig.controller.scheduled.waiting == 1
    await trio.sleep_until(start + 1.5 - 0.001)
    assert rig.controller.controls.tension == 0.5
    assert rig.tension_pokes == []
    await trio.sleep_until(start + 1.5 + 0.001)
    assert rig.controller.controls.tension == pytest.approx(0.9)
    assert rig.tension_pokes == [pytest.approx(0.9)]
    assert rig.controller.scheduled.waiting == 0
    assert errors(rig) == []


async def test_future_bundles_are_applied_in_time_order_and_ties_in_arrival_order(
    rig: Rig, autojump_clock: trio.testing.MockClock, offset: None
) -> None:
    await rig.send(encode_bundle([Tension(value=0.3)], in_(rig, 3.0)))
    await rig.send(encode_bundle([Tension(value=0.1)], in_(rig, 1.0)))
    await rig.send(encode_bundle([Tension(value=0.2)], in_(rig, 2.0)))
    tie = in_(rig, 2.0)
    await rig.send(encode_bundle([Tension(value=0.25)], tie))
    await rig.send(encode_bundle([Tension(value=0.26)], tie))
    await trio.sleep(4.0)
    assert rig.tension_pokes == pytest.approx([0.1, 0.2, 0.25, 0.26, 0.3])


async def test_a_future_bundle_of_tempo_and_tension_changes_both_at_its_time(
    rig: Rig, autojump_clock: trio.testing.MockClock, offset: None
) -> None:
    start = trio.current_time()
    await rig.send(encode_bundle([Tempo(bpm=180.0), Tension(value=0.8)], in_(rig, 5.0)))
    await trio.sleep_until(start + 4.99)
    assert (rig.controller.clock.bpm, rig.controller.controls.tension) == (120.0, 0.5)
    await trio.sleep_until(start + 5.01)
    assert rig.controller.clock.bpm == 180.0
    assert rig.controller.controls.tension == pytest.approx(0.8)
    # as if it had arrived then: the new tempo starts after the beats already sent at that time
    [_, anchor] = rig.controller.clock.anchors
    assert anchor.time > start + 5.0 + rig.controller.lookahead


@pytest.mark.parametrize(
    "timetag",
    [None, "now", "past", "long ago"],
)
async def test_an_immediate_past_or_present_bundle_is_applied_at_once(
    rig: Rig, autojump_clock: trio.testing.MockClock, offset: None, timetag: str | None
) -> None:
    when = {
        None: None,
        "now": in_(rig, 0.0),
        "past": in_(rig, -0.5),
        "long ago": 1.0,  # 1970
    }[timetag]
    await rig.send(encode_bundle([Tension(value=0.9)], when))
    assert rig.controller.controls.tension == pytest.approx(0.9)
    assert rig.controller.scheduled.waiting == 0


async def test_a_bundle_too_far_ahead_is_refused_with_a_clear_error(
    rig: Rig, autojump_clock: trio.testing.MockClock, offset: None
) -> None:
    await rig.join()  # a subscriber: its replies are not capped
    horizon = rig.controller.scheduled.horizon
    await rig.send(encode_bundle([Tension(value=0.9)], in_(rig, horizon + 1.0)))
    [error] = errors(rig)
    assert error.refused_address == "#bundle"
    assert (
        error.reason
        == f"timetag {horizon + 1.0:.1f} s ahead; at most {horizon:g} s ahead is accepted"
    )
    assert rig.controller.scheduled.waiting == 0
    await trio.sleep(horizon + 2.0)
    assert rig.controller.controls.tension == 0.5
    assert rig.controller.metrics["bundles_refused"] == 1

    await rig.send(encode_bundle([Tension(value=0.9)], in_(rig, horizon - 1.0)))  # within
    assert rig.controller.scheduled.waiting == 1


async def test_only_so_many_bundles_may_wait_and_the_next_one_is_refused(
    rig: Rig, autojump_clock: trio.testing.MockClock, offset: None
) -> None:
    await rig.join()  # a subscriber: its replies are not capped
    capacity = rig.controller.scheduled.capacity
    for n in range(capacity):
        await rig.send(encode_bundle([Tension(value=n / capacity)], in_(rig, 10.0 + n / 1000)))
    assert errors(rig) == []
    await rig.send(encode_bundle([Tension(value=1.0)], in_(rig, 5.0)))
    [error] = errors(rig)
    assert error.refused_address == "#bundle"
    assert error.reason == (
        f"{capacity} future bundles already wait; try again when some are applied"
    )
    await trio.sleep(11.0)  # every waiting bundle is applied, in order; the refused one never
    assert rig.tension_pokes == pytest.approx([n / capacity for n in range(capacity)])
    await rig.send(encode_bundle([Tension(value=1.0)], in_(rig, 5.0)))
    assert rig.controller.scheduled.waiting == 1


async def test_a_future_bundle_with_a_bad_element_is_refused_on_arrival_whole(
    rig: Rig, autojump_clock: trio.testing.MockClock, offset: None
) -> None:
    bad = encode_bundle([Tension(value=0.9), Play()], in_(rig, 1.0))
    bad = bad.replace(encode(Play()), build("/metal/tempo", (999.0, "f"))[:16])  # same size
    await rig.send(bad)
    [error] = errors(rig)
    assert error.reason.startswith("bundle element 1:")
    assert rig.controller.scheduled.waiting == 0
    await trio.sleep(2.0)
    assert rig.controller.controls.tension == 0.5


async def test_a_future_bundle_may_hold_a_pattern(
    rig: Rig, autojump_clock: trio.testing.MockClock, offset: None
) -> None:
    tension = encode(Tension(value=0.25))
    pattern = build("/metal/t?nsion", (0.75, "f"))
    bundle = encode_bundle([Tension(value=0.25)], in_(rig, 1.0))
    bundle = bundle.replace(tension, pattern) if len(pattern) == len(tension) else b""
    assert bundle
    await rig.send(bundle)
    assert rig.controller.controls.tension == 0.5
    await trio.sleep(1.01)
    assert rig.controller.controls.tension == pytest.approx(0.75)


# --- echoes and reasons -------------------------------------------------------------------


async def test_pong_returns_every_ping_argument_with_its_own_tag(
    rig: Rig, autojump_clock: trio.testing.MockClock, offset: None
) -> None:
    await rig.join()  # a subscriber: its replies are not capped
    args: list[tuple[object, str]] = [
        (7, "i"),
        (7, "h"),
        (0.5, "f"),
        (0.5, "d"),
        (float("inf"), "f"),
        ("x", "s"),
        (True, "T"),
        (False, "F"),
    ]
    await rig.send(build("/metal/ping", *args))
    [data] = [d for peer, d in rig.sent if peer == CLIENT]
    server_time = trio.current_time() + UNIX
    assert data == build("/metal/pong", *args, (server_time, "d"))


@pytest.mark.parametrize(
    ("packet", "address", "reason"),
    [
        (
            build("/metal/tension", ("loud", "s")),
            "/metal/tension",
            "wrong type tag s for value: expected one of i, h, f, d",
        ),
        (
            build("/metal/mute", ("bass", "s"), ("yes", "s")),
            "/metal/mute",
            "wrong type tag s for muted: expected one of i, h, f, d, T, F",
        ),
        (
            b"/metal/tension,f\x00\x00\x00\x00?\x00\x00\x00",
            "/metal/tension,f",
            "malformed address: character , is not allowed",
        ),
        (b"/metal/tension\x00X,f\x00\x00?\x00\x00\x00", "", "malformed address"),
        (b"/metal/play", "", "malformed address"),
    ],
)
async def test_reasons_say_what_is_accepted_and_what_is_malformed(
    rig: Rig, autojump_clock: trio.testing.MockClock, packet: bytes, address: str, reason: str
) -> None:
    await rig.join()  # a subscriber: its replies are not capped
    await rig.send(packet)
    [error] = errors(rig)
    assert error.refused_address == address
    assert error.reason.startswith(reason)
    assert "unknown address" not in error.reason
    assert rig.controller.controls.tension == 0.5
    replies: list[Message] = [decode_outgoing(d) for peer, d in rig.sent if peer == CLIENT]
    assert not any(isinstance(m, State) for m in replies)


# --- over the wire ------------------------------------------------------------------------


async def test_the_daemon_applies_patterns_and_future_bundles_over_the_wire(
    fake_source: FakeModelSource,
) -> None:
    settings = Settings(port=0, bpm=300.0, buffer_depth=4, batch_size=4, lookahead=0.1, seed=1)
    async with (
        open_server(settings, executors=fake_source) as server,
        UdpClient.open(server.address) as client,
    ):
        await client.send(Subscribe())
        await client.expect_state(timeout=5)
        await client.send(build("/metal/t?mpo", (200.0, "f")))
        await client.expect_state(timeout=5, bpm=200.0)

        due = time.time() + 0.5
        await client.send(encode_bundle([Tension(value=0.9)], due))
        await client.expect_state(timeout=5, tension=0.9)
        # the daemon's clock maps unix time to its own once; never early by more than a tick
        assert time.time() >= due - 0.01
        assert server.controls.tension == pytest.approx(0.9)
