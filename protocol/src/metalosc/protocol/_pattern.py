"""OSC 1.0 address patterns: which addresses a received address pattern names.

The rules are OSC 1.0's (the same python-osc's dispatcher and liblo follow): a pattern and an
address match when they have the same number of ``/``-separated parts and each part matches;
inside a part

- ``?`` matches any one character, ``*`` any run of characters (none included);
- ``[abc]`` one of the characters, ``[a-z]`` one in the range, ``[!…]`` one *not* listed (``-``
  last and ``!`` not first are themselves);
- ``{foo,bar}`` one of the comma-separated strings;
- any other printable ASCII character itself.

Matching is not done with regular expressions: a part is walked once, keeping the set of
positions the pattern so far can have reached (an NFA simulation), so its cost is at most
(pattern length) x (address length) x (alternatives) whatever the pattern holds — a pattern of
many stars cannot backtrack exponentially. Patterns are also bounded in length
(:data:`PATTERN_MAX`), since they come from untrusted peers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from functools import lru_cache

__all__ = [
    "PATTERN_CHARS",
    "PATTERN_MAX",
    "PatternError",
    "address_fault",
    "is_pattern",
    "match_addresses",
    "matches",
]

PATTERN_CHARS = frozenset("?*[]{}")
"""Characters that make an address a pattern; no MetalOSC address contains one."""

PATTERN_MAX = 128
"""Longest address pattern accepted, in characters (MetalOSC's addresses are under 32)."""

_FORBIDDEN = frozenset(" #,")
"""Printable characters OSC 1.0 does not allow in an address (outside of a pattern's brackets
and braces, where ``,`` separates alternatives)."""


class PatternError(ValueError):
    """An address pattern that cannot be read (unbalanced brackets, too long, …); the message is
    short enough to go back to the client."""


@dataclasses.dataclass(frozen=True)
class _Literal:
    char: str


@dataclasses.dataclass(frozen=True)
class _AnyOne:
    pass


@dataclasses.dataclass(frozen=True)
class _AnyRun:
    pass


@dataclasses.dataclass(frozen=True)
class _CharSet:
    ranges: tuple[tuple[str, str], ...]
    negated: bool

    def accepts(self, char: str) -> bool:
        inside = any(low <= char <= high for low, high in self.ranges)
        return inside != self.negated


@dataclasses.dataclass(frozen=True)
class _Choice:
    options: tuple[str, ...]


_Token = _Literal | _AnyOne | _AnyRun | _CharSet | _Choice


def _char_name(char: str) -> str:
    """A character as a client can read it in an error, without Python's quoting."""
    return char if char.isascii() and char.isprintable() and char != " " else f"U+{ord(char):04X}"


def _check_literal(char: str) -> None:
    if not (char.isascii() and char.isprintable()) or char in _FORBIDDEN:
        raise PatternError(f"character {_char_name(char)} is not allowed in an OSC address")


def _char_set(part: str, start: int) -> tuple[_CharSet, int]:
    """The ``[…]`` starting at ``part[start]``; returns it and the index after its ``]``."""
    end = part.find("]", start + 1)
    if end < 0:
        raise PatternError("unbalanced [ in address pattern")
    body = part[start + 1 : end]
    negated = body.startswith("!")
    if negated:
        body = body[1:]
    if not body:
        raise PatternError("empty [] in address pattern")
    ranges: list[tuple[str, str]] = []
    i = 0
    while i < len(body):
        char = body[i]
        if char in "[{}":
            raise PatternError(f"{char} inside [] in address pattern")
        if char != ",":  # not special inside [], and never in an address: it matches nothing
            _check_literal(char)
        if i + 2 < len(body) and body[i + 1] == "-":
            high = body[i + 2]
            if high < char:
                raise PatternError(f"range {char}-{high} is backwards in address pattern")
            ranges.append((char, high))
            i += 3
        else:
            ranges.append((char, char))
            i += 1
    return _CharSet(tuple(ranges), negated), end + 1


def _choice(part: str, start: int) -> tuple[_Choice, int]:
    """The ``{…}`` starting at ``part[start]``; returns it and the index after its ``}``."""
    end = part.find("}", start + 1)
    if end < 0:
        raise PatternError("unbalanced { in address pattern")
    options = part[start + 1 : end].split(",")
    for option in options:
        for char in option:
            if char in PATTERN_CHARS:
                raise PatternError(f"{char} inside {{}} in address pattern")
            _check_literal(char)
    return _Choice(tuple(dict.fromkeys(options))), end + 1


def _tokens(part: str) -> tuple[_Token, ...]:
    tokens: list[_Token] = []
    i = 0
    while i < len(part):
        char = part[i]
        if char == "?":
            tokens.append(_AnyOne())
            i += 1
        elif char == "*":
            if not tokens or not isinstance(tokens[-1], _AnyRun):  # ** is *
                tokens.append(_AnyRun())
            i += 1
        elif char == "[":
            char_set, i = _char_set(part, i)
            tokens.append(char_set)
        elif char == "{":
            choice, i = _choice(part, i)
            tokens.append(choice)
        elif char in "]}":
            raise PatternError(f"unbalanced {char} in address pattern")
        else:
            _check_literal(char)
            tokens.append(_Literal(char))
            i += 1
    return tuple(tokens)


def _compile(pattern: str) -> tuple[tuple[_Token, ...], ...]:
    """The pattern's parts as tokens; raises PatternError for a pattern that cannot be read.

    Only short ones are remembered: the cache must not hold megabytes of a peer's garbage.
    """
    if len(pattern) <= PATTERN_MAX:
        return _compile_short(pattern)
    if is_pattern(pattern):
        raise PatternError(f"address pattern longer than {PATTERN_MAX} characters")
    return _parts(pattern)  # a long plain address: checked, never matches anything but itself


@lru_cache(maxsize=256)
def _compile_short(pattern: str) -> tuple[tuple[_Token, ...], ...]:
    return _parts(pattern)


def _parts(pattern: str) -> tuple[tuple[_Token, ...], ...]:
    if not pattern.startswith("/"):
        raise PatternError("an OSC address starts with /")
    return tuple(_tokens(part) for part in pattern[1:].split("/"))


def _part_matches(tokens: tuple[_Token, ...], text: str) -> bool:
    reached = {0}
    for token in tokens:
        if isinstance(token, _AnyRun):
            reached = set(range(min(reached), len(text) + 1))
        elif isinstance(token, _Choice):
            reached = {p + len(o) for p in reached for o in token.options if text.startswith(o, p)}
        else:
            reached = {p + 1 for p in reached if p < len(text) and _one_matches(token, text[p])}
        if not reached:
            return False
    return len(text) in reached


def _one_matches(token: _Literal | _AnyOne | _CharSet, char: str) -> bool:
    if isinstance(token, _Literal):
        return token.char == char
    if isinstance(token, _AnyOne):
        return True
    return token.accepts(char)


def is_pattern(address: str) -> bool:
    """Whether ``address`` holds any of OSC's pattern characters (``?*[]{}``)."""
    return any(char in PATTERN_CHARS for char in address)


def address_fault(address: str) -> str | None:
    """Why ``address`` cannot be an OSC address or pattern (short, for the client), or None."""
    try:
        _compile(address)
    except PatternError as e:
        return str(e)
    return None


def matches(pattern: str, address: str) -> bool:
    """Whether the OSC address pattern ``pattern`` names ``address`` (a literal address).

    Raises PatternError when ``pattern`` cannot be read.
    """
    parts = _compile(pattern)
    names = address[1:].split("/") if address.startswith("/") else None
    if names is None or len(names) != len(parts):
        return False
    return all(_part_matches(tokens, name) for tokens, name in zip(parts, names, strict=True))


def match_addresses(pattern: str, addresses: Iterable[str]) -> list[str]:
    """The ``addresses`` that ``pattern`` names, in the order given.

    Raises PatternError when ``pattern`` cannot be read.
    """
    return [address for address in addresses if matches(pattern, address)]
