"""Hostile input through the controller: strangers, floods, forged sizes, and the caps.

Same rules as the control suite (whose rig this is): raw datagrams straight into
``Controller.handle_datagram``, what is sent into a recorder, time under ``autojump_clock``. A
"stranger" is a peer that never subscribed: with a forged source address, whatever it is sent
really goes to someone else, so it is never sent more bytes than its datagram had.
"""

from __future__ import annotations

from ipaddress import ip_network

import pytest
import trio
import trio.testing
from metalosc.protocol import (
    Error,
    Interpolate,
    Ping,
    SceneSave,
    SectionRequest,
    State,
    StateRequest,
    Subscribe,
    Tension,
    decode_outgoing,
    encode,
    encode_bundle,
)
from metalosc.server import Metrics, Outbox, PeerRateLimiter, Subscriptions, TokenBucket
from metalosc.server._access import AccessList
from structlog.testing import capture_logs

from .test_server_control import (
    CLIENT,
    OTHER,
    Rig,
    rig as rig,  # the fixture, shared
)

STRANGER = ("127.0.0.1", 40000)


def sent_to(rig: Rig, peer: tuple[str, int]) -> list[bytes]:
    return [data for to, data in rig.sent if to == peer]


REQUESTS = {
    "state request": encode(StateRequest()),
    "bare ping": encode(Ping()),
    "ping with arguments": encode(Ping(args=(1, "abc", 2.5))),
    "bundle of pings": encode_bundle([Ping(), Ping(args=(7,)), Ping()], None),
    "4 bytes of junk": b"junk",
    "unknown address": b"/metal/nope\x00,\x00\x00\x00",
    "wrong type": b"/metal/tension\x00\x00,s\x00\x00loud\x00\x00\x00\x00",
    "pattern refused by several": b"/metal/*\x00,s\x00\x00x\x00\x00\x00",
    "truncated bundle": encode_bundle([Tension(value=0.5)], None)[:-3],
    "huge element size": b"#bundle\x00" + b"\x00" * 7 + b"\x01" + b"\x7f\xff\xff\xff",
    "long malformed address": b"/metal/" + b"x" * 200 + b" \x00\x00,\x00\x00\x00",
}


@pytest.mark.parametrize("request_bytes", REQUESTS.values(), ids=list(REQUESTS))
async def test_a_stranger_is_never_sent_more_bytes_than_it_sent(
    rig: Rig, autojump_clock: trio.testing.MockClock, request_bytes: bytes
) -> None:
    await rig.send(request_bytes, STRANGER)
    assert sum(map(len, sent_to(rig, STRANGER))) <= len(request_bytes)
    # the same request from a subscriber is answered in full
    await rig.join()
    await rig.send(request_bytes, CLIENT)
    assert sent_to(rig, CLIENT)


