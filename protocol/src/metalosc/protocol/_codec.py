"""Typed messages <-> OSC bytes, on python-osc's builders and parsers.

Decoding is strict and total: any input either gives a message (or bundle) whose values are in
range, or raises `ProtocolError` with a short reason - never an exception from python-osc,
`struct` or pydantic. The checks python-osc does not make are made here, before its parser runs:

- strings (the address, the type tags, string arguments) must end in NUL padding, because
  python-osc takes any bytes as padding: a forgotten NUL would misread the address;
- the address is looked up (or, from a client, matched as an OSC 1.0 address pattern, see
  `_pattern`) and the type tags are checked against the message's arguments before parsing,
  because python-osc skips unknown tags with a `logging.warning` (which also installs a root log
  handler as a side effect);
- the packet length must match what the arguments occupy, because python-osc pads a truncated
  float with zero bytes (a quirk kept for Reaktor) and ignores trailing bytes;
- bundle elements are walked here and each parsed as a message, because `OscBundle` loops
  forever on a negative size. A bundle is all or nothing: the first bad element refuses it.

Bundle timetags are written and read as exact 64-bit NTP values (`_timetag`): python-osc's
float path is off by up to ~0.5 µs at today's dates.
"""

from __future__ import annotations

import dataclasses
import math
import struct
from collections.abc import Mapping, Sequence
from typing import Any, cast

from pydantic import ValidationError
from pythonosc import osc_bundle_builder, osc_message, osc_message_builder
from pythonosc.parsing import osc_types

from ._addresses import INCOMING, OUTGOING, ArgSpec, MessageSpec, message_spec, tag_list
from ._errors import ProtocolError
from ._messages import Double, Int64, Message, MessageBase
from ._pattern import address_fault, is_pattern, match_addresses
from ._timetag import IMMEDIATELY, ntp_to_unix, unix_to_ntp

_BUNDLE_PREFIX = b"#bundle\x00"
_BUNDLE_HEADER_LEN = len(_BUNDLE_PREFIX) + 8
_INT32 = range(-(2**31), 2**31)

_PARSE_ERRORS: tuple[type[Exception], ...] = (
    osc_types.ParseError,
    osc_message.ParseError,
    IndexError,
    struct.error,
    TypeError,
    ValueError,
    OverflowError,
)
"""What python-osc's parsers can raise on hostile input (UnicodeDecodeError is a ValueError)."""


@dataclasses.dataclass(frozen=True)
class Bundle:
    """An OSC bundle of messages, applied together (all or nothing) at `timetag`.

    `timetag` is unix seconds (exact to OSC's 1/2**32 s on the wire), or None for "immediately"
    (the reserved NTP timetag 1). `decode_packet` also gives one for a single message whose
    address pattern names several addresses: timetag None, one message per address that accepts
    the arguments, and `refusals` for the others.
    """

    timetag: float | None
    messages: tuple[Message, ...]
    refusals: tuple[ProtocolError, ...] = ()
    """For a message whose pattern names several addresses: one error per address that refused
    the arguments (its `address` that address). Always empty for a bundle received as one."""


# --- encoding -----------------------------------------------------------------------------


def _is_float32(value: float) -> bool:
    if not math.isfinite(value):
        return True  # a 32-bit float holds NaN and both infinities
    try:
        return cast(float, struct.unpack(">f", struct.pack(">f", value))[0]) == value
    except OverflowError:
        return False


def _any_tag(value: object) -> str:
    """Tag for a ping/pong argument: the one it was received with (its class says it, see
    `PingArg`), else the smallest that holds the value exactly."""
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, str):
        return "s"
    if isinstance(value, Int64):
        return "h"
    if isinstance(value, int):
        return "i" if value in _INT32 else "h"
    if isinstance(value, Double):
        return "d"
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


