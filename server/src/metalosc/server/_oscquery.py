"""The OSC address space as OSCQuery JSON, with the daemon's live values (pure).

OSCQuery (the Vidvox OSCQuery proposal) lets tools such as Chataigne and ossia score browse an
OSC server over HTTP: ``GET /`` returns the whole address space as nested JSON nodes, ``GET
/metal/tension`` one node, ``GET /metal/tension?VALUE`` one attribute of it, ``GET /?HOST_INFO``
where the OSC server is. Every node here is generated from the protocol's message classes
(:data:`metalosc.protocol.INCOMING`): the client-to-server addresses are the methods, their path
components the containers.

A method's ``TYPE`` is the type tags of its required arguments (``"N"``, nil, when it has none:
a "bang" such as /metal/play, which the codec accepts); each longer form with optional arguments
is an ``OVERLOADS`` entry. ``RANGE`` gives ``MIN``/``MAX`` from the field bounds and ``VALS``
for names (instruments, keys, transitions, the saved scenes). ``VALUE`` and ``ACCESS`` 3 come
with the methods whose value ``/metal/state`` reports (``state_field``); /metal/state itself is
read-only and its ``VALUE`` is every parameter; the others are write-only (``ACCESS`` 2).
"""

from __future__ import annotations

import dataclasses
import json
import types
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, Union, get_args, get_origin
from urllib.parse import unquote

import annotated_types
import trio
from metalosc.protocol import INCOMING, ArgSpec as ArgSpecType, MessageSpec, State, message_spec

from ._http import HttpAnswer

__all__ = [
    "ATTRIBUTES",
    "EXTENSIONS",
    "HostInfo",
    "Reply",
    "answer",
    "http_handler",
    "namespace",
]

JSON = Any
"""A JSON value (dicts, lists, str, int, float, bool, None)."""

ATTRIBUTES = ("FULL_PATH", "CONTENTS", "TYPE", "ACCESS", "VALUE", "RANGE", "DESCRIPTION")
"""The attributes this server provides and answers ``?ATTRIBUTE`` queries for (with
``OVERLOADS`` and ``HOST_INFO``)."""
EXTENSIONS: Mapping[str, bool] = {
    "ACCESS": True,
    "VALUE": True,
    "RANGE": True,
    "DESCRIPTION": True,
    "OVERLOADS": True,
    "TAGS": False,
    "EXTENDED_TYPE": False,
    "UNIT": False,
    "CRITICAL": False,
    "CLIPMODE": False,
    "HTML": False,
    "LISTEN": False,
    "PATH_CHANGED": False,
}
"""What ``HOST_INFO`` says of the proposal's optional attributes: the ones provided, and those
known but not provided (no websocket streaming: values are polled with ``?VALUE``)."""
_KNOWN = frozenset(ATTRIBUTES) | frozenset(EXTENSIONS) | {"HOST_INFO", "IGNORE", "PATH_RENAMED"}

ACCESS_NONE, ACCESS_READ, ACCESS_WRITE = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class HostInfo:
    """Where the OSC server is: ``HOST_INFO``'s ``NAME``, ``OSC_IP`` (``None``: the HTTP
    server's own address) and ``OSC_PORT``; the transport is always UDP."""

    name: str
    osc_port: int
    osc_ip: str | None = None

    def json(self) -> dict[str, JSON]:
        info: dict[str, JSON] = {
            "NAME": self.name,
            "EXTENSIONS": dict(EXTENSIONS),
            "OSC_PORT": self.osc_port,
            "OSC_TRANSPORT": "UDP",
        }
        if self.osc_ip is not None:
            info["OSC_IP"] = self.osc_ip
        return info


@dataclasses.dataclass(frozen=True)
class Reply:
    """An HTTP answer: ``status`` (200, 204, 400, 404), ``reason`` for people, and the JSON
    ``body`` (``None`` for 204 and errors, whose reason is the body)."""

    status: int
    reason: str
    body: JSON = None

    def payload(self) -> bytes:
        """The response body: JSON for a 200, the reason as text otherwise (empty for 204)."""
        if self.status == 200:
            return json.dumps(self.body, indent=1, allow_nan=False).encode("utf-8")
        return b"" if self.status == 204 else (self.reason + "\n").encode("utf-8")


