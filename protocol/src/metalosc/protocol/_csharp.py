"""The C# client's protocol files, generated from the message classes.

The Unity client (``unity/Assets/MetalOSC/Runtime/Core``) speaks the address space through three
files written from the same registry (`message_spec`) as the codec and the README table, so the
client cannot drift from the classes:

- ``MetalAddresses.cs`` — one constant per address, named from the address
  (``/metal/scene/save`` → ``SceneSave``), and ``KnownStrings``: every address and enumerated
  string a server event can carry, which the decoder hands out as shared instances;
- ``MetalRanges.cs`` — per message class, how many arguments it takes and each argument's bounds,
  lengths, pattern, allowed values and default as constants, plus one ``Check…`` method per
  client → server argument, throwing what a C# caller expects (``ArgumentOutOfRangeException``,
  ``ArgumentException``, ``ArgumentNullException``) with the same rule the server applies;
- ``MetalMessages.cs`` — one builder per client → server address (named like its address
  constant), typed from the fields, checked through ``MetalRanges``, leaving out trailing
  arguments at their defaults as the Python encoder does, so both send the same bytes.

Float bounds are written as the nearest float32 *inside* the range: the client sends 32-bit
floats, and a bound such as 0.1 has no exact float32, so ``value <= 0.1f`` would let through a
value the server, comparing in float64, refuses.

``python -m metalosc.protocol._csharp --write`` regenerates the files (atomically), ``--check``
exits 1 when a committed one is stale (a test does the same). Hand-written C# only adds
conveniences on top, in other files (``MetalMessages`` is a partial class).
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ._addresses import ArgSpec, MessageSpec, message_spec
from ._files import write_atomic
from ._messages import MESSAGE_TYPES

CORE_DIR = (
    Path(__file__).resolve().parents[4] / "unity" / "Assets" / "MetalOSC" / "Runtime" / "Core"
)
"""Runtime/Core of the Unity package in a source checkout
(protocol/src/metalosc/protocol/_csharp.py -> the repository root)."""

ADDRESS_PREFIX = "/metal/"
REGENERATE = "python -m metalosc.protocol._csharp --write"
_HEADER = (
    "// Generated from the message classes of metalosc.protocol by\n"
    f"// `{REGENERATE}`; do not edit by hand.\n"
)
_DIRECTION = {"in": "client → server", "out": "server → client"}

# C# keywords that cannot be parameter names without '@'.
_CS_KEYWORDS = frozenset(
    [
        "abstract",
        "as",
        "base",
        "bool",
        "break",
        "byte",
        "case",
        "catch",
        "char",
        "checked",
        "class",
        "const",
        "continue",
        "decimal",
        "default",
        "delegate",
        "do",
        "double",
        "else",
        "enum",
        "event",
        "explicit",
        "extern",
        "false",
        "finally",
        "fixed",
        "float",
        "for",
        "foreach",
        "goto",
        "if",
        "implicit",
        "in",
        "int",
        "interface",
        "internal",
        "is",
        "lock",
        "long",
        "namespace",
        "new",
        "null",
        "object",
        "operator",
        "out",
        "override",
        "params",
        "private",
        "protected",
        "public",
        "readonly",
        "ref",
        "return",
        "sbyte",
        "sealed",
        "short",
        "sizeof",
        "stackalloc",
        "static",
        "string",
        "struct",
        "switch",
        "this",
        "throw",
        "true",
        "try",
        "typeof",
        "uint",
        "ulong",
        "unchecked",
        "unsafe",
        "ushort",
        "using",
        "virtual",
        "void",
        "volatile",
        "while",
    ]
)


# --- names ------------------------------------------------------------------------------------


def _pascal(text: str) -> str:
    return "".join(w[:1].upper() + w[1:] for w in re.split(r"[/_\-\s]+", text) if w)


def address_name(address: str) -> str:
    """The C# name of an address: its path after ``/metal/`` in PascalCase
    (``/metal/scene/save`` → ``SceneSave``). ValueError for an address outside ``/metal/``."""
    if not address.startswith(ADDRESS_PREFIX) or address == ADDRESS_PREFIX:
        raise ValueError(f"{address!r} is not a /metal/... address")
    return _pascal(address[len(ADDRESS_PREFIX) :])


def _parameter(arg: ArgSpec) -> str:
    pascal = _pascal(arg.name)
    name = pascal[:1].lower() + pascal[1:]
    return f"@{name}" if name in _CS_KEYWORDS else name


def _member(spec: MessageSpec, arg: ArgSpec) -> str:
    """`MetalRanges` prefix of an argument: class name + argument name, the argument dropped
    where it repeats the class (``Key.key`` → ``Key``)."""
    cls = spec.cls.__name__
    arg_name = _pascal(arg.name)
    return cls if arg_name == cls else cls + arg_name


# --- literals ---------------------------------------------------------------------------------


def _string(value: str) -> str:
    """A C# string literal (JSON's escapes are all valid C# escapes)."""
    return json.dumps(value, ensure_ascii=True)


