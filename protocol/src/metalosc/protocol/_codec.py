"""Typed messages <-> OSC bytes, on python-osc's builders and parsers.

Decoding is strict and total: any input either gives a message (or bundle) whose values are in
range, or raises `ProtocolError` with a short reason - never an exception from python-osc,
`struct` or pydantic. The checks python-osc does not make are made here, before its parser runs:

- the address is looked up and the type tags are checked against the message's arguments before
  parsing, because python-osc skips unknown tags with a `logging.warning` (which also installs a
  root log handler as a side effect);
- the packet length must match what the arguments occupy, because python-osc pads a truncated
  float with zero bytes (a quirk kept for Reaktor) and ignores trailing bytes;
- bundle element sizes are walked first, because `OscBundle` loops forever on a negative size.

Bundle timetags are written and read as exact 64-bit NTP values (`_timetag`): python-osc's
float path is off by up to ~0.5 µs at today's dates.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from pydantic import ValidationError
from pythonosc import osc_bundle, osc_bundle_builder, osc_message, osc_message_builder
from pythonosc.parsing import osc_types

from ._addresses import INCOMING, OUTGOING, ArgSpec, MessageSpec, message_spec
from ._errors import ProtocolError
from ._messages import Message, MessageBase
from ._timetag import IMMEDIATELY, ntp_to_unix, unix_to_ntp

_BUNDLE_PREFIX = b"#bundle\x00"
_BUNDLE_HEADER_LEN = len(_BUNDLE_PREFIX) + 8
_INT32 = range(-(2**31), 2**31)

_PARSE_ERRORS: tuple[type[Exception], ...] = (
    osc_types.ParseError,
    osc_message.ParseError,
    osc_bundle.ParseError,
    IndexError,
    struct.error,
    TypeError,
    ValueError,
    OverflowError,
)
"""What python-osc's parsers can raise on hostile input (UnicodeDecodeError is a ValueError)."""

_WRITERS: Mapping[str, Callable[[Any], bytes]] = {
    "i": osc_types.write_int,
    "h": osc_types.write_int64,
    "f": osc_types.write_float,
    "d": osc_types.write_double,
    "s": osc_types.write_string,
    "T": lambda _: b"",
    "F": lambda _: b"",
}
"""python-osc's writer per tag: used to know how many bytes a parsed argument occupies."""


@dataclasses.dataclass(frozen=True)
class Bundle:
    """An OSC bundle of messages.

    `timetag` is unix seconds (exact to OSC's 1/2**32 s on the wire), or None for "immediately"
    (the reserved NTP timetag 1).
    """

    timetag: float | None
    messages: tuple[Message, ...]


# --- encoding -----------------------------------------------------------------------------


def _is_float32(value: float) -> bool:
    try:
        return cast(float, struct.unpack(">f", struct.pack(">f", value))[0]) == value
    except OverflowError:
        return False


def _any_tag(value: object) -> str:
    """Tag for a ping/pong argument: the smallest that holds the value exactly, so that what a
    client sent as `f` comes back as `f` and a double as `d`."""
    if isinstance(value, str):
        return "s"
    if isinstance(value, int):
        return "i" if value in _INT32 else "h"
    return "f" if _is_float32(cast(float, value)) else "d"


def _wire_args(message: MessageBase, spec: MessageSpec) -> list[tuple[str, Any]]:
    args: list[tuple[str, Any]] = []
    omittable: list[bool] = []
    for arg in spec.args:
        value = getattr(message, arg.field)
        if arg.variadic:
            args.extend((_any_tag(v), v) for v in value)
            omittable.extend(False for _ in value)
            continue
        if value is None:
            value = arg.none_as
        elif arg.kind == "bool":
            value = int(value)
        args.append((arg.tag, value))
        omittable.append(not arg.required and getattr(message, arg.field) == arg.default)
    # Trailing arguments at their defaults are left out: shorter packets, and the same bytes a
    # hand-typed `oscsend ... /metal/interpolate s boss` produces.
    while omittable and omittable[-1]:
        omittable.pop()
        args.pop()
    return args


def _build(message: MessageBase) -> osc_message.OscMessage:
    spec = message_spec(type(message))
    builder = osc_message_builder.OscMessageBuilder(address=spec.address)
    for tag, value in _wire_args(message, spec):
        builder.add_arg(value, tag)
    return builder.build()


def encode(message: Message) -> bytes:
    """One OSC message for `message`."""
    return _build(message).dgram