def _number(value: object) -> JSON:
    return value if isinstance(value, int | float) else None


def _range(spec: MessageSpec, arg: ArgSpecType, choices: Mapping[str, Sequence[str]]) -> JSON:
    """One RANGE object for an argument, from its field's bounds and type."""
    if arg.kind == "bool":
        return {"MIN": 0, "MAX": 1}
    info = spec.cls.model_fields[arg.field]
    annotation = info.annotation
    if get_origin(annotation) in (Union, types.UnionType):  # `X | None`: None is left out
        annotation = next(a for a in get_args(annotation) if a is not type(None))
    if get_origin(annotation) is Literal:
        return {"VALS": list(get_args(annotation))}
    live = choices.get(arg.field)
    if live is not None:
        return {"VALS": list(live)}
    bounds: dict[str, JSON] = {}
    step: int | None = None
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge):
            bounds["MIN"] = _number(item.ge)
        elif isinstance(item, annotated_types.Le):
            bounds["MAX"] = _number(item.le)
        elif isinstance(item, annotated_types.MultipleOf) and isinstance(item.multiple_of, int):
            step = item.multiple_of
    if arg.none_as is not None and "MIN" in bounds:
        bounds["MIN"] = min(bounds["MIN"], arg.none_as)
    if step is not None and isinstance(bounds.get("MIN"), int) and "MAX" in bounds:
        low = -(-bounds["MIN"] // step) * step
        bounds["VALS"] = list(range(low, int(bounds["MAX"]) + 1, step))
    return bounds or None


def _signature(
    spec: MessageSpec, args: Sequence[ArgSpecType], choices: Mapping[str, Sequence[str]]
) -> dict[str, JSON]:
    if not args:
        return {"TYPE": "N"}
    return {
        "TYPE": "".join(a.tag for a in args),
        "RANGE": [_range(spec, a, choices) for a in args],
    }


def _scene_choices(spec: MessageSpec, scenes: Sequence[str]) -> dict[str, Sequence[str]]:
    """Live choices: a scene to morph to or delete is one of the saved scenes."""
    if spec.address in ("/metal/interpolate", "/metal/scene/delete"):
        field = spec.args[0].field
        return {field: scenes}
    return {}


def _wire_value(arg: ArgSpecType, value: object) -> JSON:
    return int(value) if arg.kind == "bool" else value  # type: ignore[call-overload]


def _method(spec: MessageSpec, state: State, scenes: Sequence[str]) -> dict[str, JSON]:
    """The node of one client-to-server address."""
    choices = _scene_choices(spec, scenes)
    fixed = [a for a in spec.args if not a.variadic]
    required = [a for a in fixed if a.required]
    node: dict[str, JSON] = {
        "FULL_PATH": spec.address,
        "DESCRIPTION": spec.doc,
        **_signature(spec, required, choices),
    }
    overloads = [
        _signature(spec, fixed[:n], choices) for n in range(len(required) + 1, len(fixed) + 1)
    ]
    if spec.address == State.address:
        reply = message_spec(State)
        node.update(_signature(reply, reply.args, {}))
        node["ACCESS"] = ACCESS_READ
        node["VALUE"] = [_wire_value(a, getattr(state, a.field)) for a in reply.args]
        node["DESCRIPTION"] = (
            f"{reply.doc} Its VALUE is every parameter now; send it without arguments for a "
            "/metal/state reply."
        )
        return node
    field = spec.cls.state_field
    if field is not None and "{" not in field and len(required) == 1:
        node["ACCESS"] = ACCESS_READ | ACCESS_WRITE
        node["VALUE"] = [_wire_value(required[0], getattr(state, field))]
    else:
        node["ACCESS"] = ACCESS_WRITE
    if overloads:
        node["OVERLOADS"] = overloads
    return node


def namespace(state: State, scenes: Sequence[str], name: str = "MetalOSC") -> dict[str, JSON]:
    """The whole address space as one OSCQuery root node: every client-to-server address with
    its type, ranges and, where ``/metal/state`` reports one, its value now (``state``);
    ``scenes`` are the saved scene names (the choices of /metal/interpolate's scene)."""
    root: dict[str, JSON] = {"FULL_PATH": "/", "ACCESS": ACCESS_NONE, "DESCRIPTION": name}
    for address in sorted(INCOMING):
        parts = address.strip("/").split("/")
        node = root
        for depth, part in enumerate(parts[:-1]):
            contents = node.setdefault("CONTENTS", {})
            node = contents.setdefault(
                part,
                {"FULL_PATH": "/" + "/".join(parts[: depth + 1]), "ACCESS": ACCESS_NONE},
            )
        node.setdefault("CONTENTS", {})[parts[-1]] = _method(INCOMING[address], state, scenes)
    return root


def _find(root: dict[str, JSON], path: str) -> dict[str, JSON] | None:
    node = root
    for part in [p for p in path.split("/") if p]:
        contents = node.get("CONTENTS")
        if not isinstance(contents, dict) or part not in contents:
            return None
        node = contents[part]
    return node


def answer(target: str, root: dict[str, JSON], host: HostInfo) -> Reply:
    """The reply to ``GET target`` (path, optional ``?ATTRIBUTE``; a fragment is ignored):
    a node, one attribute of it, or ``HOST_INFO``. 404 for an address that does not exist, 400
    for an attribute the proposal does not define or a malformed query, 204 for one it defines
    that this server does not provide and for the ``VALUE`` of a method that has none to read."""
    target = target.split("#", 1)[0]
    path, _, query = target.partition("?")
    path = unquote(path)
    if not path.startswith("/"):
        return Reply(400, f"not a path: {path[:64]!r}")
    if query == "HOST_INFO":
        return Reply(200, "OK", host.json())
    node = _find(root, path)
    if node is None:
        return Reply(404, f"no OSC container or method at {path[:200]}")
    if not query:
        return Reply(200, "OK", node)
    attribute = unquote(query)
    if attribute not in _KNOWN:
        known = ", ".join((*ATTRIBUTES, "OVERLOADS", "HOST_INFO"))
        return Reply(400, f"unknown attribute {attribute[:64]!r} (this server answers {known})")
    if attribute == "VALUE":
        if not int(node.get("ACCESS", 0)) & ACCESS_READ:
            return Reply(204, f"{path} has no value to read")
        return Reply(200, "OK", {"VALUE": node["VALUE"]} if "VALUE" in node else {})
    if attribute not in ATTRIBUTES and attribute != "OVERLOADS":
        return Reply(204, f"{attribute} is not provided by this server")
    return Reply(200, "OK", {attribute: node[attribute]} if attribute in node else {})


def _http_answer(target: str, state: State, scenes: Sequence[str], host: HostInfo) -> HttpAnswer:
    reply = answer(target, namespace(state, scenes, host.name), host)
    kind = "application/json" if reply.status == 200 else "text/plain; charset=utf-8"
    return HttpAnswer(reply.status, reply.payload(), kind)


def http_handler(
    live: Callable[[], tuple[State, Sequence[str]]], host: HostInfo
) -> Callable[[str], Awaitable[HttpAnswer]]:
    """The OSCQuery server's HTTP handler: each request answered from the values ``live``
    returns at that moment (the daemon's ``/metal/state`` and saved scene names). The values
    are read on the event loop; the JSON is built in a worker thread (a few milliseconds of
    Python for the whole namespace that the event loop must not spend)."""

    async def handle(target: str) -> HttpAnswer:
        state, scenes = live()
        return await trio.to_thread.run_sync(_http_answer, target, state, tuple(scenes), host)

    return handle