def _xml(text: str) -> str:
    """`text` on one line for an XML doc comment, Markdown `code` as <c>code</c>."""
    escaped = html.escape(" ".join(text.split()), quote=False)
    return re.sub(r"`([^`]+)`", r"<c>\1</c>", escaped)


def _float32(value: np.float32) -> str:
    # str(), not format(): format() goes through a float64 and prints 0.05000000074505806.
    return str(value) + "f" if np.isfinite(value) else "float.NaN"


def _inside(bound: float, *, above: bool, strict: bool) -> np.float32:
    """The float32 nearest `bound` on the allowed side: the least float32 >= (or > when
    `strict`) `bound` for a lower bound (`above`), the greatest <= (<) for an upper one."""
    f = np.float32(bound)
    toward = np.float32(np.inf if above else -np.inf)
    while (
        (float(f) < bound or (strict and float(f) == bound))
        if above
        else (float(f) > bound or (strict and float(f) == bound))
    ):
        f = np.nextafter(f, toward, dtype=np.float32)
    return f


def _int_bound(value: float, *, above: bool, strict: bool) -> int:
    whole = int(value) if float(value).is_integer() else None
    if above:
        low = int(np.ceil(value))
        return low + 1 if strict and whole is not None else low
    high = int(np.floor(value))
    return high - 1 if strict and whole is not None else high


def _default(arg: ArgSpec) -> str | None:
    """The C# literal of the argument's default (None: no default value, or default None)."""
    value = arg.default
    if arg.required or arg.variadic or value is None:
        return None
    if arg.kind == "bool":
        return "true" if value else "false"
    if arg.kind == "int":
        return str(int(value))
    if arg.kind == "float":
        return _float32(np.float32(value)) if arg.tag == "f" else f"{float(value)!r}d"
    return _string(str(value))


# --- argument typing --------------------------------------------------------------------------


def _value_type(arg: ArgSpec) -> str:
    if arg.kind == "bool":
        return "bool"
    if arg.kind == "int":
        return "int"
    if arg.kind == "float":
        return "double" if arg.tag == "d" else "float"
    return "string"


def _is_nullable(arg: ArgSpec) -> bool:
    """An optional argument whose default is None: the builder takes null for it."""
    return not arg.required and not arg.variadic and arg.default is None


def _parameter_type(arg: ArgSpec) -> str:
    if arg.variadic:
        return "params OscArgument[]"
    value_type = _value_type(arg)
    if _is_nullable(arg) and value_type != "string":
        return value_type + "?"
    return value_type


def _has_check(arg: ArgSpec) -> bool:
    limits = arg.limits
    if arg.variadic or arg.kind == "bool":
        return False
    return (
        arg.kind == "str"
        or limits.ge is not None
        or limits.gt is not None
        or limits.le is not None
        or limits.lt is not None
        or limits.multiple_of is not None
    )


# --- MetalAddresses.cs ------------------------------------------------------------------------


def _first_sentence(text: str) -> str:
    match = re.match(r"(.+?\.)(\s|$)", text)
    return match.group(1) if match else text


