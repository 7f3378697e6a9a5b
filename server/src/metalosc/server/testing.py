"""Test support for code that embeds or talks to the daemon, like ``trio.testing``.

* :class:`FakeModel` — an instant, deterministic stand-in for an
  :class:`~metalosc.runtime.InstrumentModel`: a latent's first component decides how many notes
  its phrase has (8 + 4·z₀, clipped to 1..16), so "more intense" is known exactly.
* :func:`fake_analysis` — measures that count notes (intensity = note count).
* :class:`FakeModelFactory` — a picklable :class:`~metalosc.server.ModelFactory` of a fake model,
  for worker processes (it can also fail to load, crash or hang on cue).
* :class:`FakeModelSource` — an :data:`~metalosc.server.ExecutorSource` of fake models in this
  process, recording every set it opened (a reload opens another) and failing on request.
* :class:`FakeProcessSource` — the same in worker processes (as the daemon runs its models), so
  a worker can be killed, crashed or hung for real.
* :class:`UdpClient` — a game as far as the daemon can tell: one UDP socket, typed messages.
* :func:`slots_heard` — what a subscriber heard, rebuilt per 2-bar slot from its bundles.
* :func:`validate_oscquery`, :func:`validate_host_info` — OSCQuery JSON checked against the
  Vidvox OSCQuery proposal.
* :data:`FAST_SETTINGS` — settings for a daemon under test that plays fast on fake models.
* :func:`open_server` — ``serve`` started in a nursery (``nursery.start(partial(serve, …))``),
  yielding the :class:`~metalosc.server.RunningServer` once it is ready.

Everything here is importable in a spawned worker process (no pytest, no fixtures).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt
import trio
from metalosc.protocol import (
    INSTRUMENTS,
    Beat,
    Bundle,
    Instrument,
    Message,
    ModelBundleError,
    Note,
    PhraseStarted,
    State,
    decode_packet,
    encode,
)
from metalosc.runtime import PHRASE_STEPS

from ._app import RunningServer, serve
from ._runner import Executor, PhraseAnalysis, ThreadExecutor
from ._settings import Settings
from ._worker import start_process_executors

__all__ = [
    "EXIT_TEMPERATURE",
    "FAST_SETTINGS",
    "RAISE_TEMPERATURE",
    "SLOT_BEATS",
    "SLOW_TEMPERATURE",
    "Z_SIZE",
    "FakeModel",
    "FakeModelFactory",
    "FakeModelSource",
    "FakeProcessSource",
    "SlotHeard",
    "UdpClient",
    "fake_analysis",
    "fake_chords",
    "fake_sequence",
    "fewer_notes_fit",
    "neutral_fit",
    "open_server",
    "slots_heard",
    "validate_host_info",
    "validate_oscquery",
]

Z_SIZE = 4
"""Latent size of the fake models."""
FAST_SETTINGS: Mapping[str, Any] = {
    "port": 0,
    "bpm": 300.0,
    "buffer_depth": 4,
    "batch_size": 4,
    "lookahead": 0.1,
    "seed": 1,
}
"""``Settings`` fields for a daemon under test on fake models: a free port, a fast beat (300 BPM),
shallow buffers and small batches, a short look-ahead, a fixed seed."""
MINOR_PENTATONIC = (0, 3, 5, 7, 10)
EXIT_TEMPERATURE = 0.123
"""Decoding at this temperature kills the process (a worker crashing mid-decode); like the other
cues, it also works sent as ``/metal/temperature`` (a 32-bit float)."""
SLOW_TEMPERATURE = 0.456
"""Decoding at this temperature takes 30 s (a worker that hangs)."""
RAISE_TEMPERATURE = 0.789
"""Decoding at this temperature raises ``RuntimeError`` (a model that fails, not a refusal)."""


def fake_sequence(n_notes: int, pitch: int = 40) -> SimpleNamespace:
    """A duck-typed quantized NoteSequence: ``n_notes`` sixteenths spread evenly over the two
    bars (``32 // n_notes`` steps apart), pitches cycling over the minor pentatonic scale on
    ``pitch`` (E G A B D from 40: a riff in E minor, as the daemon's key fit wants one)."""
    spacing = PHRASE_STEPS // max(1, n_notes)
    notes = [
        SimpleNamespace(
            pitch=pitch + MINOR_PENTATONIC[k % len(MINOR_PENTATONIC)],
            velocity=100,
            quantized_start_step=spacing * k,
            quantized_end_step=spacing * k + 1,
            start_time=0.0,
            end_time=0.0,
            is_drum=False,
        )
        for k in range(n_notes)
    ]
    return SimpleNamespace(
        notes=notes, tempos=[], quantization_info=SimpleNamespace(steps_per_quarter=4)
    )


def fake_notes_for(z: npt.NDArray[Any]) -> int:
    """How many notes the fake models decode latent ``z`` (``[z_size]``) into."""
    return int(np.clip(8 + 4 * z[0], 1, 16))


class FakeModel:
    """An instant :class:`~metalosc.server.InstrumentModelLike`; records every decode
    (``decode_calls``: batch size, temperature, chords; ``decoded_z``: every latent, in order)
    and whether it was closed."""

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.z_size = Z_SIZE
        self.tension_vector = np.array([1.0, 0.0, 0.0, 0.0])
        # Fills lie along the tension direction too: a fake fill is a denser phrase.
        self.fill_vector = np.array([1.0, 0.0, 0.0, 0.0])
        self.decode_calls: list[tuple[int, float, list[str] | None]] = []
        self.decoded_z: list[npt.NDArray[np.float64]] = []
        self.closed = False

    def decode(
        self, z: npt.NDArray[Any], temperature: float = 1.0, chords: Sequence[str] | None = None
    ) -> list[Any]:
        """One fake phrase per row of ``z``; the bass refuses to decode without chords, like the
        chord-conditioned model."""
        if self.instrument == "bass" and chords is None:
            raise ValueError("the bass model needs chords")
        if _is(temperature, EXIT_TEMPERATURE):
            os._exit(3)
        if _is(temperature, SLOW_TEMPERATURE):
            time.sleep(30)
        if _is(temperature, RAISE_TEMPERATURE):
            raise RuntimeError("the fake model failed")
        self.decode_calls.append((len(z), temperature, None if chords is None else list(chords)))
        self.decoded_z.extend(np.array(row, dtype=np.float64) for row in z)
        return [fake_sequence(fake_notes_for(row)) for row in z]

    def close(self) -> None:
        self.closed = True


def _is(temperature: float, cue: float) -> bool:
    """Whether ``temperature`` is ``cue``, also after a trip through OSC's 32-bit floats."""
    return abs(temperature - cue) < 1e-6


def fake_chords(seq: Any) -> list[str]:
    """Two chords per phrase, by the parity of its note count."""
    return ["E5", "G5"] if len(seq.notes) % 2 else ["A5", "C5"]


def _count_notes(seq: Any, instrument: Instrument) -> float:
    return float(len(seq.notes))


def _density(seq: Any, instrument: Instrument) -> dict[str, float]:
    return {"note_density": len(seq.notes) / 2.0}


def neutral_fit(seq: Any, chords: Sequence[str]) -> float:
    """The same chord fit for every phrase: among bass candidates, tension alone decides."""
    return 0.5


def fewer_notes_fit(seq: Any, chords: Sequence[str]) -> float:
    """A chord fit of 1 / note count: a test can tell that (and where) the fit was measured."""
    return 1.0 / len(seq.notes) if seq.notes else 0.5


def fake_analysis(
    chord_fit: Callable[[Any, Sequence[str]], float] = neutral_fit,
) -> PhraseAnalysis:
    """Measures for fake phrases: intensity = note count, chords by :func:`fake_chords`, and
    ``chord_fit`` (module-level functions throughout: picklable into worker processes)."""
    return PhraseAnalysis(
        intensity=_count_notes, features=_density, chords=fake_chords, chord_fit=chord_fit
    )


@dataclass(frozen=True)
class FakeModelFactory:
    """A picklable :class:`~metalosc.server.ModelFactory` of a :class:`FakeModel` measured with
    :func:`fewer_notes_fit`; ``broken`` makes loading fail with a ``ModelBundleError`` naming
    that file."""

    instrument: Instrument
    broken: Path | None = None

    def load_model(self) -> FakeModel:
        if self.broken is not None:
            raise ModelBundleError(self.broken, "not JSON")
        return FakeModel(self.instrument)

    def load_analysis(self) -> PhraseAnalysis:
        """Fake measures, with the chord fit of :func:`fewer_notes_fit`."""
        return fake_analysis(fewer_notes_fit)


@dataclass
class FakeModelSource:
    """An executor source of fake models in this process. Every call opens fresh models for the
    instruments asked for (recorded in ``opened``); with ``fail_next`` set, the next call raises
    it instead."""

    analysis: PhraseAnalysis = field(default_factory=fake_analysis)
    opened: list[dict[Instrument, FakeModel]] = field(default_factory=list)
    fail_next: Exception | None = None

    async def __call__(
        self, instruments: Collection[Instrument] = INSTRUMENTS
    ) -> Mapping[Instrument, Executor]:
        if self.fail_next is not None:
            error, self.fail_next = self.fail_next, None
            raise error
        models = {i: FakeModel(i) for i in INSTRUMENTS if i in instruments}
        self.opened.append(models)
        return {i: ThreadExecutor(model, self.analysis) for i, model in models.items()}

    @property
    def models(self) -> dict[Instrument, FakeModel]:
        """The models opened last for each instrument."""
        latest: dict[Instrument, FakeModel] = {}
        for models in self.opened:
            latest.update(models)
        return latest


@dataclass
class FakeProcessSource:
    """An executor source of fake models, each in its own worker process (a
    :class:`~metalosc.server.ProcessExecutor` of a :class:`FakeModelFactory`). ``opened`` counts
    the calls (a start, a reload: three workers; a restart: one)."""

    opened: int = 0

    async def __call__(
        self, instruments: Collection[Instrument] = INSTRUMENTS
    ) -> Mapping[Instrument, Executor]:
        executors = await start_process_executors(
            {i: FakeModelFactory(i) for i in INSTRUMENTS if i in instruments}
        )
        self.opened += 1
        return executors


class UdpClient:
    """A game, as far as the daemon can tell: one UDP socket on 127.0.0.1, typed messages.

    Every bundle received is kept in ``bundles`` with its arrival (unix seconds)."""

    def __init__(self, sock: trio.socket.SocketType, server: tuple[str, int]) -> None:
        self.sock = sock
        self.server = server
        self.bundles: list[tuple[float, Bundle]] = []

    @classmethod
    @asynccontextmanager
    async def open(cls, server: tuple[str, int]) -> AsyncIterator[UdpClient]:
        """A client bound to a free loopback port, closed on exit."""
        sock = trio.socket.socket(trio.socket.AF_INET, trio.socket.SOCK_DGRAM)
        await sock.bind(("127.0.0.1", 0))
        with sock:
            yield cls(sock, server)

    @property
    def port(self) -> int:
        """The client's own UDP port."""
        return int(self.sock.getsockname()[1])

    async def send(self, message: Message | bytes) -> None:
        """Send a message (or raw bytes) to the daemon."""
        data = message if isinstance(message, bytes) else encode(message)
        await self.sock.sendto(data, self.server)

    async def receive(self) -> tuple[float, Message | Bundle]:
        """The next packet and its arrival time (unix seconds)."""
        data, _ = await self.sock.recvfrom(65536)
        arrived = time.time()
        packet = decode_packet(data, outgoing=True)
        if isinstance(packet, Bundle):
            self.bundles.append((arrived, packet))
        return arrived, packet

    async def expect(self, kind: type[Message], timeout: float = 30.0) -> Message:
        """The next message of class ``kind`` (others are skipped); ``trio.TooSlowError`` after
        ``timeout`` seconds."""
        with trio.fail_after(timeout):
            while True:
                _, packet = await self.receive()
                if isinstance(packet, kind):
                    return packet

    async def expect_state(self, timeout: float = 5.0, **expected: object) -> State:
        """The next ``/metal/state`` whose fields have the ``expected`` values (floats within
        32-bit precision); earlier ones and events are passed over."""
        with trio.fail_after(timeout):
            while True:
                _, packet = await self.receive()
                if isinstance(packet, State) and all(
                    _close(getattr(packet, name), value) for name, value in expected.items()
                ):
                    return packet

    async def slots(self, n: int, timeout: float = 10.0) -> list[SlotHeard]:
        """Receive until ``n`` slots were heard whole, first beat to last (a slot already under
        way is not counted); what was heard of them, in order."""
        bundles: list[Bundle] = []
        with trio.fail_after(timeout):
            while True:
                _, packet = await self.receive()
                if not isinstance(packet, Bundle):
                    continue
                bundles.append(packet)
                heard = slots_heard(bundles)
                if len(heard) > n:  # slot n + 1 started: slots 1..n are complete
                    return [heard[k] for k in sorted(heard)[:n]]

    async def phrases(self, n: int, timeout: float = 90.0) -> list[Bundle]:
        """Receive until ``n`` more phrases of every instrument started; their bundles."""
        seen = dict.fromkeys(INSTRUMENTS, 0)
        start = len(self.bundles)
        with trio.fail_after(timeout):
            while min(seen.values()) < n:
                _, packet = await self.receive()
                if isinstance(packet, Bundle):
                    for m in packet.messages:
                        if isinstance(m, PhraseStarted):
                            seen[m.instrument] += 1
        return [b for _, b in self.bundles[start:]]


def _close(actual: object, expected: object) -> bool:
    """Equal, floats within 32-bit precision (OSC's ``f``)."""
    if isinstance(actual, float) and isinstance(expected, float | int):
        return abs(actual - expected) <= 1e-6 * max(1.0, abs(expected))
    return actual == expected


@asynccontextmanager
async def open_server(settings: Settings, **kwargs: Any) -> AsyncIterator[RunningServer]:
    """``serve(settings, **kwargs)`` in a nursery of its own, yielding the running server once
    it is ready and stopping it (cancelled) on exit."""
    async with trio.open_nursery() as nursery:
        server: RunningServer = await nursery.start(partial(serve, settings, **kwargs))
        yield server
        nursery.cancel_scope.cancel()


SLOT_BEATS = 8
"""Beats in one slot: a 2-bar phrase."""


@dataclass
class SlotHeard:
    """The tension a slot's phrases were chosen for, their ids, and each instrument's notes."""

    tension: float
    ids: dict[Instrument, int] = field(default_factory=dict)
    notes: dict[Instrument, int] = field(default_factory=lambda: dict.fromkeys(INSTRUMENTS, 0))


def slots_heard(bundles: Iterable[Bundle]) -> dict[int, SlotHeard]:
    """The slots whose phrase starts are among ``bundles`` (notes of other slots are ignored)."""
    slots: dict[int, SlotHeard] = {}
    notes: dict[int, dict[Instrument, int]] = {}
    for bundle in bundles:
        beats = [m for m in bundle.messages if isinstance(m, Beat)]
        for message in bundle.messages:
            if isinstance(message, PhraseStarted):
                (beat,) = beats  # phrase starts ride on the slot's first beat
                index = (beat.bar * 4 + beat.beat) // SLOT_BEATS
                slot = slots.setdefault(index, SlotHeard(message.tension))
                slot.ids[message.instrument] = message.id
            elif isinstance(message, Note):
                per_slot = notes.setdefault(
                    int(message.beat // SLOT_BEATS), dict.fromkeys(INSTRUMENTS, 0)
                )
                per_slot[message.instrument] += 1
    for index, slot in slots.items():
        slot.notes = notes.get(index, slot.notes)
    return slots


# -- OSCQuery, as the proposal has it ----------------------------------------------------

OSC_TAGS = set("ifsbhtdScrmTFNI")
"""OSC 1.0 type tags, required and optional ones (the proposal's data-type table)."""
RANGE_KEYS = {"MIN", "MAX", "VALS"}
NODE_KEYS = {
    "FULL_PATH", "CONTENTS", "TYPE", "ACCESS", "VALUE", "RANGE", "DESCRIPTION", "TAGS",
    "EXTENDED_TYPE", "UNIT", "CRITICAL", "CLIPMODE", "OVERLOADS",
}  # fmt: skip
HOST_INFO_KEYS = {
    "NAME", "EXTENSIONS", "OSC_IP", "OSC_PORT", "OSC_TRANSPORT", "WS_IP", "WS_PORT",
}  # fmt: skip


def _value_tags(type_tags: str) -> list[str]:
    """The tags that take an item in VALUE/RANGE arrays (arrays themselves left out here)."""
    return [t for t in type_tags if t not in "[]"]


def _json_fits(tag: str, value: object) -> bool:
    """The proposal's table of JSON equivalents of OSC types."""
    if value is None:
        return True  # JSON null: the placeholder for a value not given (and for b, m, N, I)
    if tag in "ifhdt":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if tag in "sSc":
        return isinstance(value, str)
    if tag in "TF":
        return isinstance(value, bool)
    if tag == "r":
        return isinstance(value, str) and value.startswith("#")
    return False


def _validate_signature(node: dict[str, Any], where: str) -> None:
    """TYPE, and the arrays whose items follow it (VALUE, RANGE)."""
    tags = node["TYPE"]
    assert isinstance(tags, str), where
    assert set(tags) <= OSC_TAGS | set("[]"), f"{where}: bad type tags {tags!r}"
    items = _value_tags(tags)
    for attribute in ("VALUE", "RANGE", "UNIT", "EXTENDED_TYPE", "CLIPMODE"):
        if attribute not in node:
            continue
        value = node[attribute]
        if not isinstance(value, list):  # one value standing for all items is allowed
            continue
        assert len(value) == len(items), f"{where}: {attribute} has {len(value)} items for {tags}"
    for tag, item in zip(items, node.get("VALUE", []), strict=False):
        assert _json_fits(tag, item), f"{where}: VALUE {item!r} is not a JSON {tag}"
    for tag, item in zip(items, node.get("RANGE", []), strict=False):
        if item is None:
            continue
        assert isinstance(item, dict), f"{where}: RANGE items are objects or null"
        assert set(item) <= RANGE_KEYS, f"{where}: RANGE keys {set(item)}"
        for bound in ("MIN", "MAX"):
            if bound in item:
                assert _json_fits(tag, item[bound]), f"{where}: {bound} {item[bound]!r}"
        if "MIN" in item and "MAX" in item:
            assert item["MIN"] <= item["MAX"], where
        if "VALS" in item:
            assert isinstance(item["VALS"], list), where
            assert all(_json_fits(tag, v) for v in item["VALS"]), where


def validate_oscquery(node: dict[str, Any], path: str = "/") -> list[str]:
    """Checks an OSCQuery node (``GET /``'s JSON) and everything below it against the Vidvox
    OSCQuery proposal ("Core Functionality", "Optional Attributes", "Other notes on
    attributes"): FULL_PATH where the node is, containers with CONTENTS, methods with a TYPE
    of OSC tags, VALUE/RANGE arrays of one item per tag, JSON types per tag, RANGE objects of
    MIN/MAX/VALS, ACCESS 0-3 and a VALUE only where it may be read, OVERLOADS without
    CONTENTS. Raises ``AssertionError`` naming the node; returns the methods' full paths."""
    assert isinstance(node, dict), path
    assert set(node) <= NODE_KEYS, f"{path}: unknown attributes {set(node) - NODE_KEYS}"
    assert node["FULL_PATH"] == path, f"FULL_PATH {node['FULL_PATH']!r} at {path}"
    if "DESCRIPTION" in node:
        assert isinstance(node["DESCRIPTION"], str), path
    access = node.get("ACCESS", 3)
    assert access in (0, 1, 2, 3), path
    if "VALUE" in node:
        assert access & 1, f"{path}: a VALUE on a node that cannot be read"
    methods: list[str] = []
    if "CONTENTS" in node:
        assert isinstance(node["CONTENTS"], dict), path
        for name, child in node["CONTENTS"].items():
            assert name, f"{path}: a node without a name"
            assert "/" not in name, f"{path}: bad node name {name!r}"
            below = f"{path.rstrip('/')}/{name}"
            methods += validate_oscquery(child, below)
    if "TYPE" in node:
        _validate_signature(node, path)
        methods.append(path)
    else:
        assert "CONTENTS" in node, f"{path}: neither a container nor a method"
    for overload in node.get("OVERLOADS", []):
        assert isinstance(overload, dict), path
        assert "CONTENTS" not in overload, path
        _validate_signature(overload, f"{path} (overload)")
    return methods


def validate_host_info(info: dict[str, Any]) -> None:
    """Checks a ``?HOST_INFO`` answer: the proposal's keys only, NAME, OSC_PORT, OSC_TRANSPORT
    and EXTENSIONS of booleans. Raises ``AssertionError``."""
    assert set(info) <= HOST_INFO_KEYS, set(info) - HOST_INFO_KEYS
    assert isinstance(info["NAME"], str)
    assert isinstance(info["OSC_PORT"], int)
    assert 0 < info["OSC_PORT"] < 65536
    assert info["OSC_TRANSPORT"] in ("UDP", "TCP")
    assert all(isinstance(v, bool) for v in info["EXTENSIONS"].values())
