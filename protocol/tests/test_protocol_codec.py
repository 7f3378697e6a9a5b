"""Round trips of every message and of bundles, and the exactness of bundle timetags.

Strategies are written out per class here, independently of the registry the codec derives from
the classes, so a registry bug cannot hide behind a strategy derived from that same registry.
Floats sent as OSC `f` are drawn as 32-bit floats so that round trips compare exactly.
"""

from __future__ import annotations

import struct
import typing
from fractions import Fraction

import pytest
from hypothesis import given, strategies as st
from metalosc.protocol import (
    IMMEDIATELY,
    INSTRUMENTS,
    MESSAGE_TYPES,
    Beat,
    Bundle,
    Double,
    Error,
    Fill,
    Int64,
    Interpolate,
    Key,
    KeyName,
    Message,
    MessageBase,
    Mute,
    Note,
    PhraseStarted,
    Ping,
    Play,
    Pong,
    ProtocolError,
    RecordStart,
    RecordState,
    RecordStop,
    SceneDelete,
    SceneList,
    SceneListRequest,
    SceneSave,
    SectionRequest,
    SectionStarted,
    State,
    StateRequest,
    Stop,
    Subscribe,
    Temperature,
    Tempo,
    Tension,
    Transition,
    TransitionDefault,
    Unsubscribe,
    decode,
    decode_outgoing,
    decode_packet,
    encode,
    encode_bundle,
    ntp_to_unix,
    unix_to_ntp,
)
from metalosc.protocol._timetag import NTP_UNIX_OFFSET
from pydantic import ValidationError
from pythonosc import osc_bundle, osc_message_builder
from pythonosc.parsing import ntp, osc_types

NTP_ERA_END = 2**32 - NTP_UNIX_OFFSET  # 2036-02-07: the last unix second of NTP era 0


def f32(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(low, high, width=32, allow_nan=False, allow_infinity=False)


instruments = st.sampled_from(INSTRUMENTS)
scene_names = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
    min_size=1,
    max_size=32,
)
osc_text = st.text(
    alphabet=st.characters(exclude_characters="\x00", exclude_categories=["Cs"]),
    max_size=40,
)
ping_args = st.tuples() | st.lists(
    st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.floats(width=32, allow_nan=False, allow_infinity=False)
    | osc_text,
    max_size=6,
).map(tuple)

transitions = st.sampled_from(typing.get_args(Transition))
keys = st.sampled_from(typing.get_args(KeyName))

