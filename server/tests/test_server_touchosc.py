"""The TouchOSC layout: committed as generated, every control sending what the protocol accepts,
its Lua following the daemon and keeping the subscription alive.

Rules: the ``.tosc`` file is read as TouchOSC reads it (zlib, then XML) and checked without the
generator's own data: each control's OSC message is rebuilt from its XML (path, constants, the
value scaled to its range, the property it names) and decoded by ``metalosc.protocol``. The Lua
scripts run in real Lua interpreters (5.1, TouchOSC's dialect, and 5.4) through lupa, against a
small stand-in for TouchOSC's script API (controls, ``sendOSC``, ``getMillis``); the daemon's
messages fed to them are encoded by the protocol and parsed back by python-osc.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from metalosc.protocol import (
    INCOMING,
    INSTRUMENTS,
    KEY_NAMES,
    Beat,
    Interpolate,
    MessageBase,
    SceneList,
    State,
    decode,
    encode,
)
from metalosc.server import Settings
from metalosc.server._touchosc import (
    LAYOUT_FILE,
    MORPH_BARS,
    SCENE_SLOTS,
    main,
    render_layout,
)
from pythonosc import osc_message, osc_message_builder


def nodes(element: ET.Element) -> Iterator[ET.Element]:
    yield from element.iter("node")


def prop(node: ET.Element, key: str) -> str | None:
    for p in node.findall("properties/property"):
        if p.findtext("key") == key:
            return p.findtext("value") or ""
    return None


@pytest.fixture(scope="module")
def document() -> ET.Element:
    return ET.fromstring(zlib.decompress(LAYOUT_FILE.read_bytes()))


@pytest.fixture(scope="module")
def controls(document: ET.Element) -> dict[str, ET.Element]:
    found = {prop(n, "name"): n for n in nodes(document)}
    assert None not in found
    return {str(k): v for k, v in found.items()}


# -- the file ------------------------------------------------------------------------------


def test_the_committed_layout_is_what_the_generator_writes(tmp_path: Path) -> None:
    assert render_layout() == render_layout()  # deterministic
    assert LAYOUT_FILE.read_bytes() == render_layout(), (
        "touchosc/metalosc.tosc is stale: run `metalosc touchosc`"
    )
    out = tmp_path / "layout.tosc"
    assert main(argparse.Namespace(out=out, feedback_port=8000, check=False)) == 0
    assert out.read_bytes() == LAYOUT_FILE.read_bytes()
    assert main(argparse.Namespace(out=out, feedback_port=8000, check=True)) == 0
    out.write_bytes(b"old")
    assert main(argparse.Namespace(out=out, feedback_port=8000, check=True)) == 1


def test_it_is_a_touchosc_document(document: ET.Element, controls: dict[str, ET.Element]) -> None:
    assert document.tag == "lexml"
    assert document.get("version") == "3"
    (root,) = document.findall("node")
    assert root.get("type") == "GROUP"
    ids = [n.get("ID") for n in nodes(document)]
    assert len(set(ids)) == len(ids)
    for node in nodes(document):
        assert node.get("type") in ("GROUP", "FADER", "BUTTON", "LABEL", "RADIO")
        frame = node.find("properties/property[key='frame']/value")
        assert frame is not None
        x, y, w, h = (int(frame.findtext(k) or "-1") for k in "xywh")
        assert 0 <= x <= x + w <= 1024, prop(node, "name")
        assert 0 <= y <= y + h <= 768, prop(node, "name")


# -- what the controls send -----------------------------------------------------------------


def scaled(partial: ET.Element, x: float) -> tuple[object, str]:
    conversion = partial.findtext("conversion")
    low = float(partial.findtext("scaleMin") or "nan")
    high = float(partial.findtext("scaleMax") or "nan")
    value = low + x * (high - low)
    if conversion == "FLOAT":
        return value, "f"
    assert conversion == "INTEGER"
    return round(value), "i"


def constant(partial: ET.Element, text: str) -> tuple[object, str]:
    conversion = partial.findtext("conversion")
    if conversion == "STRING":
        return text, "s"
    assert conversion == "INTEGER", conversion
    return int(text), "i"


def sent(node: ET.Element, tags: list[str]) -> Iterator[tuple[str, bytes]]:
    """Every OSC message ``node`` can send: a value at both ends of its scale, its property
    ``tag`` at each value the layout gives it (``tags``)."""
    for osc in node.findall("messages/osc"):
        assert osc.findtext("send") == "1"
        (path,) = osc.findall("path/partial")
        assert path.findtext("type") == "CONSTANT"
        address = path.findtext("value") or ""
        partials = osc.findall("arguments/partial")
        variants: list[list[tuple[object, str]]] = [[]]
        for partial in partials:
            kind = partial.findtext("type")
            if kind == "CONSTANT":
                options = [constant(partial, partial.findtext("value") or "")]
            elif kind == "VALUE":
                assert partial.findtext("value") == "x"
                options = [scaled(partial, 0.0), scaled(partial, 1.0)]
            else:
                assert kind == "PROPERTY"
                assert partial.findtext("value") == "tag"
                options = [constant(partial, t) for t in tags]
            variants = [[*v, o] for v in variants for o in options]
        for args in variants:
            builder = osc_message_builder.OscMessageBuilder(address=address)
            for value, tag in args:
                builder.add_arg(value, tag)  # type: ignore[arg-type]
            yield address, builder.build().dgram


def bounds(cls: type[MessageBase], field: str) -> tuple[float, float]:
    metadata = cls.model_fields[field].metadata
    low = next(m.ge for m in metadata if isinstance(m, annotated_types.Ge))
    high = next(m.le for m in metadata if isinstance(m, annotated_types.Le))
    return float(low), float(high)  # type: ignore[arg-type]


def test_every_control_sends_what_the_protocol_accepts(controls: dict[str, ET.Element]) -> None:
    morph_tags = [prop(controls["morph_A"], "tag") or "", *map(str, MORPH_BARS)]
    decoded: dict[str, list[MessageBase]] = {}
    for name, node in controls.items():
        for address, data in sent(node, morph_tags):
            assert address in INCOMING, f"{name} sends to {address}, not a client address"
            message = decode(data)  # raises, naming the problem, if the protocol refuses it
            decoded.setdefault(name, []).append(message)
    faders = {"tension": "value", "temperature": "value", "tempo": "bpm"}
    for name, field in faders.items():
        low_message, high_message = decoded[name]
        cls = type(low_message)
        assert (getattr(low_message, field), getattr(high_message, field)) == pytest.approx(
            bounds(cls, field), rel=1e-6
        ), f"{name} spans the protocol's whole range"
    assert {type(m).__name__ for m in decoded["play"]} == {"Play"}
    assert {type(m).__name__ for m in decoded["stop"]} == {"Stop"}
    for instrument in INSTRUMENTS:
        muted = decoded[f"mute_{instrument}"]
        assert [(m.instrument, m.muted) for m in muted] == [  # type: ignore[attr-defined]
            (instrument, False),
            (instrument, True),
        ]
    assert [m.key for k in KEY_NAMES for m in decoded[f"key_{k}"]] == list(KEY_NAMES)  # type: ignore[attr-defined]
    assert {type(m).__name__ for m in decoded["fill"]} == {"Fill"}
    assert {type(m).__name__ for m in decoded["section"]} == {"SectionRequest"}
    for slot in SCENE_SLOTS:
        assert [m.name for m in decoded[f"save_{slot}"]] == [slot]  # type: ignore[attr-defined]
        assert decoded[f"recall_{slot}"] == [Interpolate(scene=slot, bars=2)]
        morphs = decoded[f"morph_{slot}"]
        assert [m.bars for m in morphs] == [8, *MORPH_BARS]  # type: ignore[attr-defined]
    assert {f"beat_{b}" for b in range(4)} <= set(controls)


# -- the scripts -----------------------------------------------------------------------------

TOUCHOSC_API = """
now = 0
sent = {}
sets = {}
controls = {}
function getMillis() return now end
function sendOSC(message) sent[#sent + 1] = message end

function makeControl(name, tag, parent)
  local c = {name = name, tag = tag, parent = parent, messages = {OSC = {{send = true}}}}
  local store = {x = 0, text = ''}
  c.values = setmetatable({}, {
    __index = store,
    __newindex = function(_, key, value)
      local sending = true
      for i = 1, #c.messages.OSC do sending = sending and c.messages.OSC[i].send end
      sets[#sets + 1] = {name = name, key = key, value = value, sending = sending}
      store[key] = value
    end,
  })
  function c:findByName(wanted, recursive) return controls[wanted] end
  return c
end

function loadScript(source, control)
  local env = setmetatable({self = control}, {__index = _G})
  local chunk
  if setfenv then
    chunk = assert(loadstring(source))
    setfenv(chunk, env)
  else
    chunk = assert(load(source, 'script', 't', env))
  end
  chunk()
  return env
end
"""


class TouchOsc:
    """A TouchOSC document's controls and scripts in a Lua interpreter."""

    def __init__(self, version: str, controls: dict[str, ET.Element]) -> None:
        lua_module = importlib.import_module(f"lupa.{version}")
        self.lua = lua_module.LuaRuntime(unpack_returned_tuples=True)
        self.lua.execute(TOUCHOSC_API)
        self.g = self.lua.globals()
        root = self.g.makeControl("metalosc", "", None)
        self.g.controls["metalosc"] = root
        for name, node in controls.items():
            if name != "metalosc":
                self.g.controls[name] = self.g.makeControl(name, prop(node, "tag") or "", root)
        self.scripts = {
            name: self.g.loadScript(prop(node, "script"), self.g.controls[name])
            for name, node in controls.items()
            if prop(node, "script")
        }

    def osc(self, data: bytes) -> Any:
        """A daemon message as TouchOSC hands it to ``onReceiveOSC``: {path, {{tag, value}}}."""
        parsed = osc_message.OscMessage(data)
        args = [
            self.lua.table_from({"tag": tag, "value": value})
            for tag, value in zip(_tags(data), parsed.params, strict=True)
        ]
        return self.lua.table_from([parsed.address, self.lua.table_from(args)])

    def receive(self, data: bytes) -> None:
        self.scripts["metalosc"].onReceiveOSC(self.osc(data), self.lua.table_from([True]))

    def sent(self) -> list[tuple[str, list[Any]]]:
        messages = []
        for message in self.g.sent.values():
            args = message[2]
            values = [] if args is None else [a["value"] for a in args.values()]
            messages.append((message[1], values))
        self.g.sent = self.lua.table_from([])
        return messages

    def value(self, name: str, key: str = "x") -> Any:
        return self.g.controls[name]["values"][key]  # `.values` is lupa's own method


def _tags(data: bytes) -> str:
    start = data.index(b",")
    return data[start + 1 : data.index(b"\x00", start)].decode()


LUA_VERSIONS = ["lua51", "lua54"]


@pytest.mark.parametrize("version", LUA_VERSIONS)
def test_the_layout_keeps_its_subscription_well_inside_the_lease(
    version: str, controls: dict[str, ET.Element]
) -> None:
    touch = TouchOsc(version, controls)
    script = touch.scripts["metalosc"]
    lease_ms = float(Settings.model_fields["lease"].default) * 1000
    subscribes: list[float] = []
    for now in range(0, 185_000, 500):  # three minutes of frames, every half second
        touch.g.now = now
        script.update()
        for address, args in touch.sent():
            if address == "/metal/subscribe":
                subscribes.append(now)
                assert decode(_build(address, [(args[0], "i"), (args[1], "s")])).port == 8000  # type: ignore[attr-defined]
    assert subscribes[0] == 0
    gaps = [b - a for a, b in itertools.pairwise(subscribes)]
    assert max(gaps) <= lease_ms / 2, "a lost resubscription still leaves time for the next"
    assert len(subscribes) >= 3


def _build(address: str, args: list[tuple[object, str]]) -> bytes:
    builder = osc_message_builder.OscMessageBuilder(address=address)
    for value, tag in args:
        builder.add_arg(value, tag)  # type: ignore[arg-type]
    return builder.build().dgram


@pytest.mark.parametrize("version", LUA_VERSIONS)
def test_faders_and_buttons_follow_the_state_without_sending_it_back(
    version: str, controls: dict[str, ET.Element]
) -> None:
    touch = TouchOsc(version, controls)
    state = State(
        playing=True, tension=0.75, bpm=180.0, temperature=1.5, guitar_muted=False,
        bass_muted=True, drums_muted=False, scene="B", key="D", transition="phrase",
    )  # fmt: skip
    touch.receive(encode(state))
    assert touch.value("tension") == pytest.approx(0.75)
    assert touch.value("tempo") == pytest.approx((180 - 40) / (320 - 40))
    assert touch.value("temperature") == pytest.approx((1.5 - 0.05) / (2.0 - 0.05))
    assert [touch.value(f"mute_{i}") for i in INSTRUMENTS] == [0, 1, 0]
    assert touch.value("tempo_value", "text") == "180 BPM"
    assert touch.value("key_value", "text") == "key D minor"
    assert touch.value("playing", "text") == "playing"
    assert touch.value("scene_target", "text") == "morphing to B"
    followed = [s for s in touch.g.sets.values() if s["key"] == "x"]
    assert {s["name"] for s in followed} == {"tension", "tempo", "temperature", "mute_bass"}
    assert not any(s["sending"] for s in followed), "a followed value must not be sent back"
    assert all(m["send"] for c in ("tension", "mute_bass") for m in
               touch.g.controls[c].messages.OSC.values())  # fmt: skip
    before = len(touch.g.sets)
    touch.receive(encode(state))  # the same state again changes nothing
    assert [s for s in list(touch.g.sets.values())[before:] if s["key"] == "x"] == []


@pytest.mark.parametrize("version", LUA_VERSIONS)
def test_the_beat_light_and_the_scene_list_follow_the_daemon(
    version: str, controls: dict[str, ET.Element]
) -> None:
    touch = TouchOsc(version, controls)
    touch.receive(encode(Beat(bar=6, beat=2)))
    assert [touch.value(f"beat_{b}") for b in range(4)] == [0, 0, 1, 0]
    assert touch.value("bar_value", "text") == "bar 7"
    touch.receive(encode(SceneList(names=("A", "boss"))))
    assert touch.value("scene_list", "text") == "saved: A boss"


@pytest.mark.parametrize("version", LUA_VERSIONS)
def test_the_morph_length_selector_sets_what_the_morph_buttons_send(
    version: str, controls: dict[str, ET.Element]
) -> None:
    touch = TouchOsc(version, controls)
    selector = touch.scripts["morph_bars"]
    for index, bars in enumerate(MORPH_BARS):
        touch.g.controls["morph_bars"]["values"]["x"] = index
        selector.onValueChanged("x")
        assert [touch.g.controls[f"morph_{s}"].tag for s in SCENE_SLOTS] == [str(bars)] * 4