def render_addresses(specs: Sequence[MessageSpec]) -> str:
    """MetalAddresses.cs: the address constants and the strings server events carry."""
    by_address: dict[str, list[MessageSpec]] = {}
    for spec in specs:
        by_address.setdefault(spec.address, []).append(spec)
    names: dict[str, str] = {}
    for address in by_address:
        name = address_name(address)
        if name in names.values():
            raise ValueError(f"two addresses map to the C# name {name}: {address}")
        names[address] = name
    lines = [
        _HEADER,
        "namespace MetalOSC.Core",
        "{",
        "    /// <summary>",
        "    /// The MetalOSC address space: one constant per address of the Python",
        "    /// <c>metalosc.protocol</c> message classes (protocol/README.md has the table).",
        "    /// </summary>",
        "    public static class MetalAddresses",
        "    {",
    ]
    for address, group in by_address.items():
        doc = " ".join(f"{_DIRECTION[s.direction]}: {_first_sentence(s.doc)}" for s in group)
        lines.append(f"        /// <summary>{_xml(doc)}</summary>")
        lines.append(f"        public const string {names[address]} = {_string(address)};")
        lines.append("")
    known: dict[str, None] = {}
    for spec in specs:
        if spec.direction == "out":
            known[spec.address] = None
    for spec in specs:
        if spec.direction != "out":
            continue
        for arg in spec.args:
            for choice in arg.limits.choices:
                known[choice] = None
            if arg.kind == "str" and isinstance(arg.default, str):
                known[arg.default] = None
    known[""] = None
    lines += [
        "        /// <summary>Every address and enumerated string a server event may carry,",
        "        /// which the decoder returns as these shared instances instead of allocating."
        "</summary>",
        "        public static readonly string[] KnownStrings =",
        "        {",
        *_wrapped([_string(s) + "," for s in known], "            "),
        "        };",
        "    }",
        "}",
        "",
    ]
    return "\n".join(lines)


def _wrapped(items: Iterable[str], indent: str, width: int = 110) -> list[str]:
    lines: list[str] = []
    current = ""
    for item in items:
        candidate = f"{current} {item}" if current else item
        if current and len(indent) + len(candidate) > width:
            lines.append(indent + current)
            candidate = item
        current = candidate
    if current:
        lines.append(indent + current)
    return lines


# --- MetalRanges.cs ---------------------------------------------------------------------------


def _constant(kind: str, name: str, value: str, doc: str) -> list[str]:
    return [
        f"        /// <summary>{_xml(doc)}</summary>",
        f"        public const {kind} {name} = {value};",
    ]


def _range_members(spec: MessageSpec) -> list[str]:
    cls = spec.cls.__name__
    where = f"{spec.address} ({_DIRECTION[spec.direction]})"
    lines = [f"        // --- {where}: {cls}", ""]
    lines += _constant("int", f"{cls}MinArgs", str(spec.min_args), f"{where}: fewest arguments.")
    if spec.max_args is not None:
        lines += _constant("int", f"{cls}MaxArgs", str(spec.max_args), f"{where}: most arguments.")
    for arg in spec.args:
        if arg.variadic:
            continue
        member = _member(spec, arg)
        what = f"{spec.address} {arg.name}"
        limits = arg.limits
        value_type = _value_type(arg)
        if arg.kind in ("int", "float"):
            low = limits.ge if limits.gt is None else limits.gt
            high = limits.le if limits.lt is None else limits.lt
            if low is not None:
                lines += _constant(
                    value_type,
                    f"{member}Min",
                    _bound(arg, low, above=True, strict=limits.gt is not None),
                    f"{what}: least value allowed.",
                )
            if high is not None:
                lines += _constant(
                    value_type,
                    f"{member}Max",
                    _bound(arg, high, above=False, strict=limits.lt is not None),
                    f"{what}: greatest value allowed.",
                )
            if limits.multiple_of is not None:
                lines += _constant(
                    "int", f"{member}MultipleOf", str(limits.multiple_of), f"{what}: a multiple of."
                )
            if arg.none_as is not None:
                lines += _constant(
                    value_type,
                    f"{member}None",
                    str(arg.none_as),
                    f"{what}: the wire value standing for none ({arg.description}).",
                )
        if limits.min_length is not None:
            lines += _constant(
                "int", f"{member}MinLength", str(limits.min_length), f"{what}: fewest characters."
            )
        if limits.max_length is not None:
            lines += _constant(
                "int", f"{member}MaxLength", str(limits.max_length), f"{what}: most characters."
            )
        if limits.pattern is not None:
            lines += _constant(
                "string",
                f"{member}Pattern",
                _string(_dotnet_pattern(limits.pattern)),
                f"{what}: the regular expression the whole text matches.",
            )
        if limits.choices:
            values = ", ".join(_string(c) for c in limits.choices)
            lines += [
                f"        /// <summary>{_xml(what)}: the values allowed.</summary>",
                f"        public static readonly ReadOnlyCollection<string> {member}Values =",
                f"            Array.AsReadOnly(new[] {{ {values} }});",
            ]
        default = _default(arg)
        if default is not None:
            lines += _constant(value_type, f"{member}Default", default, f"{what}: the default.")
    lines.append("")
    if spec.direction == "in":
        for arg in spec.args:
            if _has_check(arg):
                lines += _check_method(spec, arg)
    return lines