INCOMING: dict[type[MessageBase], st.SearchStrategy[Message]] = {
    Subscribe: st.builds(
        Subscribe,
        port=st.none() | st.integers(1, 65535),
        mode=st.sampled_from(["bundle", "immediate"]),
        lease=st.none() | st.integers(1, 86_400),
    ),
    Unsubscribe: st.just(Unsubscribe()),
    Tension: st.builds(Tension, value=f32(0.0, 1.0), transition=st.none() | transitions),
    Tempo: st.builds(Tempo, bpm=f32(40.0, 320.0)),
    Interpolate: st.builds(
        Interpolate, scene=scene_names, bars=st.integers(1, 32).map(lambda n: 2 * n)
    ),
    SceneSave: st.builds(SceneSave, name=scene_names),
    SceneDelete: st.builds(SceneDelete, name=scene_names),
    SceneListRequest: st.just(SceneListRequest()),
    Play: st.just(Play()),
    Stop: st.just(Stop()),
    Mute: st.builds(Mute, instrument=instruments, muted=st.booleans()),
    Temperature: st.builds(
        Temperature, value=f32(0.05000000074505806, 2.0), transition=st.none() | transitions
    ),
    TransitionDefault: st.builds(TransitionDefault, when=transitions),
    Key: st.builds(Key, key=keys),
    Fill: st.just(Fill()),
    SectionRequest: st.builds(SectionRequest, label=st.just("") | scene_names),
    RecordStart: st.builds(RecordStart, name=scene_names),
    RecordStop: st.just(RecordStop()),
    Ping: st.builds(Ping, args=ping_args),
    StateRequest: st.just(StateRequest()),
}
OUTGOING: dict[type[MessageBase], st.SearchStrategy[Message]] = {
    Note: st.builds(
        Note,
        instrument=instruments,
        pitch=st.integers(0, 127),
        velocity=st.integers(0, 127),
        duration_s=f32(0.0, 16.0),
        beat=f32(0.0, 1e6),
    ),
    Beat: st.builds(Beat, bar=st.integers(0, 2**31 - 1), beat=st.integers(0, 15)),
    PhraseStarted: st.builds(
        PhraseStarted,
        instrument=instruments,
        id=st.integers(0, 2**31 - 1),
        tension=f32(0.0, 1.0),
    ),
    Pong: st.builds(Pong, args=ping_args, server_time=st.floats(0.0, 4e9, allow_nan=False)),
    State: st.builds(
        State,
        playing=st.booleans(),
        tension=f32(0.0, 1.0),
        bpm=f32(40.0, 320.0),
        temperature=f32(0.05000000074505806, 2.0),
        guitar_muted=st.booleans(),
        bass_muted=st.booleans(),
        drums_muted=st.booleans(),
        scene=st.just("") | scene_names,
        key=keys,
        transition=transitions,
    ),
    SectionStarted: st.builds(
        SectionStarted,
        index=st.integers(0, 2**31 - 1),
        label=st.just("") | scene_names,
        key=keys,
        tension=f32(0.0, 1.0),
    ),
    RecordState: st.builds(
        RecordState,
        recording=st.booleans(),
        name=scene_names,
        path=osc_text,
        notes=st.integers(0, 2**31 - 1),
    ),
    Error: st.builds(Error, refused_address=osc_text, reason=osc_text),
    SceneList: st.builds(SceneList, names=st.lists(scene_names, max_size=8).map(tuple)),
}
incoming_messages = st.one_of(*INCOMING.values())
outgoing_messages = st.one_of(*OUTGOING.values())
# From 2001 on, a float's resolution is coarser than 1/2**32 s, so float -> NTP -> float is exact.
real_times = st.floats(1e9, NTP_ERA_END - 1, allow_nan=False)
timetags = st.none() | real_times


def test_strategies_cover_every_message_class() -> None:
    assert set(INCOMING) | set(OUTGOING) == set(MESSAGE_TYPES)
    assert all(cls.direction == "in" for cls in INCOMING)
    assert all(cls.direction == "out" for cls in OUTGOING)


@given(incoming_messages)
def test_incoming_message_round_trip(message: Message) -> None:
    data = encode(message)
    assert decode(data) == message
    assert decode_packet(data) == message


@given(outgoing_messages)
def test_outgoing_message_round_trip(message: Message) -> None:
    data = encode(message)
    assert decode_outgoing(data) == message
    assert decode_packet(data, outgoing=True) == message


@given(st.lists(incoming_messages, max_size=8), timetags)
def test_incoming_bundle_round_trip(messages: list[Message], timetag: float | None) -> None:
    decoded = decode_packet(encode_bundle(messages, timetag))
    assert decoded == Bundle(timetag=timetag, messages=tuple(messages))


@given(st.lists(outgoing_messages, max_size=8), timetags)
def test_outgoing_bundle_round_trip(messages: list[Message], timetag: float | None) -> None:
    decoded = decode_packet(encode_bundle(messages, timetag), outgoing=True)
    assert decoded == Bundle(timetag=timetag, messages=tuple(messages))


@pytest.mark.parametrize(
    "message",
    [
        Beat(bar=2**31 - 1, beat=2**31 - 1),
        PhraseStarted(instrument="bass", id=2**31 - 1, tension=1.0),
        Note(
            instrument="bass", pitch=127, velocity=127, duration_s=3.4028234663852886e38, beat=0.0
        ),
        Ping(args=(2**63 - 1, -(2**63), 1e308, -5e-324, "")),
    ],
)
def test_messages_at_their_bounds_encode(message: Message) -> None:
    assert decode_packet(encode(message), outgoing=message.direction == "out") == message


