"""OSC 1.0 address patterns: what a client's pattern names, what it decodes to, and its limits.

A pattern is dispatched to every address it matches, each as if the message had been sent to that
address; python-osc's own dispatcher is the reference the matcher is checked against.
"""

from __future__ import annotations

import pytest
from metalosc.protocol import (
    INCOMING,
    MESSAGE_TYPES,
    Bundle,
    Fill,
    Ping,
    Play,
    ProtocolError,
    SceneSave,
    SectionRequest,
    StateRequest,
    Stop,
    Subscribe,
    Temperature,
    Tempo,
    Tension,
    Unsubscribe,
    decode,
    decode_packet,
)
from metalosc.protocol._pattern import PATTERN_MAX, PatternError, match_addresses, matches
from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_message_builder import OscMessageBuilder


def build(address: str, *args: tuple[object, str]) -> bytes:
    builder = OscMessageBuilder(address=address)
    for value, tag in args:
        builder.add_arg(value, tag)  # type: ignore[arg-type]
    return builder.build().dgram


SEVEN = Tension(value=0.699999988079071)  # 0.7 as the float32 it travels as


@pytest.mark.parametrize(
    "pattern",
    [
        "/metal/t?nsion",
        "/metal/tens*",
        "/metal/[st]ension",
        "/metal/[s-u]ension",
        "/metal/[!a-s]ension",
        "/metal/{tension,tensions,nope}",
        "/metal/tension*",
        "/metal/*ension",
        "/metal/te*n*n",
        "/*/tension",
        "/met?l/te??ion",
        "/metal/{tens,tent}ion",
    ],
)
def test_a_pattern_naming_tension_sets_it(pattern: str) -> None:
    data = build(pattern, (0.7, "f"))
    assert decode_packet(data) == SEVEN
    assert decode(data) == SEVEN


def test_a_pattern_naming_two_addresses_is_sent_to_each_as_if_sent_to_it() -> None:
    # /metal/{tension,tempo} f 0.7: a tension of 0.7 is fine, a tempo of 0.7 bpm is not
    packet = decode_packet(build("/metal/{tension,tempo}", (0.7, "f")))
    assert isinstance(packet, Bundle)
    assert packet.timetag is None
    assert packet.messages == (SEVEN,)
    [refusal] = packet.refusals
    assert refusal.address == "/metal/tempo"
    assert refusal.reason.startswith("bpm 0.699999988079071 out of range (40..320)")
    assert "/metal/{tension,tempo}" in refusal.reason

    # and the other way round: 120 is a tempo, not a tension
    packet = decode_packet(build("/metal/{tension,tempo}", (120.0, "f")))
    assert isinstance(packet, Bundle)
    assert packet.messages == (Tempo(bpm=120.0),)
    assert [r.address for r in packet.refusals] == ["/metal/tension"]

    # both accept: both are applied, in the order of the address table
    packet = decode_packet(build("/metal/{temperature,tension}", (0.7, "f")))
    assert isinstance(packet, Bundle)
    assert packet.messages == (SEVEN, Temperature(value=0.699999988079071))
    assert packet.refusals == ()


def test_a_star_names_every_address_of_its_level() -> None:
    packet = decode_packet(build("/metal/*"))
    assert isinstance(packet, Bundle)
    # every message that takes no argument (or only optional ones) ...
    assert packet.messages == (
        Subscribe(),
        Unsubscribe(),
        Play(),
        Stop(),
        Fill(),
        SectionRequest(),
        Ping(),
        StateRequest(),
    )
    # ... and an error from each of the others; /metal/scene/save has one more level
    assert {r.address for r in packet.refusals} == {
        "/metal/tension",
        "/metal/tempo",
        "/metal/interpolate",
        "/metal/mute",
        "/metal/temperature",
        "/metal/transition",
        "/metal/key",
    }
    assert all("wrong argument count 0" in r.reason for r in packet.refusals)


def test_a_pattern_decodes_with_decode_only_when_it_names_one_address() -> None:
    assert decode(build("/metal/scene/s*", ("boss", "s"))) == SceneSave(name="boss")
    with pytest.raises(ProtocolError, match="the pattern names 2 addresses"):
        decode(build("/metal/{play,stop}"))
    with pytest.raises(ProtocolError, match="/metal/tempo: bpm"):
        decode(build("/metal/t?mpo", (1.0, "f")))


