"""The address registry: each message class read once into a wire description.

`MessageSpec` says, for one class, which OSC arguments it has, in which order, with which tags
sent and accepted, and what ranges apply. It is derived from the pydantic fields and ClassVars,
never written by hand, so the codec and the generated docs cannot disagree with the classes.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping
from functools import cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import StringConstraints
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ._messages import (
    FLOAT32_MAX,
    INT32_MAX,
    MESSAGE_TYPES,
    TEXT_PATTERN,
    MessageBase,
    OscTag,
    Wire,
)
from ._pattern import address_fault, is_pattern

ArgKind = Literal["bool", "int", "float", "str", "any"]
"""How a decoded OSC value is turned into the field's Python value."""

ACCEPTED_TAGS: Mapping[ArgKind, frozenset[str]] = {
    # Integers also arrive as floats from TouchOSC-like controllers; whole values are accepted.
    "int": frozenset("ihfd"),
    "float": frozenset("ihfd"),
    "bool": frozenset("ihfdTF"),
    "str": frozenset("s"),
    # A ping's arguments are echoed with their own tags, so every tag above is taken.
    "any": frozenset("ihfdsTF"),
}
TAG_ORDER = "ihfdsTF"
"""The order tags are listed in, for people (reasons, docs)."""


def tag_list(tags: frozenset[str]) -> str:
    """``tags`` as people read them: "i, h, f, d"."""
    return ", ".join(t for t in TAG_ORDER if t in tags)


_DEFAULT_TAG: Mapping[ArgKind, OscTag] = {
    "bool": "i",
    "int": "i",
    "float": "f",
    "str": "s",
    "any": "s",
}