def test_state_address_decodes_by_direction() -> None:
    state = State(
        playing=True,
        tension=0.5,
        bpm=120.0,
        temperature=1.0,
        guitar_muted=False,
        bass_muted=True,
        drums_muted=False,
        scene="boss",
        key="E",
        transition="phrase",
    )
    assert decode(encode(StateRequest())) == StateRequest()
    assert decode_outgoing(encode(state)) == state
    with pytest.raises(ProtocolError, match="wrong argument count"):
        decode(encode(state))


# --- timetags ---------------------------------------------------------------------------


@given(real_times)
def test_bundle_timetag_on_the_wire_is_exact(t: float) -> None:
    data = encode_bundle([Play()], t)
    (wire,) = struct.unpack(">Q", data[8:16])
    # Independent exact computation: the float's exact value, scaled and rounded once.
    assert wire == round((Fraction(t) + 2_208_988_800) * 2**32)
    assert wire == unix_to_ntp(t)
    seconds, fraction = ntp.parse_timestamp(wire)
    assert abs(Fraction(seconds) + Fraction(fraction, 2**32) - 2_208_988_800 - Fraction(t)) <= (
        Fraction(1, 2**33)
    )
    assert ntp_to_unix(wire) == t


@given(st.floats(0.0, NTP_ERA_END - 1, allow_nan=False))
def test_timetag_of_any_unix_time_is_within_half_a_tick(t: float) -> None:
    exact = (Fraction(t) + NTP_UNIX_OFFSET) * 2**32
    assert abs(unix_to_ntp(t) - exact) <= Fraction(1, 2)


@given(st.integers(2**62, 2**64 - 2**32))
def test_ntp_to_unix_is_the_nearest_float(value: int) -> None:
    t = ntp_to_unix(value)
    assert unix_to_ntp(t) == round((Fraction(t) + NTP_UNIX_OFFSET) * 2**32)
    # Re-encoding moves the timetag by less than the float's own resolution at that time.
    assert abs(unix_to_ntp(t) - value) <= max(1, int(abs(t) * 2**32 * 2**-52) + 1)


def test_known_timetags() -> None:
    assert NTP_UNIX_OFFSET == ntp._NTP_DELTA
    assert unix_to_ntp(0.0) == 2_208_988_800 << 32
    assert unix_to_ntp(1.5) == (2_208_988_801 << 32) | 0x8000_0000
    # 2030-01-01T00:00:00.25Z = unix 1893456000.25
    assert ntp.parse_timestamp(unix_to_ntp(1_893_456_000.25)) == (
        1_893_456_000 + 2_208_988_800,
        2**30,
    )
    assert ntp_to_unix(((1_893_456_000 + 2_208_988_800) << 32) | 2**30) == 1_893_456_000.25


def test_python_osc_float_timetags_are_not_exact_which_is_why_we_write_our_own() -> None:
    # If python-osc's `system_time_to_ntp` ever becomes exact, `encode_bundle` can hand it the
    # time instead of writing the 64-bit value itself.
    times = [1_893_456_000 + k / 7 for k in range(1000)]
    ours = [unix_to_ntp(t) for t in times]
    theirs = [struct.unpack(">Q", ntp.system_time_to_ntp(t))[0] for t in times]
    worst = max(abs(a - b) for a, b in zip(ours, theirs, strict=True)) / 2**32
    assert 1e-8 < worst < 1e-6  # up to ~0.5 µs off


def test_immediately_is_timetag_one_on_the_wire() -> None:
    data = encode_bundle([Tension(value=0.5)], None)
    assert data[:8] == b"#bundle\x00"
    assert data[8:16] == struct.pack(">Q", IMMEDIATELY) == b"\x00" * 7 + b"\x01"
    # python-osc's own parser reads it as its "immediately" marker.
    assert osc_bundle.OscBundle(data).timestamp == osc_types.IMMEDIATELY
    assert decode_packet(data) == Bundle(timetag=None, messages=(Tension(value=0.5),))


