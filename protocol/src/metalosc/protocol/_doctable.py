"""The address-space table of protocol/README.md, generated from the message classes.

The table sits between two marker comments in the README; everything else there is prose kept by
hand. `python -m metalosc.protocol._doctable --write` regenerates it, `--check` exits 1 when the
committed table is stale (a test does the same), so the docs cannot drift from the classes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ._addresses import ACCEPTED_TAGS, ArgSpec, MessageSpec, message_spec, tag_list
from ._files import write_atomic
from ._messages import MESSAGE_TYPES

BEGIN_MARKER = (
    "<!-- BEGIN ADDRESS TABLE: generated from the message classes by "
    "`python -m metalosc.protocol._doctable --write`; do not edit by hand -->"
)
END_MARKER = "<!-- END ADDRESS TABLE -->"
README = Path(__file__).resolve().parents[3] / "README.md"
"""protocol/README.md in a source checkout (src/metalosc/protocol/_doctable.py -> protocol/)."""

_DIRECTION = {"in": "client → server", "out": "server → client"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _argument(arg: ArgSpec) -> str:
    text = f"`...` ({tag_list(arg.accepted)})" if arg.variadic else f"`{arg.tag} {arg.name}`"
    return text if arg.required and not arg.variadic else f"[{text}]"


def _range(arg: ArgSpec) -> str:
    parts = [f"`{arg.name}`"]
    if arg.constraint:
        parts[0] += ":"
        parts.append(arg.constraint)
    if not arg.required and not arg.variadic:
        shown = "none" if arg.default is None else repr(arg.default)
        parts.append(f"(default {shown})")
    if arg.description:
        parts.append(f"— {arg.description}")
    return " ".join(parts)


def _row(spec: MessageSpec) -> str:
    arguments = ", ".join(_argument(a) for a in spec.args) or "—"
    ranges = "; ".join(_range(a) for a in spec.args) or "—"
    cells = [f"`{spec.address}`", _DIRECTION[spec.direction], arguments, ranges, spec.doc]
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def render_address_table() -> str:
    """The generated Markdown: one row per message class, then how decoding reads the tags."""
    specs = [message_spec(cls) for cls in MESSAGE_TYPES]
    lines = [
        "| address | direction | arguments | ranges / defaults | meaning |",
        "|---|---|---|---|---|",
        *(_row(spec) for spec in specs),
        "",
        "Type tags accepted when decoding (MetalOSC itself sends the tags shown above): "
        + "; ".join(
            f"{kind} ← {tag_list(tags)}" for kind, tags in ACCEPTED_TAGS.items() if kind != "any"
        )
        + ". Whole-number floats are accepted for integers (TouchOSC sends floats), "
        "`T`/`F` and 0/1 for booleans; trailing arguments with defaults may be left out. "
        "Anything else is answered with `/metal/error s address s reason`.",
    ]
    return "\n".join(lines)


def _split(text: str, path: Path) -> tuple[str, str]:
    start = text.find(BEGIN_MARKER)
    end = text.find(END_MARKER)
    if start < 0 or end < start:
        raise ValueError(f"{path}: address-table markers not found")
    return text[: start + len(BEGIN_MARKER)], text[end:]


def with_table(text: str, path: Path = README) -> str:
    """`text` (a README) with the generated table between its markers."""
    head, tail = _split(text, path)
    return f"{head}\n{render_address_table()}\n{tail}"


def is_stale(path: Path = README) -> bool:
    """Whether the table in `path` differs from what the classes generate."""
    text = path.read_text(encoding="utf-8")
    return with_table(text, path) != text


def write(path: Path = README) -> bool:
    """Regenerates the table in `path` atomically; returns whether the file changed."""
    text = path.read_text(encoding="utf-8")
    updated = with_table(text, path)
    if updated == text:
        return False
    write_atomic(path, updated)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m metalosc.protocol._doctable",
        description="Generate the OSC address table of protocol/README.md from the classes.",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--write", action="store_true", help="update the README in place")
    action.add_argument("--check", action="store_true", help="exit 1 if the README is stale")
    parser.add_argument("--readme", type=Path, default=README, help="README path")
    args = parser.parse_args(argv)
    if args.write:
        changed = write(args.readme)
        print(f"{args.readme}: {'updated' if changed else 'already up to date'}")
        return 0
    if args.check:
        if is_stale(args.readme):
            print(f"{args.readme}: address table is stale; run {parser.prog} --write")
            return 1
        return 0
    print(render_address_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