def encode_bundle(messages: Sequence[Message], timetag: float | None) -> bytes:
    """One OSC bundle of `messages`, due at unix time `timetag` (None: immediately).

    Raises ValueError for a timetag outside the NTP range.
    """
    builder = osc_bundle_builder.OscBundleBuilder(osc_bundle_builder.IMMEDIATELY)
    for message in messages:
        builder.add_content(_build(message))
    dgram = builder.build().dgram
    if timetag is None:
        return dgram
    # python-osc only takes float times (see module docstring): write the exact 64-bit value
    # into the bundle header it built.
    return dgram[: len(_BUNDLE_PREFIX)] + struct.pack(">Q", unix_to_ntp(timetag)) + dgram[16:]


# --- decoding -----------------------------------------------------------------------------


def _signature(spec: MessageSpec) -> str:
    parts = []
    for arg in spec.args:
        text = "..." if arg.variadic else f"{arg.tag} {arg.name}"
        parts.append(text if arg.required else f"[{text}]")
    text = " ".join(parts) if parts else "no arguments"
    if len(text) > 48:  # keep reasons short: the type tags alone, in OSC's own notation
        text = "," + "".join(a.tag for a in spec.args)
    return text


def _parse_failure(error: Exception) -> str:
    text = str(error)
    if isinstance(error, UnicodeDecodeError):
        return "string is not valid UTF-8"
    if isinstance(error, IndexError) or "too short" in text or "index out of range" in text:
        return "truncated packet"
    return "malformed packet"


@dataclasses.dataclass(frozen=True)
class _Header:
    spec: MessageSpec
    tags: str
    args_start: int


def _read_header(data: bytes, index: Mapping[str, MessageSpec]) -> _Header:
    """Address and type tags, checked against the registry before any argument is parsed."""
    if data.startswith(_BUNDLE_PREFIX):
        raise ProtocolError("expected a message, got a bundle")
    if not data:
        raise ProtocolError("empty packet")
    if not data.startswith(b"/"):
        raise ProtocolError("not an OSC message")
    try:
        address, position = osc_types.get_string(data, 0)
    except _PARSE_ERRORS as e:
        raise ProtocolError(_parse_failure(e)) from None
    spec = index.get(address)
    if spec is None:
        raise ProtocolError("unknown address", address)
    tags = ""
    if position < len(data):
        try:
            tag_string, position = osc_types.get_string(data, position)
        except _PARSE_ERRORS as e:
            raise ProtocolError(_parse_failure(e), address) from None
        if not tag_string.startswith(","):
            raise ProtocolError("malformed type tags", address)
        tags = tag_string[1:]
    _check_tags(spec, tags)
    return _Header(spec=spec, tags=tags, args_start=position)


def _positions(spec: MessageSpec, count: int) -> list[ArgSpec]:
    """The argument spec for each of `count` received arguments."""
    fixed = [a for a in spec.args if not a.variadic]
    variadic = [a for a in spec.args if a.variadic]
    if not variadic:
        return fixed[:count]
    where = spec.args.index(variadic[0])
    extra = count - len(fixed)
    return list(spec.args[:where]) + [variadic[0]] * extra + list(spec.args[where + 1 :])


def _check_tags(spec: MessageSpec, tags: str) -> None:
    if len(tags) < spec.min_args or (spec.max_args is not None and len(tags) > spec.max_args):
        raise ProtocolError(
            f"wrong argument count {len(tags)}, expected {_signature(spec)}", spec.address
        )
    for tag, arg in zip(tags, _positions(spec, len(tags)), strict=True):
        if tag not in arg.accepted:
            raise ProtocolError(
                f"wrong type tag {tag!r} for {arg.name}, expected {_signature(spec)}",
                spec.address,
            )


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:39] + "…"


def _field_value(arg: ArgSpec, value: Any, address: str) -> Any:
    """One parsed OSC value -> the field's Python value (before range validation)."""
    if arg.kind == "bool":
        if value not in (0, 1):  # True/False from T/F compare equal to 1/0
            raise ProtocolError(f"{arg.name} must be 0 or 1, got {_short(value)}", address)
        return bool(value)
    if arg.kind == "int":
        if isinstance(value, float):
            if not (math.isfinite(value) and value.is_integer()):
                raise ProtocolError(f"{arg.name} must be a whole number", address)
            value = int(value)
        if arg.none_as is not None and value == arg.none_as:
            return None
        return value
    if arg.kind == "float":
        return float(value)
    return value