def test_python_osc_reads_our_timetag() -> None:
    t = 1_893_456_000.123456
    parsed = osc_bundle.OscBundle(encode_bundle([Play(), Stop()], t))
    assert parsed.timestamp == pytest.approx(t, abs=1e-6)
    assert [m.address for m in parsed] == ["/metal/play", "/metal/stop"]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -2_208_988_800.0, 2.0**40])
def test_timetags_outside_ntp_range_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="time"):
        unix_to_ntp(bad)
    with pytest.raises(ValueError, match="time"):
        encode_bundle([Play()], bad)


# --- what clients send ---------------------------------------------------------------------


def build(address: str, *args: tuple[object, str]) -> bytes:
    builder = osc_message_builder.OscMessageBuilder(address=address)
    for value, tag in args:
        builder.add_arg(value, tag)  # type: ignore[arg-type]
    return builder.build().dgram


def test_int_is_accepted_where_float_is_expected() -> None:
    assert decode(build("/metal/tempo", (120, "i"))) == Tempo(bpm=120.0)
    assert decode(build("/metal/tension", (1, "h"))) == Tension(value=1.0)
    assert decode(build("/metal/tension", (0.25, "d"))) == Tension(value=0.25)


def test_whole_float_is_accepted_where_int_is_expected() -> None:
    assert decode(build("/metal/interpolate", ("boss", "s"), (16.0, "f"))) == Interpolate(
        scene="boss", bars=16
    )
    with pytest.raises(ProtocolError, match="bars must be a whole number"):
        decode(build("/metal/interpolate", ("boss", "s"), (16.5, "f")))


@pytest.mark.parametrize(
    ("arg", "muted"),
    [
        ((1, "i"), True),
        ((0, "i"), False),
        ((True, "T"), True),
        ((False, "F"), False),
        ((1.0, "f"), True),
        ((0.0, "f"), False),
    ],
)
def test_booleans_from_ints_floats_and_true_false_tags(
    arg: tuple[object, str], muted: bool
) -> None:
    assert decode(build("/metal/mute", ("drums", "s"), arg)) == Mute(
        instrument="drums", muted=muted
    )


def test_subscribe_port_zero_means_source_port() -> None:
    assert decode(build("/metal/subscribe", (0, "i"))) == Subscribe(port=None)
    assert decode(build("/metal/subscribe", (0, "i"), ("immediate", "s"))) == Subscribe(
        mode="immediate"
    )
    assert encode(Subscribe(mode="immediate")) == build(
        "/metal/subscribe", (0, "i"), ("immediate", "s")
    )


def test_message_without_type_tag_string_has_no_arguments() -> None:
    # OSC 1.0 allows omitting the type tag string altogether; old clients do.
    assert decode(b"/metal/play\x00") == Play()


def test_trailing_defaults_are_left_out() -> None:
    assert encode(Interpolate(scene="boss")) == build("/metal/interpolate", ("boss", "s"))
    assert encode(Interpolate(scene="boss", bars=16)) == build(
        "/metal/interpolate", ("boss", "s"), (16, "i")
    )
    assert encode(Subscribe()) == build("/metal/subscribe")


def test_ping_arguments_come_back_with_their_tags() -> None:
    ping = decode(build("/metal/ping", (7, "i"), (0.5, "f"), (0.1, "d"), ("hi", "s")))
    assert ping == Ping(args=(7, 0.5, 0.1, "hi"))
    assert isinstance(ping, Ping)
    pong = Pong(args=ping.args, server_time=1_893_456_000.123)
    assert encode(pong) == build(
        "/metal/pong",
        (7, "i"),
        (0.5, "f"),
        (0.1, "d"),
        ("hi", "s"),
        (1_893_456_000.123, "d"),
    )
    assert decode_outgoing(encode(pong)) == pong