@dataclasses.dataclass(frozen=True)
class Limits:
    """An argument's allowed values as data, read from the field's pydantic constraints (what
    generated clients check; `ArgSpec.constraint` is the same for people). Bounds are the
    field's own numbers (float64 or int), before any conversion to the wire's 32 bits."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None
    multiple_of: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    """A regular expression the whole string must match (anchored with ^ and $)."""
    choices: tuple[str, ...] = ()
    """The allowed strings of a `Literal` field, in declaration order."""

    @property
    def is_string(self) -> bool:
        """Whether any string constraint (length or pattern) is set."""
        return (
            self.min_length is not None or self.max_length is not None or self.pattern is not None
        )


@dataclasses.dataclass(frozen=True)
class ArgSpec:
    """One OSC argument of a message."""

    name: str
    """Name on the wire and in the docs (the field's alias if it has one)."""
    field: str
    """The pydantic field it fills."""
    kind: ArgKind
    tag: OscTag
    """The tag MetalOSC sends (for `any`: chosen per value)."""
    accepted: frozenset[str]
    """The tags accepted when decoding."""
    required: bool
    default: Any
    none_as: int | None
    constraint: str
    """Allowed values, for people: "0..1", "guitar|bass|drums", "even, 2..64"."""
    description: str
    variadic: bool = False
    limits: Limits = Limits()
    """The allowed values as data (bounds, lengths, pattern, choices)."""


@dataclasses.dataclass(frozen=True)
class MessageSpec:
    """The wire description of one message class."""

    cls: type[MessageBase]
    address: str
    direction: Literal["in", "out"]
    args: tuple[ArgSpec, ...]

    @property
    def min_args(self) -> int:
        """How many arguments the message needs at least."""
        return sum(1 for a in self.args if a.required and not a.variadic)

    @property
    def max_args(self) -> int | None:
        """How many arguments it takes at most (``None``: any number, a variadic message)."""
        return None if any(a.variadic for a in self.args) else len(self.args)

    @property
    def doc(self) -> str:
        """The class docstring, folded onto one line."""
        return " ".join((self.cls.__doc__ or "").split())


def _number(value: object) -> str:
    """Formats a bound without a spurious `.0`: 40.0 -> 40, 0.05 -> 0.05."""
    if value == INT32_MAX:
        return "2^31-1"
    if value == FLOAT32_MAX:
        return "float32 max"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _unwrap_optional(annotation: Any) -> Any:
    """`X | None` -> `X` (None travels as the field's `Wire.none_as` value)."""
    if get_origin(annotation) in (Union, types.UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return members[0]
    return annotation


def _limits(metadata: list[Any], base: Any) -> Limits:
    """The field's constraints (pydantic metadata and a Literal annotation) as data."""
    bounds: dict[str, Any] = {}
    for item in metadata:
        if isinstance(item, annotated_types.Ge):
            bounds["ge"] = item.ge
        elif isinstance(item, annotated_types.Gt):
            bounds["gt"] = item.gt
        elif isinstance(item, annotated_types.Le):
            bounds["le"] = item.le
        elif isinstance(item, annotated_types.Lt):
            bounds["lt"] = item.lt
        elif isinstance(item, annotated_types.MultipleOf):
            bounds["multiple_of"] = item.multiple_of
        elif isinstance(item, StringConstraints):
            bounds["min_length"] = item.min_length
            bounds["max_length"] = item.max_length
            bounds["pattern"] = item.pattern if isinstance(item.pattern, str) else None
    choices = tuple(str(v) for v in get_args(base)) if get_origin(base) is Literal else ()
    return Limits(**bounds, choices=choices)


def _describe_constraints(limits: Limits, base: Any, none_as: int | None) -> str:
    parts: list[str] = []
    low = None if limits.ge is None else _number(limits.ge)
    high = None if limits.le is None else _number(limits.le)
    if limits.gt is not None:
        low = f">{_number(limits.gt)}"
    if limits.lt is not None:
        high = f"<{_number(limits.lt)}"
    if limits.multiple_of is not None:
        m = limits.multiple_of
        parts.append("even" if m == 2 else f"multiple of {m}")
    if limits.is_string:
        parts.append(_describe_string(limits))
    if low is not None and high is not None:
        parts.append(f"{low}..{high}")
    elif low is not None:
        parts.append(f"≥ {low}" if not low.startswith(">") else low)
    elif high is not None:
        parts.append(f"≤ {high}" if not high.startswith("<") else high)
    if limits.choices:
        parts.append("|".join(limits.choices))
    if base is bool:
        parts.append("0/1")
    text = ", ".join(parts)
    return f"{text} or {none_as}" if none_as is not None else text


def _describe_string(limits: Limits) -> str:
    if limits.pattern == TEXT_PATTERN:
        return "text"
    pattern = limits.pattern or ""
    charset = ""
    if pattern.startswith("^[") and "]" in pattern:
        charset = " of " + pattern[1 : pattern.index("]") + 1]
    low = limits.min_length or 0
    if limits.max_length is not None:
        return f"{low}..{limits.max_length} chars{charset}"
    return f"≥ {low} chars{charset}"


def _kind(base: Any) -> ArgKind:
    if base is bool:
        return "bool"
    if base is int:
        return "int"
    if base is float:
        return "float"
    if base is str or get_origin(base) is Literal:
        return "str"
    raise TypeError(f"no OSC mapping for field type {base!r}")


def _variadic_spec(name: str, info: FieldInfo) -> ArgSpec:
    """A tuple field taking any number of arguments: of any tag (a ping's, echoed), or of one
    kind with the item type's constraints (scene names)."""
    item = get_args(info.annotation)[0]
    metadata: list[Any] = []
    if get_origin(item) is Annotated:
        item, *metadata = get_args(item)
    kind: ArgKind = "any" if get_origin(item) in (Union, types.UnionType) else _kind(item)
    limits = _limits(metadata, item) if kind != "any" else Limits()
    if kind == "any":
        constraint = f"any number of {tag_list(ACCEPTED_TAGS['any'])}"
    else:
        described = _describe_constraints(limits, item, None)
        constraint = f"any number of {described}" if described else "any number"
    return ArgSpec(
        name=info.alias or name,
        field=name,
        kind=kind,
        tag=_DEFAULT_TAG[kind],
        accepted=ACCEPTED_TAGS[kind],
        required=False,
        default=(),
        none_as=None,
        constraint=constraint,
        description=info.description or "",
        limits=limits,
        variadic=True,
    )


def _arg_spec(name: str, info: FieldInfo, variadic: bool) -> ArgSpec:
    wire = next((m for m in info.metadata if isinstance(m, Wire)), Wire())
    required = info.is_required()
    default = None if required or info.default is PydanticUndefined else info.default
    if variadic:
        return _variadic_spec(name, info)
    base = _unwrap_optional(info.annotation)
    kind = _kind(base)
    limits = _limits(list(info.metadata), base)
    return ArgSpec(
        name=info.alias or name,
        field=name,
        kind=kind,
        tag=wire.tag or _DEFAULT_TAG[kind],
        accepted=ACCEPTED_TAGS[kind],
        required=required,
        default=default,
        none_as=wire.none_as,
        constraint=_describe_constraints(limits, base, wire.none_as),
        description=info.description or "",
        limits=limits,
    )


@cache
def message_spec(cls: type[MessageBase]) -> MessageSpec:
    """The wire description of `cls`, derived from its fields in declaration order."""
    args = tuple(
        _arg_spec(name, info, variadic=name == cls.variadic)
        for name, info in cls.model_fields.items()
    )
    return MessageSpec(cls=cls, address=cls.address, direction=cls.direction, args=args)


def _index(direction: Literal["in", "out"]) -> Mapping[str, MessageSpec]:
    specs = [message_spec(c) for c in MESSAGE_TYPES if c.direction == direction]
    index = {s.address: s for s in specs}
    if len(index) != len(specs):
        raise RuntimeError(f"two {direction!r} messages share an address")
    # A received address pattern is matched against these, so none may itself look like one.
    patterned = [a for a in index if is_pattern(a) or address_fault(a) is not None]
    if patterned:
        raise RuntimeError(f"not plain OSC addresses: {patterned}")
    return types.MappingProxyType(index)


INCOMING: Mapping[str, MessageSpec] = _index("in")
"""Client -> server messages by address."""
OUTGOING: Mapping[str, MessageSpec] = _index("out")
"""Server -> client messages by address."""
