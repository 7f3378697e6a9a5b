"""The OSC address space as typed, validated messages.

This module is the single definition of MetalOSC's address space: every address is one frozen
pydantic class whose ClassVars give the address and direction and whose fields, in declaration
order, are the OSC arguments. The codec (`_codec`) and the documentation table (`_doctable`) both
read the registry built here (`message_spec`), so adding an address is adding one class.

Validation lives in the field types (ranges, names), so a message that exists is a message that
can be sent: the server never has to re-check a decoded value, and a bad value built in Python
fails where it is built rather than on the wire.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, ClassVar, Literal, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, StringConstraints

Instrument = Literal["guitar", "bass", "drums"]
INSTRUMENTS: tuple[Instrument, ...] = ("guitar", "bass", "drums")

Direction = Literal["in", "out"]
"""`in`: client -> server; `out`: server -> client."""

OscTag = Literal["i", "f", "d", "s"]
"""The OSC type tags MetalOSC itself sends."""

Transition = Literal["phrase", "bar", "section"]
"""Where a change lands, like Wwise's "next bar / next cue": at the next 2-bar phrase, at the next
bar line (the phrase in flight is cut after its first bar), or at the next section."""

KeyName = Literal[
    "C", "C#", "Db", "D", "D#", "Eb", "E", "F", "F#", "Gb", "G", "G#", "Ab", "A", "A#", "Bb", "B"
]  # fmt: skip
"""A tonal centre, spelled with a sharp or a flat; the key is its natural minor (E = E minor)."""
KEY_PITCH_CLASSES: Mapping[KeyName, int] = MappingProxyType(
    {
        "C": 0, "C#": 1, "Db": 1, "D": 2, "D#": 3, "Eb": 3, "E": 4, "F": 5, "F#": 6, "Gb": 6,
        "G": 7, "G#": 8, "Ab": 8, "A": 9, "A#": 10, "Bb": 10, "B": 11,
    }
)  # fmt: skip
"""The pitch class (0 = C) of every key spelling."""
KEY_NAMES: tuple[KeyName, ...] = (
    "C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"
)  # fmt: skip
"""The spelling the server reports for each pitch class: the way Metal charts spell keys."""

LABEL_MAX = 32
SectionLabel = Annotated[str, StringConstraints(max_length=LABEL_MAX, pattern=r"^[A-Za-z0-9_-]*$")]
"""A section's label for the game ("verse", "boss", …), "" when the daemon names it."""

SCENE_NAME_MAX = 32
_SCENE_PATTERN = r"^[A-Za-z0-9_-]+$"

SceneName = Annotated[
    str, StringConstraints(min_length=1, max_length=SCENE_NAME_MAX, pattern=_SCENE_PATTERN)
]
"""A scene name: short and safe to use as a file name or a TouchOSC label."""

OptionalSceneName = Annotated[
    str, StringConstraints(max_length=SCENE_NAME_MAX, pattern=r"^[A-Za-z0-9_-]*$")
]
"""A scene name or "" (none)."""

TEXT_PATTERN = r"^[^\x00]*$"
OscText = Annotated[str, StringConstraints(pattern=TEXT_PATTERN)]
"""Free text: anything an OSC string can carry (OSC strings end at the first NUL)."""

INT32_MAX = 2**31 - 1
FLOAT32_MAX = 3.4028234663852886e38
"""Upper bounds of otherwise unbounded `i` and `f` fields, so every valid message encodes."""

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class Int64(int):
    """An integer that travels as OSC ``h`` (64-bit) whatever its value.

    A ping's ``h`` argument decodes to one, so that /metal/pong sends it back as ``h`` even when
    it would fit an ``i``. Compares and computes like the int it is.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Int64({int(self)})"


class Double(float):
    """A float that travels as OSC ``d`` (64-bit) whatever its value.

    A ping's ``d`` argument decodes to one, so that /metal/pong sends it back as ``d`` even when
    its value would fit a 32-bit ``f``. Compares and computes like the float it is.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Double({float(self)!r})"