def _validation_reason(spec: MessageSpec, error: ValidationError) -> str:
    first = error.errors()[0]
    name = str(first["loc"][0]) if first["loc"] else ""
    arg = next((a for a in spec.args if name in (a.name, a.field)), None)
    if arg is None or arg.variadic:
        return f"invalid {name or 'arguments'}: {first['msg']}"
    value = _short(first["input"])
    if arg.kind == "str":
        return f"invalid {arg.name} {value} (expected {arg.constraint})"
    return f"{arg.name} {value} out of range ({arg.constraint})"


def _to_message(header: _Header, parsed: osc_message.OscMessage, data: bytes) -> Message:
    spec = header.spec
    params = parsed.params
    if len(params) != len(header.tags):
        raise ProtocolError("malformed packet", spec.address)
    size = header.args_start + sum(
        len(_WRITERS[tag](value)) for tag, value in zip(header.tags, params, strict=True)
    )
    if len(data) < size:
        raise ProtocolError("truncated packet", spec.address)
    if len(data) > size:
        raise ProtocolError("trailing bytes after the arguments", spec.address)

    fields: dict[str, Any] = {}
    variadic: list[Any] = []
    for arg, value in zip(_positions(spec, len(params)), params, strict=True):
        if arg.variadic:
            variadic.append(value)
        else:
            fields[arg.name] = _field_value(arg, value, spec.address)
    for arg in spec.args:
        if arg.variadic:
            fields[arg.name] = tuple(variadic)
    try:
        return cast(Message, spec.cls.model_validate(fields))
    except ValidationError as e:
        raise ProtocolError(_validation_reason(spec, e), spec.address) from None


def _decode_message(data: bytes, index: Mapping[str, MessageSpec]) -> Message:
    header = _read_header(data, index)
    try:
        parsed = osc_message.OscMessage(data)
    except _PARSE_ERRORS as e:
        raise ProtocolError(_parse_failure(e), header.spec.address) from None
    return _to_message(header, parsed, data)


def _bundle_elements(data: bytes) -> list[bytes]:
    """The element datagrams of a bundle, with sizes checked (see module docstring)."""
    if len(data) < _BUNDLE_HEADER_LEN:
        raise ProtocolError("truncated packet")
    elements = []
    position = _BUNDLE_HEADER_LEN
    while position < len(data):
        try:
            size, position = osc_types.get_int(data, position)
        except _PARSE_ERRORS:
            raise ProtocolError("truncated packet") from None
        if size <= 0 or size % 4:
            raise ProtocolError(f"bad bundle element size {size}")
        if position + size > len(data):
            raise ProtocolError("truncated packet")
        element = data[position : position + size]
        if element.startswith(_BUNDLE_PREFIX):
            raise ProtocolError("nested bundles are not supported")
        elements.append(element)
        position += size
    return elements


def _decode_bundle(data: bytes, index: Mapping[str, MessageSpec]) -> Bundle:
    elements = _bundle_elements(data)
    headers = [_read_header(element, index) for element in elements]
    try:
        parsed = osc_bundle.OscBundle(data)
        contents = list(parsed)
        ntp_value, _ = osc_types.get_uint64(data, len(_BUNDLE_PREFIX))
    except _PARSE_ERRORS as e:
        raise ProtocolError(_parse_failure(e)) from None
    if len(contents) != len(elements) or not all(
        isinstance(c, osc_message.OscMessage) for c in contents
    ):
        raise ProtocolError("malformed bundle")
    messages = tuple(
        _to_message(header, content, element)
        for header, content, element in zip(headers, contents, elements, strict=True)
    )
    timetag = None if ntp_value == IMMEDIATELY else ntp_to_unix(ntp_value)
    return Bundle(timetag=timetag, messages=messages)


def _as_bytes(data: bytes) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise ProtocolError(f"expected bytes, got {type(data).__name__}")


def decode(data: bytes) -> Message:
    """The client -> server message in `data` (a bare /metal/state is a `StateRequest`).

    Raises ProtocolError, and nothing else, for anything that is not a valid message.
    """
    return _decode_message(_as_bytes(data), INCOMING)


def decode_outgoing(data: bytes) -> Message:
    """The server -> client message in `data` (for clients and tests: /metal/state is `State`).

    Raises ProtocolError, and nothing else, for anything that is not a valid message.
    """
    return _decode_message(_as_bytes(data), OUTGOING)


def decode_packet(data: bytes, *, outgoing: bool = False) -> Message | Bundle:
    """A message or a bundle of messages (client -> server unless `outgoing`).

    Raises ProtocolError, and nothing else, for anything that is not a valid packet.
    """
    data = _as_bytes(data)
    index = OUTGOING if outgoing else INCOMING
    if data.startswith(_BUNDLE_PREFIX):
        return _decode_bundle(data, index)
    return _decode_message(data, index)