PING_ARGS = [
    (7, "i"),
    (-(2**31), "i"),
    (5, "h"),  # would fit an `i`: still comes back as `h`
    (-1, "h"),
    (2**40, "h"),
    (0.5, "f"),
    (-0.0, "f"),
    (1e-45, "f"),  # the smallest float32 subnormal
    (float("inf"), "f"),
    (float("-inf"), "f"),
    (float("nan"), "f"),
    (0.5, "d"),  # would fit an `f`: still comes back as `d`
    (1.0, "d"),
    (0.1, "d"),
    (float("inf"), "d"),
    (float("nan"), "d"),
    (-0.0, "d"),
    ("", "s"),
    ("héllo wörld", "s"),
    (True, "T"),
    (False, "F"),
]


@pytest.mark.parametrize(("value", "tag"), PING_ARGS, ids=[f"{t}:{v!r}" for v, t in PING_ARGS])
def test_a_ping_argument_comes_back_with_its_tag_whatever_its_value(
    value: object, tag: str
) -> None:
    ping = decode(build("/metal/ping", (value, tag)))
    assert isinstance(ping, Ping)
    pong = Pong(args=ping.args, server_time=1_893_456_000.5)
    assert encode(pong) == build("/metal/pong", (value, tag), (1_893_456_000.5, "d"))


ping_wire_args = st.lists(
    st.tuples(st.integers(-(2**31), 2**31 - 1), st.just("i"))
    | st.tuples(st.integers(-(2**63), 2**63 - 1), st.just("h"))
    | st.tuples(st.floats(width=32), st.just("f"))
    | st.tuples(st.floats(), st.just("d"))
    | st.tuples(osc_text, st.just("s"))
    | st.tuples(st.booleans(), st.booleans()).map(lambda b: (b[0], "T" if b[0] else "F")),
    max_size=8,
)


@given(ping_wire_args)
def test_every_ping_comes_back_byte_for_byte(args: list[tuple[object, str]]) -> None:
    ping = decode(build("/metal/ping", *args))
    assert isinstance(ping, Ping)
    pong = encode(Pong(args=ping.args, server_time=0.25))
    assert pong == build("/metal/pong", *args, (0.25, "d"))


def test_ping_arguments_keep_their_class_and_compare_as_their_values() -> None:
    ping = decode(build("/metal/ping", (3, "h"), (0.5, "d"), (0.5, "f"), (True, "T")))
    assert isinstance(ping, Ping)
    assert [type(a) for a in ping.args] == [Int64, Double, float, bool]
    assert ping == Ping(args=(3, 0.5, 0.5, True))
    assert Ping(args=(Int64(3), Double(0.5))).args == (3, 0.5)
    with pytest.raises(ValidationError):
        Ping(args=(2**63,))
    with pytest.raises(ValidationError):
        Ping(args=("a\x00b",))
    with pytest.raises(ValidationError):
        Ping(args=(b"bytes",))  # type: ignore[arg-type]


def test_error_reads_its_bad_address() -> None:
    error = Error(refused_address="/metal/nope", reason="unknown address")
    assert error.refused_address == "/metal/nope"
    assert type(error).address == "/metal/error"
    assert encode(error) == build("/metal/error", ("/metal/nope", "s"), ("unknown address", "s"))


def test_every_state_field_names_a_state_field_the_message_sets() -> None:
    """Surfaces and OSCQuery read a control's value from /metal/state by `state_field`."""
    from metalosc.protocol import INSTRUMENTS, MESSAGE_TYPES, State

    reflected = [cls for cls in MESSAGE_TYPES if cls.state_field is not None]
    assert {cls.address for cls in reflected} >= {"/metal/tension", "/metal/tempo", "/metal/mute"}
    for cls in reflected:
        assert cls.direction == "in"
        assert cls.state_field is not None
        if "{instrument}" in cls.state_field:
            names = [cls.state_field.format(instrument=i) for i in INSTRUMENTS]
        else:
            names = [cls.state_field]
        assert set(names) <= set(State.model_fields), cls