def _bound(arg: ArgSpec, value: float, *, above: bool, strict: bool) -> str:
    if arg.kind == "int":
        return str(_int_bound(value, above=above, strict=strict))
    if arg.tag == "d":
        return f"{float(value)!r}d"
    return _float32(_inside(value, above=above, strict=strict))


def _dotnet_pattern(pattern: str) -> str:
    """`pattern` for .NET's Regex: a final ``$`` becomes ``\\z`` (.NET's ``$`` also matches
    before a final newline, pydantic's does not)."""
    return (
        pattern[:-1] + r"\z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern
    )


def _rule(arg: ArgSpec) -> str:
    """The constraint for people, without the wire's stand-in for none (the builder takes
    null for that)."""
    text = arg.constraint
    suffix = f" or {arg.none_as}"
    return text[: -len(suffix)] if arg.none_as is not None and text.endswith(suffix) else text


def _check_method(spec: MessageSpec, arg: ArgSpec) -> list[str]:
    member = _member(spec, arg)
    what = f"{spec.address} {arg.name}"
    rule = _rule(arg)
    value_type = _value_type(arg)
    limits = arg.limits
    body: list[str] = []
    if arg.kind == "str":
        body += [
            "            if (value == null) throw new ArgumentNullException(paramName);",
        ]
        conditions: list[str] = []
        if limits.choices:
            conditions.append(f"!{member}Values.Contains(value)")
        if limits.min_length is not None:
            conditions.append(f"value.Length < {member}MinLength")
        if limits.max_length is not None:
            conditions.append(f"value.Length > {member}MaxLength")
        if limits.pattern is not None:
            conditions.append(f"!Regex.IsMatch(value, {member}Pattern)")
        if conditions:
            body += [
                f"            if ({' || '.join(conditions)})",
                "            {",
                "                throw new ArgumentException(",
                "                    "
                + _string(f"{what} must be {rule}, got '")
                + ' + value + "\'", paramName);',
                "            }",
            ]
    else:
        conditions = []
        bounded_below = limits.ge is not None or limits.gt is not None
        bounded_above = limits.le is not None or limits.lt is not None
        if bounded_below:
            conditions.append(f"value >= {member}Min")  # false for NaN
        if bounded_above:
            conditions.append(f"value <= {member}Max")
        if limits.multiple_of is not None:
            conditions.append(f"value % {member}MultipleOf == 0")
        if arg.kind == "float" and not (bounded_below and bounded_above):
            # The server takes finite floats only.
            conditions.append(f"!{value_type}.IsNaN(value) && !{value_type}.IsInfinity(value)")
        test = " && ".join(conditions)
        body += [
            f"            if (!({test}))",
            "            {",
            "                throw new ArgumentOutOfRangeException(",
            f"                    paramName, value, {_string(f'{what} must be {rule}')});",
            "            }",
        ]
    return [
        f'        /// <summary>Throws unless <paramref name="value"/> is a valid {_xml(what)}: '
        f"{_xml(rule)}.</summary>",
        f"        public static void Check{member}({value_type} value, string paramName)",
        "        {",
        *body,
        "        }",
        "",
    ]


def render_ranges(specs: Sequence[MessageSpec]) -> str:
    """MetalRanges.cs: argument counts, bounds, lengths, patterns, values and defaults of every
    message, and the checks of the client → server arguments."""
    lines = [
        _HEADER,
        "using System;",
        "using System.Collections.ObjectModel;",
        "using System.Text.RegularExpressions;",
        "",
        "namespace MetalOSC.Core",
        "{",
        "    /// <summary>",
        "    /// What the server accepts, per message class of <c>metalosc.protocol</c>: argument",
        "    /// counts, and each argument's bounds, lengths, pattern, allowed values and default.",
        "    /// The <c>Check…</c> methods apply the server's rule to a client → server argument, so",  # noqa: E501 (a generated C# line)
        "    /// a bad value fails where it is built instead of coming back as <c>/metal/error</c>.",  # noqa: E501 (a generated C# line)
        "    /// Float bounds are the nearest float32 inside the range.",
        "    /// </summary>",
        "    public static class MetalRanges",
        "    {",
    ]
    for spec in specs:
        lines += _range_members(spec)
    while lines[-1] == "":
        lines.pop()
    lines += ["    }", "}", ""]
    return "\n".join(lines)