def _read_string(data: bytes, position: int, what: str) -> tuple[str, int]:
    """One OSC string at ``position``: its text and where the next item starts.

    Stricter than python-osc's reader, which takes any bytes as padding: a string must end in a
    NUL followed by NULs up to a multiple of 4 bytes. A sender that forgot the NUL or padded with
    garbage gets "malformed …" rather than a misread address or argument.
    """
    end = data.find(b"\x00", position)
    if end < 0:
        raise ProtocolError(f"malformed {what}: no NUL at its end")
    stop = position + ((end - position) // 4 + 1) * 4
    if stop > len(data):
        raise ProtocolError(f"malformed {what}: padding cut off")
    if data[end:stop].strip(b"\x00"):
        raise ProtocolError(f"malformed {what}: padding is not NUL bytes")
    try:
        return data[position:end].decode("utf-8"), stop
    except UnicodeDecodeError:
        raise ProtocolError(f"malformed {what}: not valid UTF-8") from None


@dataclasses.dataclass(frozen=True)
class _Header:
    address: str
    """As received: an address, or a pattern naming every address in ``specs``."""
    specs: tuple[MessageSpec, ...]
    tags: str
    args_start: int

    @property
    def is_pattern(self) -> bool:
        return self.specs[0].address != self.address


def _resolve(address: str, index: Mapping[str, MessageSpec], patterns: bool) -> list[MessageSpec]:
    """The messages ``address`` names: itself, or every address its pattern matches (in the
    order of the address table)."""
    spec = index.get(address)
    if spec is not None:
        return [spec]
    fault = address_fault(address)
    if fault is not None:
        raise ProtocolError(f"malformed address: {fault}", address)
    if patterns and is_pattern(address):
        found = [index[a] for a in match_addresses(address, index)]
        if not found:
            raise ProtocolError("no address matches the pattern", address)
        return found
    raise ProtocolError("unknown address", address)


def _read_header(data: bytes, index: Mapping[str, MessageSpec], patterns: bool) -> _Header:
    """Address and type tags, checked against the registry before any argument is parsed."""
    if data.startswith(_BUNDLE_PREFIX):
        raise ProtocolError("expected a message, got a bundle")
    if not data:
        raise ProtocolError("empty packet")
    if not data.startswith(b"/"):
        raise ProtocolError("not an OSC message")
    address, position = _read_string(data, 0, "address")
    specs = _resolve(address, index, patterns)
    tags = ""
    if position < len(data):
        try:
            tag_string, position = _read_string(data, position, "type tags")
        except ProtocolError as e:
            raise ProtocolError(e.reason, address) from None
        if not tag_string.startswith(","):
            raise ProtocolError("malformed type tags: no leading ','", address)
        tags = tag_string[1:]
        if tags and not tags.strip(_VALUELESS) and all(s.max_args == 0 for s in specs):
            # Nil and impulse carry no value: OSCQuery tools (ossia, Chataigne) send one to
            # "bang" a method of no arguments, such as /metal/play.
            tags = ""
    return _Header(address=address, specs=tuple(specs), tags=tags, args_start=position)


def _positions(spec: MessageSpec, count: int) -> list[ArgSpec]:
    """The argument spec for each of `count` received arguments."""
    fixed = [a for a in spec.args if not a.variadic]
    variadic = [a for a in spec.args if a.variadic]
    if not variadic:
        return fixed[:count]
    where = spec.args.index(variadic[0])
    extra = count - len(fixed)
    return list(spec.args[:where]) + [variadic[0]] * extra + list(spec.args[where + 1 :])


def _tag_name(tag: str) -> str:
    return tag if tag.isascii() and tag.isprintable() and tag != " " else f"U+{ord(tag):04X}"


def _check_tags(spec: MessageSpec, tags: str) -> None:
    if len(tags) < spec.min_args or (spec.max_args is not None and len(tags) > spec.max_args):
        raise ProtocolError(
            f"wrong argument count {len(tags)}, expected {_signature(spec)}", spec.address
        )
    for tag, arg in zip(tags, _positions(spec, len(tags)), strict=True):
        if tag not in arg.accepted:
            raise ProtocolError(
                f"wrong type tag {_tag_name(tag)} for {arg.name}: "
                f"expected one of {tag_list(arg.accepted)}",
                spec.address,
            )


_VALUELESS = "NI"
"""OSC 1.0's nil and impulse tags: arguments without a value (and without bytes)."""

_FIXED_SIZE = {"i": 4, "f": 4, "h": 8, "d": 8, "T": 0, "F": 0}


def _check_layout(data: bytes, header: _Header) -> None:
    """Every argument the tags announce is there, strings well formed, nothing after them.

    python-osc pads a truncated float with zero bytes (a quirk kept for Reaktor), ignores
    trailing bytes and takes any bytes as a string's padding, so the layout is walked here.
    """
    position = header.args_start
    for tag in header.tags:  # tags are checked: each is one of _FIXED_SIZE or "s"
        if tag == "s":
            if data.find(b"\x00", position) < 0:  # the packet ends inside the string
                raise ProtocolError("truncated packet", header.address)
            try:
                _, position = _read_string(data, position, "string argument")
            except ProtocolError as e:
                raise ProtocolError(e.reason, header.address) from None
        else:
            position += _FIXED_SIZE[tag]
    if len(data) < position:
        raise ProtocolError("truncated packet", header.address)
    if len(data) > position:
        raise ProtocolError("trailing bytes after the arguments", header.address)


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


def _any_value(tag: str, value: Any) -> Any:
    """A variadic argument keeps its tag in its class (see `PingArg`)."""
    if tag == "h":
        return Int64(value)
    if tag == "d":
        return Double(value)
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


def _to_message(spec: MessageSpec, tags: str, params: Sequence[Any]) -> Message:
    fields: dict[str, Any] = {}
    variadic: list[Any] = []
    for arg, tag, value in zip(_positions(spec, len(params)), tags, params, strict=True):
        if arg.variadic:
            variadic.append(_any_value(tag, value))
        else:
            fields[arg.name] = _field_value(arg, value, spec.address)
    for arg in spec.args:
        if arg.variadic:
            fields[arg.name] = tuple(variadic)
    try:
        return cast(Message, spec.cls.model_validate(fields))
    except ValidationError as e:
        raise ProtocolError(_validation_reason(spec, e), spec.address) from None


@dataclasses.dataclass(frozen=True)
class _Decoded:
    """One message datagram: the address as received, a message per address it names that
    accepts the arguments, and (address, reason) for each that refuses them."""

    address: str
    is_pattern: bool
    messages: list[Message]
    refused: list[tuple[str, str]]

    def strict(self) -> list[Message]:
        """The messages, or ProtocolError for the first refusal (naming it in a pattern)."""
        if self.refused:
            address, reason = self.refused[0]
            if self.is_pattern:
                raise ProtocolError(f"{address}: {reason}", self.address)
            raise ProtocolError(reason, address)
        return self.messages

    def refusals(self) -> tuple[ProtocolError, ...]:
        """A pattern's refusals as errors naming the address refused and the pattern."""
        pattern = self.address if len(self.address) <= 64 else self.address[:63] + "…"
        return tuple(
            ProtocolError(f"{reason} (pattern {pattern})", address)
            for address, reason in self.refused
        )


def _decode_message(data: bytes, index: Mapping[str, MessageSpec], patterns: bool) -> _Decoded:
    """Decodes one message datagram; raises ProtocolError when it is malformed, or names one
    address (no pattern) that refuses it."""
    header = _read_header(data, index, patterns)
    pattern = header.is_pattern
    refused: list[tuple[str, str]] = []
    fitting: list[MessageSpec] = []
    for spec in header.specs:
        try:
            _check_tags(spec, header.tags)
            fitting.append(spec)
        except ProtocolError as e:
            if not pattern:
                raise
            refused.append((spec.address, e.reason))
    messages: list[Message] = []
    if fitting:
        _check_layout(data, header)
        params: list[Any] = []
        if header.tags:
            try:
                parsed = osc_message.OscMessage(data)
            except _PARSE_ERRORS as e:
                raise ProtocolError(_parse_failure(e), header.address) from None
            params = parsed.params
        if len(params) != len(header.tags):
            raise ProtocolError("malformed packet", header.address)
        for spec in fitting:
            try:
                messages.append(_to_message(spec, header.tags, params))
            except ProtocolError as e:
                if not pattern:
                    raise
                refused.append((spec.address, e.reason))
    order = {spec.address: n for n, spec in enumerate(header.specs)}
    refused.sort(key=lambda r: order[r[0]])
    return _Decoded(header.address, pattern, messages, refused)


def _bundle_elements(data: bytes) -> list[bytes]:
    """The element datagrams of a bundle, with sizes checked (see module docstring)."""
    if len(data) < _BUNDLE_HEADER_LEN:
        raise ProtocolError("truncated packet")
    elements: list[bytes] = []
    position = _BUNDLE_HEADER_LEN
    while position < len(data):
        where = f"bundle element {len(elements)}"
        try:
            size, position = osc_types.get_int(data, position)
        except _PARSE_ERRORS:
            raise ProtocolError(f"{where}: truncated packet") from None
        if size <= 0 or size % 4:
            raise ProtocolError(f"{where}: bad size {size}")
        if position + size > len(data):
            raise ProtocolError(f"{where}: truncated packet")
        element = data[position : position + size]
        if element.startswith(_BUNDLE_PREFIX):
            raise ProtocolError(f"{where}: nested bundles are not supported")
        elements.append(element)
        position += size
    return elements


def _decode_bundle(data: bytes, index: Mapping[str, MessageSpec], patterns: bool) -> Bundle:
    elements = _bundle_elements(data)
    ntp_value, _ = osc_types.get_uint64(data, len(_BUNDLE_PREFIX))
    messages: list[Message] = []
    for number, element in enumerate(elements):
        try:
            messages.extend(_decode_message(element, index, patterns).strict())
        except ProtocolError as e:
            # All or nothing: the first bad element refuses the bundle, named by its index (a
            # pattern element is bad when any address it names refuses the arguments).
            raise ProtocolError(f"bundle element {number}: {e.reason}", e.address) from None
    timetag = None if ntp_value == IMMEDIATELY else ntp_to_unix(ntp_value)
    return Bundle(timetag=timetag, messages=tuple(messages))


def _as_bytes(data: bytes) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise ProtocolError(f"expected bytes, got {type(data).__name__}")


def decode(data: bytes) -> Message:
    """The client -> server message in `data` (a bare /metal/state is a `StateRequest`).

    An address pattern naming one address decodes to that message. Raises ProtocolError, and
    nothing else, for anything that is not a valid message, and for a pattern naming several
    addresses (`decode_packet` reads those).
    """
    decoded = _decode_message(_as_bytes(data), INCOMING, True)
    named = len(decoded.messages) + len(decoded.refused)
    if named != 1:
        raise ProtocolError(
            f"the pattern names {named} addresses; read it with decode_packet", decoded.address
        )
    [message] = decoded.strict()
    return message


def decode_outgoing(data: bytes) -> Message:
    """The server -> client message in `data` (for clients and tests: /metal/state is `State`).

    Server -> client addresses are never patterns. Raises ProtocolError, and nothing else, for
    anything that is not a valid message.
    """
    [message] = _decode_message(_as_bytes(data), OUTGOING, False).strict()
    return message


def decode_packet(data: bytes, *, outgoing: bool = False) -> Message | Bundle:
    """A message or a bundle of messages (client -> server unless `outgoing`).

    An incoming message whose address pattern names several addresses is dispatched to each, as
    if sent to each: it decodes to a `Bundle` with timetag None ("immediately") holding a message
    per address that accepts the arguments, in the order of the address table, and in
    `refusals` an error per address that refuses them. A bundle is all or nothing: a bundle
    element whose pattern names an address that refuses refuses the bundle.

    Raises ProtocolError, and nothing else, for anything that is not a valid packet; for a bundle
    the reason starts with "bundle element N: " naming the first element refused (from 0).
    """
    data = _as_bytes(data)
    index = OUTGOING if outgoing else INCOMING
    if data.startswith(_BUNDLE_PREFIX):
        return _decode_bundle(data, index, not outgoing)
    decoded = _decode_message(data, index, not outgoing)
    if len(decoded.messages) + len(decoded.refused) == 1:
        [message] = decoded.strict()
        return message
    return Bundle(timetag=None, messages=tuple(decoded.messages), refusals=decoded.refusals())