async def test_a_stranger_gets_its_error_cut_to_fit_and_never_a_state_or_pong(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    long_wrong = b"/metal/tension\x00\x00,s\x00\x00" + b"loud" * 12 + b"\x00\x00\x00\x00"
    await rig.send(long_wrong, STRANGER)
    [data] = sent_to(rig, STRANGER)
    error = decode_outgoing(data)
    assert isinstance(error, Error)
    assert error.refused_address == "/metal/tension"
    assert error.reason.startswith("wrong type")  # the start of the reason, cut to fit
    assert len(data) <= len(long_wrong)
    await rig.send(encode(Ping(args=("x" * 100,))), STRANGER)
    await rig.send(encode(StateRequest()), STRANGER)
    assert len(sent_to(rig, STRANGER)) == 1
    assert rig.controller.metrics["replies_withheld"] == 2


async def test_a_peer_outside_the_allowlist_is_dropped_unanswered_and_counted(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    rig.controller.access = AccessList([ip_network("10.9.0.0/24"), ip_network("::1/128")])
    outsider = ("10.9.1.5", 5000)
    with capture_logs() as logs:
        for _ in range(50):
            await rig.send(Tension(value=0.9), outsider)
            await rig.send(b"junk", outsider)
            await rig.send(encode(Subscribe(port=9000)), outsider)
    assert sent_to(rig, outsider) == []
    assert rig.controller.controls.tension == 0.5
    assert len(rig.controller.subscriptions) == 0
    assert rig.controller.metrics["packets_denied"] == 150
    assert rig.controller.metrics["packets_malformed"] == 0  # never parsed
    assert 1 <= [e["event"] for e in logs].count("peer_denied") <= 3  # a line, not 150
    await rig.send(Tension(value=0.9), ("10.9.0.7", 5000))  # allowed
    assert rig.controller.controls.tension == pytest.approx(0.9)


async def test_excess_from_one_peer_is_shed_unparsed_and_another_peer_is_not_held_up(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    rig.controller.input_limiter = PeerRateLimiter(rate=10.0, burst=5)
    await rig.join(OTHER)
    for _ in range(100):
        await rig.send(b"junk", CLIENT)
    await rig.send(Tension(value=0.8), OTHER)
    metrics = rig.controller.metrics
    assert metrics["packets_shed"] == 100 - 5
    assert metrics["packets_malformed"] == 5  # only the burst was parsed
    assert rig.controller.controls.tension == pytest.approx(0.8)
    await trio.sleep(1.0)  # the budget refills at its rate
    await rig.send(Tension(value=0.2), CLIENT)
    assert rig.controller.controls.tension == pytest.approx(0.2)
    assert metrics["packets_received"] == sum(
        metrics[k]
        for k in (
            "packets_denied",
            "packets_shed",
            "packets_oversize",
            "packets_malformed",
            "packets_decoded",
        )
    )


async def test_an_oversized_datagram_is_refused_unread(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    rig.controller.max_packet = 64
    await rig.join()
    await rig.send(encode(Ping(args=("x" * 80,))))
    [error] = [m for m in rig.replies() if isinstance(m, Error)]
    assert error.reason == "datagram over 64 bytes"
    assert rig.controller.metrics["packets_oversize"] == 1
    assert rig.controller.metrics["packets_decoded"] == 1  # the subscription only


async def test_subscribers_scenes_and_names_are_capped(
    rig: Rig, autojump_clock: trio.testing.MockClock
) -> None:
    controller = rig.controller
    controller.subscriptions.capacity = 2
    controller.max_scenes = 2
    controller.max_name = 8
    await rig.join()
    await rig.join(OTHER)
    third = ("127.0.0.1", 50002)
    await rig.send(Subscribe(), third)
    assert len(controller.subscriptions) == 2
    assert controller.metrics["subscriptions_refused"] == 1
    await rig.send(Subscribe(port=9998, mode="immediate"), OTHER)  # renewing is not a new one
    assert len(controller.subscriptions) == 2

    await trio.sleep(1.0)  # something has played: scenes can be saved
    for name in ("a", "b", "c"):
        await rig.send(SceneSave(name=name))
    await rig.send(SceneSave(name="a"))  # saving over one is fine
    await rig.send(SceneSave(name="ninechars"))
    await rig.send(SectionRequest(label="ninechars"))
    assert sorted(controller.conductor.scenes) == ["a", "b"]
    reasons = [m.reason for m in rig.replies() if isinstance(m, Error)]
    assert reasons == [
        "2 scenes saved already; save over one of them or delete one",
        "name of 9 characters; at most 8",
        "label of 9 characters; at most 8",
    ]
    await rig.send(Interpolate(scene="b", bars=4))
    assert controller.conductor.scene_target == "b"


async def test_error_replies_are_capped_for_all_peers_together(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sent: list[tuple[tuple[str, int], bytes]] = []

    async def send_to(data: bytes, peer: tuple[str, int]) -> bool:
        sent.append((peer, data))
        return True

    subscriptions = Subscriptions()
    metrics = Metrics()
    outbox = Outbox(
        send_to,
        subscriptions,
        PeerRateLimiter(rate=5.0, burst=10),
        metrics,
        error_total=TokenBucket(rate=2.0, burst=4.0, tokens=4.0, updated=trio.current_time()),
    )
    peers = [("127.0.0.1", 41000 + k) for k in range(20)]  # one forged source port after another
    for peer in peers:
        subscriptions.subscribe(peer, None, "bundle", trio.current_time())
        await outbox.error(peer, "/metal/x", "unknown address")
    assert len(sent) == 4
    assert metrics["errors"] == 20
    assert metrics["error_replies_suppressed"] == 16
    await trio.sleep(1.0)
    await outbox.error(peers[0], "/metal/x", "unknown address")
    assert len(sent) == 5
    assert isinstance(decode_outgoing(sent[-1][1]), Error)
    assert not any(isinstance(decode_outgoing(d), State) for _, d in sent)
