"""Grammar-aware hostile packets, drawn by hypothesis from the OSC address space itself.

Every client → server address (read from the protocol's message classes, so a new address is
covered the day it exists) with arguments of the wrong types and counts, out-of-range values,
address patterns, strings without their terminator, bundles that are truncated, nested, claim
huge element sizes or hold hostile elements, and plain random bytes. These seed the
coverage-guided fuzzer (:mod:`._fuzz`), whose libFuzzer mutator takes them further, and make the
malformed half of the amplification probe.
"""

from __future__ import annotations

import struct

from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from metalosc.protocol import INCOMING, Bundle, Message, ProtocolError, decode_packet
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

__all__ = ["accepted_messages", "client_addresses", "hostile_packets", "packet_strategy"]


def accepted_messages(packet: bytes) -> tuple[Message, ...]:
    """The messages the daemon would apply for ``packet`` (none when it refuses the packet)."""
    try:
        decoded = decode_packet(packet)
    except ProtocolError:
        return ()
    return tuple(decoded.messages) if isinstance(decoded, Bundle) else (decoded,)


def client_addresses() -> list[str]:
    """Every client → server address of the protocol."""
    return sorted(INCOMING)


def _argument() -> st.SearchStrategy[tuple[object, str]]:
    return st.one_of(
        st.tuples(st.integers(-(2**31), 2**31 - 1), st.just("i")),
        st.tuples(st.integers(-(2**63), 2**63 - 1), st.just("h")),
        st.tuples(st.floats(width=32), st.just("f")),
        st.tuples(st.floats(), st.just("d")),
        st.tuples(st.text(max_size=48), st.just("s")),
        st.tuples(st.binary(max_size=32), st.just("b")),
        st.tuples(st.booleans(), st.sampled_from("TF")),
        st.tuples(st.just(None), st.just("N")),
    )


_WILDCARDS = ("?", "*", "[a-z]", "{tension,tempo}", "[!x]")


@st.composite
def _address(draw: st.DrawFn, addresses: list[str]) -> str:
    address = draw(st.sampled_from(addresses))
    how = draw(st.integers(0, 3))
    if how == 2:  # an address pattern: its tail replaced by wildcards
        wild = draw(st.sampled_from(_WILDCARDS))
        return address[: -len(wild)] + wild
    if how == 3:  # a made-up address under /metal/
        return "/metal/" + draw(st.text(min_size=1, max_size=24))
    return address


@st.composite
def _message(draw: st.DrawFn, addresses: list[str]) -> bytes:
    builder = OscMessageBuilder(address=draw(_address(addresses)))
    for value, tag in draw(st.lists(_argument(), max_size=6)):
        try:
            builder.add_arg(value, tag)  # type: ignore[arg-type]
        except Exception:
            continue
    try:
        return builder.build().dgram
    except Exception:
        return draw(st.binary(max_size=64))


@st.composite
def _bundle(draw: st.DrawFn, addresses: list[str]) -> bytes:
    builder = OscBundleBuilder(IMMEDIATELY)
    data = builder.build().dgram
    elements = draw(st.lists(_message(addresses), max_size=4))
    body = b"".join(struct.pack(">i", len(e)) + e for e in elements)
    timetag = draw(st.one_of(st.just(data[8:16]), st.binary(min_size=8, max_size=8)))
    packet = b"#bundle\x00" + timetag + body
    how = draw(st.sampled_from(["whole", "truncated", "huge size", "nested", "negative size"]))
    if how == "truncated" and packet:
        packet = packet[: draw(st.integers(0, len(packet) - 1))]
    elif how == "huge size":
        packet = b"#bundle\x00" + timetag + struct.pack(">i", 2**31 - 1) + body
    elif how == "negative size":
        packet = b"#bundle\x00" + timetag + struct.pack(">i", -8) + body
    elif how == "nested":
        packet = b"#bundle\x00" + timetag + struct.pack(">i", len(packet)) + packet
    return packet


def packet_strategy() -> st.SearchStrategy[bytes]:
    """One hostile packet: a message (maybe with a pattern, wrong types, wrong counts), a
    mangled bundle, a message cut short, or random bytes."""
    addresses = client_addresses()
    message = _message(addresses)
    return st.one_of(message, message, _bundle(addresses), _cut(message), st.binary(max_size=96))


@st.composite
def _cut(draw: st.DrawFn, packets: st.SearchStrategy[bytes]) -> bytes:
    packet = draw(packets)
    return packet[: draw(st.integers(0, max(0, len(packet) - 1)))]


def hostile_packets(n: int, seed: int = 0) -> list[bytes]:
    """``n`` packets from :func:`packet_strategy` (deterministic for a ``seed``)."""
    out: list[bytes] = []

    @settings(
        max_examples=n,
        database=None,
        phases=[Phase.generate],
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(packet_strategy())
    def collect(packet: bytes) -> None:
        out.append(packet)

    collect._hypothesis_internal_use_seed = seed  # type: ignore[attr-defined]
    collect()
    return out[:n]