# --- MetalMessages.cs -------------------------------------------------------------------------


def _signature(arg: ArgSpec) -> str:
    parameter = f"{_parameter_type(arg)} {_parameter(arg)}"
    if arg.required or arg.variadic:
        return parameter
    default = _default(arg)
    return f"{parameter} = {default if default is not None else 'null'}"


def _differs_from_default(arg: ArgSpec) -> str:
    name = _parameter(arg)
    if _is_nullable(arg):
        return f"{name} != null" if _value_type(arg) == "string" else f"{name}.HasValue"
    if arg.kind == "bool":
        return name if arg.default is False else f"!{name}"
    return f"{name} != {_default(arg)}"


def _wire_value(arg: ArgSpec) -> str:
    name = _parameter(arg)
    if _is_nullable(arg) and _value_type(arg) != "string":
        name = f"{name}.Value" if arg.none_as is None else f"{name} ?? {arg.none_as}"
    return f"{name} ? 1 : 0" if arg.kind == "bool" else name


def _tags(spec: MessageSpec) -> str:
    parts = []
    for arg in spec.args:
        text = "..." if arg.variadic else f"{arg.tag} {arg.name}"
        parts.append(text if arg.required and not arg.variadic else f"[{text}]")
    return " ".join(parts)


def _builder(spec: MessageSpec) -> list[str]:
    name = address_name(spec.address)
    args = list(spec.args)
    seen_optional = False
    for i, arg in enumerate(args):
        if arg.variadic and i != len(args) - 1:
            raise ValueError(f"{spec.cls.__name__}: a variadic argument must come last")
        if not arg.required:
            seen_optional = True
        elif seen_optional:
            raise ValueError(f"{spec.cls.__name__}: required {arg.name} after an optional one")
    doc = [
        f"        /// <summary><c>{_xml(' '.join([spec.address, _tags(spec)]).strip())}</c>: "
        f"{_xml(spec.doc)}</summary>"
    ]
    for arg in args:
        text = arg.description or arg.name
        if arg.constraint and not arg.variadic:
            text += f" ({_rule(arg)})"
        if _is_nullable(arg):
            text += "; null: left out" if arg.none_as is None else "; null: none"
        elif not arg.required and not arg.variadic:
            text += f"; left out at the default {_default(arg)} when nothing after it is sent"
        doc.append(f'        /// <param name="{_parameter(arg).lstrip("@")}">{_xml(text)}</param>')
    body: list[str] = []
    for arg in args:
        if not _has_check(arg):
            continue
        check = f"MetalRanges.Check{_member(spec, arg)}"
        parameter = _parameter(arg)
        value = f"{parameter}.Value" if _parameter_type(arg).endswith("?") else parameter
        call = f"{check}({value}, nameof({parameter.lstrip('@')}));"
        if _is_nullable(arg):
            test = (
                f"{parameter} != null" if _value_type(arg) == "string" else f"{parameter}.HasValue"
            )
            body.append(f"            if ({test}) {call}")
        else:
            body.append(f"            {call}")
    if not args:
        body.append(f"            return new OscMessage(MetalAddresses.{name});")
        return [
            *doc,
            f"        public static OscMessage {name}()",
            "        {",
            *body,
            "        }",
            "",
        ]
    body.append(f"            var message = new OscMessage(MetalAddresses.{name});")
    optional = [i for i, a in enumerate(args) if not a.required and not a.variadic]
    if optional:
        chain = ""
        for i in reversed(optional):
            chain += f"{_differs_from_default(args[i])} ? {i + 1} : "
        chain += str(optional[0])
        body.append(
            "            // Trailing arguments at their defaults are left out, as the Python encoder does."  # noqa: E501 (a generated C# line)
        )
        body.append(f"            int count = {chain};")
    for i, arg in enumerate(args):
        parameter = _parameter(arg)
        if arg.variadic:
            body += [
                f"            if ({parameter} != null)",
                "            {",
                f"                foreach (OscArgument argument in {parameter}) message.Add(argument);",  # noqa: E501 (a generated C# line)
                "            }",
            ]
            continue
        add = f"message.Add({_wire_value(arg)});"
        if arg.required:
            body.append(f"            {add}")
            continue
        if _is_nullable(arg) and arg.none_as is None and i < optional[-1]:
            later = _string(f"{arg.name} is needed when a later argument is given")
            test = (
                f"{parameter} == null" if _value_type(arg) == "string" else f"!{parameter}.HasValue"
            )
            body += [
                f"            if (count > {i})",
                "            {",
                f"                if ({test}) throw new ArgumentException({later}, nameof({parameter.lstrip('@')}));",  # noqa: E501 (a generated C# line)
                f"                {add}",
                "            }",
            ]
        else:
            body.append(f"            if (count > {i}) {add}")
    body.append("            return message;")
    signature = ", ".join(_signature(a) for a in args)
    return [
        *doc,
        f"        public static OscMessage {name}({signature})",
        "        {",
        *body,
        "        }",
        "",
    ]