def test_pattern_elements_of_a_bundle_stand_for_each_address_they_name() -> None:
    element = build("/metal/{play,temperature}")  # /metal/temperature refuses: no value
    play_and_stop = build("/metal/{play,stop}")
    bundle = b"#bundle\x00" + (1).to_bytes(8, "big")
    good = bundle + len(play_and_stop).to_bytes(4, "big") + play_and_stop
    assert decode_packet(good) == Bundle(timetag=None, messages=(Play(), Stop()))
    bad = good + len(element).to_bytes(4, "big") + element
    with pytest.raises(ProtocolError) as caught:
        decode_packet(bad)  # all or nothing
    assert caught.value.reason.startswith("bundle element 1: /metal/temperature: wrong argument")
    assert caught.value.address == "/metal/{play,temperature}"


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ("/metal/z*", "no address matches the pattern"),
        ("/metal/tension?", "no address matches the pattern"),
        ("/metal/*/*/*", "no address matches the pattern"),
        ("/metal/?", "no address matches the pattern"),
        ("/metal/[tension", "malformed address: unbalanced [ in address pattern"),
        ("/metal/tension]", "malformed address: unbalanced ] in address pattern"),
        ("/metal/{tension,tempo", "malformed address: unbalanced { in address pattern"),
        ("/metal/{tension,{tempo}}", "malformed address: { inside {} in address pattern"),
        ("/metal/[]ension", "malformed address: empty [] in address pattern"),
        ("/metal/[z-a]ension", "malformed address: range z-a is backwards in address pattern"),
        ("/metal/" + "?" * PATTERN_MAX, "malformed address: address pattern longer than 128"),
        ("/metal/te mpo*", "malformed address: character U+0020 is not allowed"),
        ("/metal/#t*", "malformed address: character # is not allowed"),
    ],
)
def test_a_pattern_that_names_nothing_or_cannot_be_read_is_refused_with_why(
    pattern: str, reason: str
) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_packet(build(pattern, (0.5, "f")))
    assert caught.value.reason.startswith(reason)
    assert caught.value.address is not None
    assert pattern.startswith(caught.value.address.rstrip("…"))


def test_wildcards_stay_within_one_part_of_the_address() -> None:
    assert not matches("/metal/*", "/metal/scene/save")
    assert not matches("/*", "/metal/tension")
    assert not matches("/metal?scene/save", "/metal/scene/save")
    with pytest.raises(PatternError, match="unbalanced"):  # "/" splits parts first
        matches("/metal/scene[/]save", "/metal/scene/save")
    assert matches("/metal/*/save", "/metal/scene/save")
    assert matches("/*/*/*", "/metal/scene/save")


def test_brackets_and_braces_follow_osc_1_0() -> None:
    assert matches("/a/[!-]", "/a/x")  # "!" first negates
    assert not matches("/a/[!x]", "/a/x")
    assert matches("/a/[a!]", "/a/!")  # "!" elsewhere is itself
    assert matches("/a/[ab-]", "/a/-")  # "-" last is itself
    assert matches("/a/[a-c]", "/a/b")
    assert matches("/a/{,x}y", "/a/y")  # an empty alternative
    assert matches("/a/b**c", "/a/bc")
    assert match_addresses("/a/?", ["/a/b", "/a/bb", "/a/c"]) == ["/a/b", "/a/c"]


@pytest.mark.timeout(5)
def test_matching_cost_does_not_explode_on_hostile_patterns() -> None:
    # A backtracking matcher takes exponential time here; the set of reached positions does not.
    hostile = "/" + "*a" * 60 + "b"
    assert len(hostile) <= PATTERN_MAX
    assert not matches(hostile, "/" + "a" * 10_000)
    with pytest.raises(PatternError):
        matches("/" + "{a,b}" * 40, "/ab")


@pytest.mark.parametrize(
    "pattern",
    [
        "/metal/t?nsion",
        "/metal/tens*",
        "/metal/[st]ension",
        "/metal/{tension,tempo}",
        "/metal/[!s]*",
        "/metal/*e*",
        "/metal/t*",
        "/metal/?????",
        "/metal/scene/*",
        "/metal/{play,stop,state}",
        "/metal/[a-m]*",
        "/*/p*",
    ],
)
def test_matching_agrees_with_python_osc_dispatcher(pattern: str) -> None:
    dispatcher = Dispatcher()
    for address in INCOMING:
        dispatcher.map(address, lambda *_: None, address)
    theirs = {h.args[0] for h in dispatcher.handlers_for_address(pattern)}
    assert set(match_addresses(pattern, INCOMING)) == theirs


def test_outgoing_addresses_are_never_patterns() -> None:
    assert all(set("?*[]{}#, ").isdisjoint(cls.address) for cls in MESSAGE_TYPES)
    with pytest.raises(ProtocolError, match="unknown address"):  # a server never sends one
        decode_packet(build("/metal/n?te"), outgoing=True)
