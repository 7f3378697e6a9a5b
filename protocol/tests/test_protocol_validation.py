"""Bad input: every kind of refusal is a ProtocolError whose reason a person can act on.

Reasons go back to clients in `/metal/error s address s reason`, so each case checks the words
of the reason, not only the exception type.
"""

from __future__ import annotations

import struct

import pytest
from metalosc.protocol import (
    Interpolate,
    Mute,
    Play,
    ProtocolError,
    SceneSave,
    Stop,
    Tempo,
    Tension,
    decode,
    decode_packet,
    encode,
    encode_bundle,
)
from pydantic import ValidationError
from pythonosc import osc_message_builder


def build(address: str, *args: tuple[object, str]) -> bytes:
    builder = osc_message_builder.OscMessageBuilder(address=address)
    for value, tag in args:
        builder.add_arg(value, tag)  # type: ignore[arg-type]
    return builder.build().dgram


def bundle(*elements: bytes, timetag: int = 1) -> bytes:
    body = b"".join(struct.pack(">i", len(e)) + e for e in elements)
    return b"#bundle\x00" + struct.pack(">Q", timetag) + body


CASES = [
    # out of range
    ("tension above 1", build("/metal/tension", (1.5, "f")), "value 1.5 out of range (0..1)"),
    ("tension below 0", build("/metal/tension", (-0.5, "f")), "out of range (0..1)"),
    ("tension NaN", build("/metal/tension", (float("nan"), "f")), "out of range"),
    ("tempo too slow", build("/metal/tempo", (39.0, "f")), "bpm 39.0 out of range (40..320)"),
    ("tempo too fast", build("/metal/tempo", (321, "i")), "bpm 321.0 out of range (40..320)"),
    ("temperature", build("/metal/temperature", (0.01, "f")), "out of range (0.05..2)"),
    ("odd bars", build("/metal/interpolate", ("boss", "s"), (3, "i")), "bars 3 out of range"),
    ("too many bars", build("/metal/interpolate", ("a", "s"), (66, "i")), "(even, 2..64)"),
    ("port", build("/metal/subscribe", (70000, "i")), "port 70000 out of range"),
    ("mute 2", build("/metal/mute", ("bass", "s"), (2, "i")), "muted must be 0 or 1, got 2"),
    # names
    ("instrument", build("/metal/mute", ("piano", "s"), (1, "i")), "invalid instrument 'piano'"),
    ("mode", build("/metal/subscribe", (9001, "i"), ("fast", "s")), "invalid mode 'fast'"),
    ("empty scene", build("/metal/scene/save", ("", "s")), "invalid name ''"),
    ("scene space", build("/metal/scene/save", ("boss fight", "s")), "1..32 chars of"),
    ("scene path", build("/metal/interpolate", ("../etc", "s")), "invalid scene '../etc'"),
    ("scene unicode", build("/metal/scene/save", ("bossé", "s")), "invalid name"),
    ("scene too long", build("/metal/scene/save", ("x" * 33, "s")), "invalid name"),
    # types and counts: a wrong type's reason lists the tags accepted, never a Python repr
    (
        "string for float",
        build("/metal/tempo", ("fast", "s")),
        "wrong type tag s for bpm: expected one of i, h, f, d",
    ),
    (
        "float for string",
        build("/metal/scene/save", (1.0, "f")),
        "wrong type tag f for name: expected one of s",
    ),
    (
        "true for float",
        build("/metal/tension", (True, "T")),
        "wrong type tag T for value: expected one of i, h, f, d",
    ),
    (
        "string for bool",
        build("/metal/mute", ("bass", "s"), ("yes", "s")),
        "wrong type tag s for muted: expected one of i, h, f, d, T, F",
    ),
    (
        "float for instrument",
        build("/metal/mute", (1.0, "f"), (1, "i")),
        "wrong type tag f for instrument: expected one of s",
    ),
    (
        "unprintable tag",
        b"/metal/tension\x00\x00,\x01\x00\x00\x00\x00\x00\x00",
        "wrong type tag U+0001 for value: expected one of i, h, f, d",
    ),
    (
        "blob",
        build("/metal/ping", (b"xx", "b")),
        "wrong type tag b for args: expected one of i, h, f, d, s, T, F",
    ),
    (
        "nil",
        build("/metal/tension", (None, "N")),
        "wrong type tag N for value: expected one of i, h, f, d",
    ),
    ("missing arg", build("/metal/tension"), "wrong argument count 0, expected f value"),
    ("extra arg", build("/metal/play", (1, "i")), "wrong argument count 1"),
    ("fraction for int", build("/metal/interpolate", ("a", "s"), (2.5, "f")), "whole number"),
    # framing
    ("unknown address", build("/metal/volume", (1.0, "f")), "unknown address"),
    ("empty", b"", "empty packet"),
    ("not osc", b"hello world\x00", "not an OSC message"),
    ("truncated float", build("/metal/tension", (0.5, "f"))[:-2], "truncated packet"),
    ("truncated string", build("/metal/scene/save", ("boss", "s"))[:-4], "truncated packet"),
    # a malformed address says so, never "unknown address"
    ("no address end", b"/metal/tension", "malformed address: no NUL at its end"),
    (
        "NUL forgotten before the tags",
        b"/metal/tension,f\x00\x00\x00\x00" + struct.pack(">f", 0.5),
        "malformed address",
    ),
    (
        "NUL forgotten, tags padded to fit",
        b"/metal/tempo,f\x00\x00" + struct.pack(">f", 120.0),
        "malformed address",
    ),
    (
        "garbage in the padding",
        b"/metal/tension\x00X,f\x00\x00" + struct.pack(">f", 0.5),
        "malformed address: padding is not NUL bytes",
    ),
    (
        "no padding",
        b"/metal/tension\x00,f\x00\x00" + struct.pack(">f", 0.5),
        "malformed address: padding is not NUL bytes",
    ),
    (
        "padding cut off",
        b"/metal/tension\x00",
        "malformed address: padding cut off",
    ),
    ("space in the address", build("/metal/ten sion", (0.5, "f")), "malformed address"),
    ("control character", build("/metal/tension\x7f", (0.5, "f")), "malformed address"),
    (
        "garbage in the tags' padding",
        b"/metal/tension\x00\x00,f\x00Z" + struct.pack(">f", 0.5),
        "malformed type tags: padding is not NUL bytes",
    ),
    (
        "garbage in a string's padding",
        b"/metal/scene/save\x00\x00\x00,s\x00\x00boss\x00\x00\x07\x00",
        "malformed string argument: padding is not NUL bytes",
    ),
    ("trailing bytes", build("/metal/play") + b"\x00" * 4, "trailing bytes"),
    ("bad tag string", b"/metal/play\x00xyz\x00", "malformed type tags"),
    ("bad utf-8", b"/metal/scene/save\x00\x00\x00,s\x00\x00\xff\xfe\x00\x00", "not valid UTF-8"),
    ("bundle to decode", encode_bundle([Play()], None), "expected a message, got a bundle"),
]