def render_messages(specs: Sequence[MessageSpec]) -> str:
    """MetalMessages.cs: one builder per client → server address."""
    lines = [
        _HEADER,
        "using System;",
        "",
        "namespace MetalOSC.Core",
        "{",
        "    /// <summary>",
        "    /// Builders for the client → server messages, one per address (named like its",
        '    /// <see cref="MetalAddresses"/> constant). Each checks its arguments with the rule the',  # noqa: E501 (a generated C# line)
        '    /// server applies (<see cref="MetalRanges"/>), so a bad value fails at the call site',
        "    /// in the game instead of coming back as an asynchronous <c>/metal/error</c>, and leaves",  # noqa: E501 (a generated C# line)
        "    /// out trailing arguments at their defaults: the bytes equal the Python encoder's.",
        "    /// </summary>",
        "    public static partial class MetalMessages",
        "    {",
    ]
    for spec in specs:
        if spec.direction == "in":
            lines += _builder(spec)
    while lines[-1] == "":
        lines.pop()
    lines += ["    }", "}", ""]
    return "\n".join(lines)


# --- files --------------------------------------------------------------------------------------

_RENDERERS: Mapping[str, Callable[[Sequence[MessageSpec]], str]] = {
    "MetalAddresses.cs": render_addresses,
    "MetalRanges.cs": render_ranges,
    "MetalMessages.cs": render_messages,
}


def render_files(core_dir: Path = CORE_DIR) -> dict[Path, str]:
    """Every generated file's path (under `core_dir`) and its text."""
    specs = [message_spec(cls) for cls in MESSAGE_TYPES]
    return {core_dir / name: render(specs) for name, render in _RENDERERS.items()}


def stale_files(core_dir: Path = CORE_DIR) -> list[Path]:
    """The generated files whose committed text differs from what the classes generate."""
    return [
        path
        for path, text in render_files(core_dir).items()
        if not path.exists() or path.read_text(encoding="utf-8") != text
    ]


def write(core_dir: Path = CORE_DIR) -> list[Path]:
    """Regenerates the stale files atomically; returns the ones that changed."""
    changed = stale_files(core_dir)
    files = render_files(core_dir)
    for path in changed:
        write_atomic(path, files[path])
    return changed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m metalosc.protocol._csharp",
        description="Generate the C# client's addresses, ranges and builders from the classes.",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="update the C# files in place")
    action.add_argument("--check", action="store_true", help="exit 1 if a C# file is stale")
    parser.add_argument("--core-dir", type=Path, default=CORE_DIR, help="Runtime/Core folder")
    args = parser.parse_args(argv)
    if args.write:
        changed = write(args.core_dir)
        for path in changed:
            print(f"{path}: updated")
        if not changed:
            print(f"{args.core_dir}: already up to date")
        return 0
    if args.check:
        stale = stale_files(args.core_dir)
        for path in stale:
            print(f"{path}: stale; run {REGENERATE}")
        return 1 if stale else 0
    for path, text in render_files(args.core_dir).items():
        print(f"// ===== {path.name}\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
