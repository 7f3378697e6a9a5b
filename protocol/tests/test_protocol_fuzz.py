"""Fuzz: hostile packets through every decoder raise ProtocolError and nothing else.

A seeded loop (deterministic, ~100k packets in a few seconds) rather than hypothesis, because the
point is volume: valid encodings are mutated the ways UDP and bad clients mangle them (bit
flips, truncation, insertion, overwritten size and length words, spliced packets) and mixed with
random bytes, some behind a plausible `/metal/` or `#bundle` prefix.
"""

from __future__ import annotations

import logging
import random
import struct
from collections import Counter
from collections.abc import Callable

import pytest
from metalosc.protocol import (
    Beat,
    Error,
    Interpolate,
    Message,
    Mute,
    Note,
    PhraseStarted,
    Ping,
    Play,
    Pong,
    ProtocolError,
    SceneSave,
    State,
    StateRequest,
    Subscribe,
    Temperature,
    Tempo,
    Tension,
    Unsubscribe,
    decode,
    decode_outgoing,
    decode_packet,
    encode,
    encode_bundle,
)

PACKETS = 100_000
SEED = 20261125

SEED_MESSAGES: list[Message] = [
    Subscribe(),
    Subscribe(port=9001, mode="immediate"),
    Unsubscribe(),
    Tension(value=0.75),
    Tempo(bpm=180.0),
    Interpolate(scene="boss_fight", bars=16),
    SceneSave(name="calm-1"),
    Play(),
    Mute(instrument="bass", muted=True),
    Temperature(value=0.9),
    Ping(args=(1, 2.5, "x", 0.1, 2**40)),
    StateRequest(),
    Note(instrument="drums", pitch=36, velocity=110, duration_s=0.125, beat=12.5),
    Beat(bar=3, beat=2),
    PhraseStarted(instrument="guitar", id=17, tension=0.5),
    Pong(args=(1, "x"), server_time=1_893_456_000.5),
    State(
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
    ),
    Error(refused_address="/metal/x", reason="unknown address"),
]
INTERESTING_WORDS = [0, 1, 3, 4, -1, -4, 2**31 - 1, -(2**31), 0x7F7F7F7F, 64, 1_000_000]


def seeds() -> list[bytes]:
    packets = [encode(m) for m in SEED_MESSAGES]
    packets.append(encode_bundle(SEED_MESSAGES[:6], None))
    packets.append(encode_bundle(SEED_MESSAGES[12:15], 1_893_456_000.25))
    packets.append(encode_bundle([], 1_893_456_000.0))
    return packets


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(8)
        if op == 0 and buf:  # bit flips
            for _ in range(rng.randint(1, 4)):
                i = rng.randrange(len(buf))
                buf[i] ^= 1 << rng.randrange(8)
        elif op == 1:  # truncation
            del buf[rng.randint(0, len(buf)) :]
        elif op == 2:  # insertion of random bytes
            i = rng.randint(0, len(buf))
            buf[i:i] = rng.randbytes(rng.randint(1, 8))
        elif op == 3 and len(buf) >= 4:  # overwrite an aligned word (sizes, ints, lengths)
            i = rng.randrange(len(buf) // 4) * 4
            buf[i : i + 4] = struct.pack(">i", rng.choice(INTERESTING_WORDS))
        elif op == 4 and buf:  # deletion of a slice
            i = rng.randrange(len(buf))
            del buf[i : i + rng.randint(1, 8)]
        elif op == 5:  # splice with another packet
            other = rng.choice(pool)
            buf = buf[: rng.randint(0, len(buf))] + bytearray(other[rng.randint(0, len(other)) :])
        elif op == 6 and buf:  # type tag swaps
            i = rng.randrange(len(buf))
            buf[i] = ord(rng.choice("ifsdhbTFN[]mrtc,"))
        elif op == 7:  # duplicate a chunk
            i = rng.randint(0, len(buf))
            buf[i:i] = buf[i : i + rng.randint(1, 16)]
    return bytes(buf)


def random_packet(rng: random.Random) -> bytes:
    prefix = rng.choice([b"", b"/metal/", b"/metal/tension\x00\x00,", b"#bundle\x00"])
    return prefix + rng.randbytes(rng.randint(0, 64))


DECODERS: list[Callable[[bytes], object]] = [
    decode,
    decode_outgoing,
    decode_packet,
    lambda data: decode_packet(data, outgoing=True),
]


@pytest.mark.timeout(120)
def test_fuzzed_packets_raise_only_protocol_error(caplog: pytest.LogCaptureFixture) -> None:
    rng = random.Random(SEED)
    pool = seeds()
    outcomes: Counter[str] = Counter()
    with caplog.at_level(logging.DEBUG):
        for n in range(PACKETS):
            data = random_packet(rng) if n % 5 == 0 else mutate(rng, rng.choice(pool), pool)
            decoder = DECODERS[n % len(DECODERS)]
            reason: str | None = None
            try:
                decoder(data)
            except ProtocolError as e:  # anything else propagates and fails the test
                reason = e.reason
            if reason is None:
                outcomes["decoded"] += 1
            else:
                assert 0 < len(reason) <= 120, reason
                outcomes[reason.split(" ")[0]] += 1

    assert sum(outcomes.values()) == PACKETS
    # The mutations reach past the framing checks: some packets still decode, and the refusals
    # come from many different checks.
    assert outcomes["decoded"] > PACKETS // 200
    assert len(outcomes) >= 8, outcomes
    # python-osc logs warnings for tags it skips; none may reach it.
    assert caplog.records == []