@pytest.mark.parametrize(("data", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_message_is_refused_with_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode(data)
    assert reason in caught.value.reason
    assert len(caught.value.reason) <= 100
    if not data.startswith(b"#bundle"):  # the packet entry point refuses it the same way
        with pytest.raises(ProtocolError) as again:
            decode_packet(data)
        assert again.value.reason == caught.value.reason


def test_reason_names_the_address() -> None:
    with pytest.raises(ProtocolError) as caught:
        decode(build("/metal/tempo", (400.0, "f")))
    assert caught.value.address == "/metal/tempo"
    assert str(caught.value) == "/metal/tempo: bpm 400.0 out of range (40..320)"


def test_untrusted_address_is_shortened() -> None:
    with pytest.raises(ProtocolError) as caught:
        decode(build("/" + "x" * 500))
    assert caught.value.reason == "unknown address"
    assert caught.value.address is not None
    assert len(caught.value.address) == 64
    assert caught.value.address.endswith("…")


BUNDLE_CASES = [
    ("short header", b"#bundle\x00\x00\x00", "truncated packet"),
    (
        "negative size",
        bundle(encode(Play()))[:16] + struct.pack(">i", -4),
        "bundle element 0: bad size -4",
    ),
    ("unaligned size", bundle(encode(Play()))[:16] + struct.pack(">i", 3) + b"/a\x00", "size 3"),
    ("size past end", bundle(encode(Play()))[:-4], "truncated packet"),
    ("half a size", bundle(encode(Play())) + b"\x00\x00", "truncated packet"),
    ("nested", bundle(bundle(encode(Play()))), "nested bundles are not supported"),
    ("not a message", bundle(b"abcd"), "not an OSC message"),
    ("bad element", bundle(build("/metal/tension", (3.0, "f"))), "out of range"),
    # all or nothing: the reason names the first element refused, by its index from 0
    (
        "second element out of range",
        bundle(encode(Play()), build("/metal/tension", (3.0, "f")), encode(Stop())),
        "bundle element 1: value 3.0 out of range (0..1)",
    ),
    (
        "third element of a wrong type",
        bundle(encode(Play()), encode(Play()), build("/metal/tempo", ("x", "s"))),
        "bundle element 2: wrong type tag s for bpm: expected one of i, h, f, d",
    ),
    (
        "unknown address in element 1",
        bundle(encode(Play()), build("/metal/volume", (1.0, "f"))),
        "bundle element 1: unknown address",
    ),
    (
        "malformed element 1",
        bundle(encode(Play()), b"/metal/play,\x00\x00\x00\x00"),
        "bundle element 1: malformed address",
    ),
    (
        "bad size of element 2",
        bundle(encode(Play()), encode(Stop()))[:-20] + struct.pack(">i", 6) + b"/ab\x00\x00\x00",
        "bundle element 1: bad size 6",
    ),
    (
        "pattern element naming an address that refuses",
        bundle(encode(Play()), build("/metal/{tension,tempo}", (0.7, "f"))),
        "bundle element 1: /metal/tempo: bpm",
    ),
]


@pytest.mark.timeout(5)  # python-osc alone loops forever on a negative element size
@pytest.mark.parametrize(
    ("data", "reason"), [c[1:] for c in BUNDLE_CASES], ids=[c[0] for c in BUNDLE_CASES]
)
def test_bad_bundle_is_refused_with_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        decode_packet(data)
    assert reason in caught.value.reason


def test_a_refused_bundle_element_names_its_own_address() -> None:
    data = bundle(encode(Play()), build("/metal/tempo", (500.0, "f")))
    with pytest.raises(ProtocolError) as caught:
        decode_packet(data)
    assert caught.value.address == "/metal/tempo"
    assert caught.value.reason == "bundle element 1: bpm 500.0 out of range (40..320)"


@pytest.mark.parametrize("tags", ["N", "I", "NI"])
def test_nil_and_impulse_bang_a_method_of_no_arguments(tags: str) -> None:
    """OSCQuery tools send a nil or an impulse to a method declared with TYPE "N"."""
    tag_string = f",{tags}".encode()
    tag_string += b"\x00" * (4 - len(tag_string) % 4)
    data = b"/metal/play\x00" + tag_string  # neither tag has bytes of its own
    assert decode(data) == Play()
    with pytest.raises(ProtocolError, match="wrong type tag N for value"):
        decode(build("/metal/tension", (None, "N")))


def test_values_are_validated_where_messages_are_built() -> None:
    with pytest.raises(ValidationError):
        Tension(value=1.5)
    with pytest.raises(ValidationError):
        Tempo(bpm=float("inf"))
    with pytest.raises(ValidationError):
        Interpolate(scene="boss", bars=7)
    with pytest.raises(ValidationError):
        SceneSave(name="a/b")
    with pytest.raises(ValidationError):
        Mute(instrument="piano", muted=True)  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Tension(value="0.5")  # type: ignore[arg-type]  # strict: no str -> float coercion
    with pytest.raises(ValidationError):
        Tension(value=0.5, extra=1)  # type: ignore[call-arg]


def test_messages_are_frozen() -> None:
    tension = Tension(value=0.5)
    with pytest.raises(ValidationError):
        tension.value = 0.7  # type: ignore[misc]
    assert hash(tension) == hash(Tension(value=0.5))