def _ping_arg(value: object) -> bool | int | float | str:
    """A ping argument as given (its class says its tag), or ValueError.

    Any float is echoed, NaN and infinities included: a ping is the client's own data.
    """
    if isinstance(value, bool | float):
        return value
    if isinstance(value, int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError("an integer argument must fit in 64 bits")
        return value
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("a string argument cannot hold NUL")
        return value
    raise ValueError(f"arguments are int, float, bool or str, not {type(value).__name__}")


PingArg = Annotated[bool | int | float | str, PlainValidator(_ping_arg)]
"""One argument of /metal/ping, echoed back in /metal/pong with the tag it came with: ``bool``
travels as ``T``/``F``, :class:`Int64` as ``h``, other ints as ``i`` (``h`` beyond 32 bits),
:class:`Double` as ``d``, other floats as ``f`` (``d`` when a 32-bit float cannot hold them),
``str`` as ``s``. Validation keeps the value's class, so a decoded ping's tags survive."""


@dataclasses.dataclass(frozen=True)
class Wire:
    """Field metadata for how one argument travels, where the Python type does not say it.

    `tag` overrides the tag derived from the type; `none_as` is the wire value standing for
    `None` (OSC has no portable "absent" for a positional argument that another one follows).
    """

    tag: OscTag | None = None
    none_as: int | None = None


class MessageBase(BaseModel):
    """Base of every message: frozen, strict (no "0.5" -> 0.5 coercion), finite floats only."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid", allow_inf_nan=False)

    address: ClassVar[str]
    direction: ClassVar[Direction]
    variadic: ClassVar[str | None] = None
    """Name of a tuple field that takes any number of arguments (ping/pong), if any."""
    state_field: ClassVar[str | None] = None
    """The /metal/state field that reports what this message sets, if one does; ``{name}``
    stands for the value of the message's own argument ``name`` (``{instrument}_muted``).
    Surfaces and OSCQuery read a control's current value from there."""


# --- client -> server ---------------------------------------------------------------------


class Subscribe(MessageBase):
    """Send events to the sender's host at `port` (default: the source port). Mode `bundle`
    sends timetagged bundles ahead of time; `immediate` sends each event when due. The lease is
    renewed by any message. Subscribing the same host and port again, from any source port,
    replaces the earlier subscription: every event arrives once."""

    address: ClassVar[str] = "/metal/subscribe"
    direction: ClassVar[Direction] = "in"

    port: Annotated[int | None, Wire(tag="i", none_as=0), Field(ge=1, le=65535)] = Field(
        default=None, description="UDP port for events; 0 = the source port"
    )
    mode: Literal["bundle", "immediate"] = Field(default="bundle", description="delivery mode")


class Unsubscribe(MessageBase):
    """Stop sending events to the sender."""

    address: ClassVar[str] = "/metal/unsubscribe"
    direction: ClassVar[Direction] = "in"


class Tension(MessageBase):
    """Musical intensity: 0 calm, 1 the most intense phrases the models know. A change lands at
    the next `transition` boundary (default: the daemon's), where a new section starts."""

    address: ClassVar[str] = "/metal/tension"
    direction: ClassVar[Direction] = "in"
    state_field: ClassVar[str | None] = "tension"

    value: float = Field(ge=0.0, le=1.0, description="intensity")
    transition: Transition | None = Field(
        default=None, description="where the change lands; default: /metal/transition's"
    )


class Tempo(MessageBase):
    """Tempo in beats per minute, applied at the next beat."""

    address: ClassVar[str] = "/metal/tempo"
    direction: ClassVar[Direction] = "in"
    state_field: ClassVar[str | None] = "bpm"

    bpm: float = Field(ge=40.0, le=320.0, description="beats per minute")


class Interpolate(MessageBase):
    """Morph from what plays now to a saved scene over `bars` bars (latent slerp)."""

    address: ClassVar[str] = "/metal/interpolate"
    direction: ClassVar[Direction] = "in"

    scene: SceneName = Field(description="a scene saved with /metal/scene/save")
    bars: int = Field(default=8, ge=2, le=64, multiple_of=2, description="length, even")


class SceneSave(MessageBase):
    """Remember the current latents of every instrument as a named scene."""

    address: ClassVar[str] = "/metal/scene/save"
    direction: ClassVar[Direction] = "in"

    name: SceneName = Field(description="scene name")


class SceneDelete(MessageBase):
    """Forget a saved scene (and delete it from the daemon's scene file)."""

    address: ClassVar[str] = "/metal/scene/delete"
    direction: ClassVar[Direction] = "in"

    name: SceneName = Field(description="scene name")


class SceneListRequest(MessageBase):
    """Ask for a /metal/scene/list reply naming every saved scene."""

    address: ClassVar[str] = "/metal/scene/list"
    direction: ClassVar[Direction] = "in"


class Play(MessageBase):
    """Start the transport."""

    address: ClassVar[str] = "/metal/play"
    direction: ClassVar[Direction] = "in"


class Stop(MessageBase):
    """Stop the transport."""

    address: ClassVar[str] = "/metal/stop"
    direction: ClassVar[Direction] = "in"


class Mute(MessageBase):
    """Mute or unmute one instrument."""

    address: ClassVar[str] = "/metal/mute"
    direction: ClassVar[Direction] = "in"
    state_field: ClassVar[str | None] = "{instrument}_muted"

    instrument: Instrument = Field(description="instrument")
    muted: bool = Field(description="1 = muted")


class Temperature(MessageBase):
    """Sampling temperature of the models: low is safe and repetitive, high is wild. A change
    lands at the next `transition` boundary, like a tension change."""

    address: ClassVar[str] = "/metal/temperature"
    direction: ClassVar[Direction] = "in"
    state_field: ClassVar[str | None] = "temperature"

    value: float = Field(ge=0.05, le=2.0, description="temperature")
    transition: Transition | None = Field(
        default=None, description="where the change lands; default: /metal/transition's"
    )


class TransitionDefault(MessageBase):
    """Where tension and temperature changes land unless a message says otherwise."""

    address: ClassVar[str] = "/metal/transition"
    direction: ClassVar[Direction] = "in"
    state_field: ClassVar[str | None] = "transition"

    when: Transition = Field(description="phrase, bar or section")


class Key(MessageBase):
    """The session's tonal centre from the next section on; every guitar phrase (and the bass
    decoded on its chords) is moved into its natural minor scale."""

    address: ClassVar[str] = "/metal/key"
    direction: ClassVar[Direction] = "in"
    state_field: ClassVar[str | None] = "key"

    key: KeyName = Field(description="tonal centre")


class Fill(MessageBase):
    """A drum fill at the next phrase: a stinger the game cues."""

    address: ClassVar[str] = "/metal/fill"
    direction: ClassVar[Direction] = "in"


class SectionRequest(MessageBase):
    """Start a new section at the next phrase ("the boss appears"), optionally labelled."""

    address: ClassVar[str] = "/metal/section"
    direction: ClassVar[Direction] = "in"

    label: SectionLabel = Field(default="", description="label for the section event")


class Ping(MessageBase):
    """Ask for /metal/pong with the same arguments and the server's time (clock sync, RTT)."""

    address: ClassVar[str] = "/metal/ping"
    direction: ClassVar[Direction] = "in"
    variadic: ClassVar[str | None] = "args"

    args: tuple[PingArg, ...] = Field(default=(), description="echoed back")


class StateRequest(MessageBase):
    """Ask for a /metal/state reply with every parameter."""

    address: ClassVar[str] = "/metal/state"
    direction: ClassVar[Direction] = "in"


# --- server -> client ---------------------------------------------------------------------


class Note(MessageBase):
    """One note event; in bundle mode the bundle's timetag is when it sounds. Drum pitches are
    General MIDI drum notes."""

    address: ClassVar[str] = "/metal/note"
    direction: ClassVar[Direction] = "out"

    instrument: Instrument = Field(description="instrument")
    pitch: int = Field(ge=0, le=127, description="MIDI pitch")
    velocity: int = Field(ge=0, le=127, description="MIDI velocity")
    duration_s: float = Field(ge=0.0, le=FLOAT32_MAX, description="seconds")
    beat: float = Field(ge=0.0, le=FLOAT32_MAX, description="musical time of the onset, in beats")


class Beat(MessageBase):
    """Sent on every beat of the beat clock."""

    address: ClassVar[str] = "/metal/beat"
    direction: ClassVar[Direction] = "out"

    bar: int = Field(ge=0, le=INT32_MAX, description="bar number, from 0")
    beat: int = Field(ge=0, le=INT32_MAX, description="beat in the bar, from 0")


class PhraseStarted(MessageBase):
    """A new 2-bar phrase of one instrument starts."""

    address: ClassVar[str] = "/metal/phrase"
    direction: ClassVar[Direction] = "out"

    instrument: Instrument = Field(description="instrument")
    id: int = Field(ge=0, le=INT32_MAX, description="phrase id")
    tension: float = Field(ge=0.0, le=1.0, description="tension it was chosen for")


class Pong(MessageBase):
    """Reply to /metal/ping: its arguments, then the server's wall-clock time as the last
    argument (a double: a 32-bit float cannot hold a unix time to better than 128 s)."""

    address: ClassVar[str] = "/metal/pong"
    direction: ClassVar[Direction] = "out"
    variadic: ClassVar[str | None] = "args"

    args: tuple[PingArg, ...] = Field(description="the ping's arguments")
    server_time: Annotated[float, Wire(tag="d")] = Field(description="unix seconds")


class State(MessageBase):
    """Every parameter of the server; sent on request and after every change, so that
    TouchOSC faders follow."""

    address: ClassVar[str] = "/metal/state"
    direction: ClassVar[Direction] = "out"

    playing: bool = Field(description="transport running")
    tension: float = Field(ge=0.0, le=1.0, description="intensity")
    bpm: float = Field(ge=40.0, le=320.0, description="tempo")
    temperature: float = Field(ge=0.05, le=2.0, description="sampling temperature")
    guitar_muted: bool = Field(description="guitar muted")
    bass_muted: bool = Field(description="bass muted")
    drums_muted: bool = Field(description="drums muted")
    scene: OptionalSceneName = Field(description='interpolation target, "" = none running')
    key: KeyName = Field(description="tonal centre (natural minor) of the section playing")
    transition: Transition = Field(description="where changes land by default")


class SceneList(MessageBase):
    """The saved scenes, by name in alphabetical order: the reply to /metal/scene/list, and sent
    to every subscriber after a scene is saved or deleted."""

    address: ClassVar[str] = "/metal/scene/list"
    direction: ClassVar[Direction] = "out"
    variadic: ClassVar[str | None] = "names"

    names: tuple[SceneName, ...] = Field(default=(), description="scene names")


class SectionStarted(MessageBase):
    """A section starts on this beat: the game can follow the form (like a timeline marker)."""

    address: ClassVar[str] = "/metal/section"
    direction: ClassVar[Direction] = "out"

    index: int = Field(ge=0, le=INT32_MAX, description="sections since play started")
    label: SectionLabel = Field(description="the requested label, or the daemon's")
    key: KeyName = Field(description="tonal centre")
    tension: float = Field(ge=0.0, le=1.0, description="tension it was planned for")


class Error(MessageBase):
    """A message the server could not accept: its address and why."""

    address: ClassVar[str] = "/metal/error"
    direction: ClassVar[Direction] = "out"

    # Not `address`: every message class names its own OSC address so (a ClassVar).
    refused_address: OscText = Field(description="the address of the refused message")
    reason: OscText = Field(description="why it was refused")


Message = Union[  # noqa: UP007 - a runtime union, used by isinstance-free dispatch and typing
    Subscribe,
    Unsubscribe,
    Tension,
    Tempo,
    Interpolate,
    SceneSave,
    SceneDelete,
    SceneListRequest,
    Play,
    Stop,
    Mute,
    Temperature,
    TransitionDefault,
    Key,
    Fill,
    SectionRequest,
    Ping,
    StateRequest,
    Note,
    Beat,
    PhraseStarted,
    SectionStarted,
    Pong,
    State,
    SceneList,
    Error,
]

MESSAGE_TYPES: tuple[type[MessageBase], ...] = tuple(get_args(Message))
