"""The TouchOSC layout, generated from the protocol's message classes (``metalosc touchosc``).

A ``.tosc`` file is TouchOSC's document: zlib-compressed XML (``<lexml version="3">``, a tree of
``<node type="GROUP|FADER|BUTTON|LABEL|RADIO">`` with ``<properties>``, ``<values>``,
``<messages>`` and ``<children>``), the format TouchOSC's own editor writes. Every OSC message a
control sends is built here from a message class: its address is the class's, a fader's scale is
its field's bounds, a constant is validated by building the message, so the layout cannot drift
from the protocol (a test regenerates the committed file and compares bytes, another decodes
what every control sends).

What the controls cannot do by themselves is done by Lua scripts (TouchOSC's scripting, Lua
5.1): the root keeps the subscription alive (``/metal/subscribe i port s immediate`` at start and
every third of the daemon's lease), follows ``/metal/state`` — each fader, mute and label set
from the state argument ``state_field`` names, without sending it back — lights the beat from
``/metal/beat`` and lists the saved scenes; the morph-length selector writes its bar count into
the morph buttons' ``tag``, which their message sends.

The output is deterministic: control IDs are UUIDv5s of their names, numbers are written the
same way every time, and the XML is compressed at a fixed level.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import uuid
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import Any, Literal

import annotated_types
from metalosc.protocol import (
    INSTRUMENTS,
    KEY_NAMES,
    SHARED_FILE_MODE,
    Fill,
    Interpolate,
    Key,
    MessageBase,
    Mute,
    Play,
    SceneListRequest,
    SceneSave,
    SectionRequest,
    State,
    Stop,
    Subscribe,
    Temperature,
    Tempo,
    Tension,
    message_spec,
    write_atomic,
)

from ._settings import Settings

__all__ = [
    "DEFAULT_FEEDBACK_PORT",
    "LAYOUT_FILE",
    "MORPH_BARS",
    "SCENE_SLOTS",
    "add_parser",
    "layout",
    "main",
    "render_layout",
    "root_script",
    "write_layout",
]

LAYOUT_FILE = Path(__file__).resolve().parents[4] / "touchosc" / "metalosc.tosc"
"""touchosc/metalosc.tosc in a source checkout."""
DEFAULT_FEEDBACK_PORT = 8000
"""The UDP port the tablet receives on (TouchOSC: Connections → OSC → Receive Port)."""
SCENE_SLOTS = ("A", "B", "C", "D")
"""The scene names the layout saves, recalls and morphs to."""
MORPH_BARS = (4, 8, 16, 32)
"""The morph lengths the selector offers (the first button of a slot recalls over 2 bars)."""
RECALL_BARS = 2
_ID_NAMESPACE = uuid.UUID("6f0b8a52-9d3e-4c55-9b1e-2f6d7e0a4c11")

Color = tuple[float, float, float, float]
GREY: Color = (0.25, 0.25, 0.25, 1.0)
RED: Color = (0.85, 0.15, 0.1, 1.0)
ORANGE: Color = (1.0, 0.55, 0.0, 1.0)
GREEN: Color = (0.2, 0.75, 0.3, 1.0)
BLUE: Color = (0.2, 0.5, 0.9, 1.0)
PURPLE: Color = (0.6, 0.35, 0.85, 1.0)
WHITE: Color = (1.0, 1.0, 1.0, 1.0)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(round(value, 6))
    return str(value)


@dataclasses.dataclass(frozen=True)
class Arg:
    """One argument of a control's OSC message: a ``CONSTANT``, the control's ``VALUE`` x
    scaled to ``low..high``, or one of its ``PROPERTY``\\ s (``tag``)."""

    kind: Literal["CONSTANT", "VALUE", "PROPERTY"]
    conversion: Literal["STRING", "INTEGER", "FLOAT", "BOOLEAN"]
    value: str
    low: float = 0.0
    high: float = 1.0


@dataclasses.dataclass(frozen=True)
class Osc:
    """A message a control sends: ``address``, ``args``, on ``condition`` of its x."""

    address: str
    args: tuple[Arg, ...] = ()
    condition: Literal["ANY", "RISE", "FALL"] = "ANY"


def _bounds(cls: type[MessageBase], field: str) -> tuple[float, float]:
    """The ``ge``/``le`` bounds of a numeric field: a fader's scale."""
    low = high = None
    for item in cls.model_fields[field].metadata:
        if isinstance(item, annotated_types.Ge):
            low = float(item.ge)  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Le):
            high = float(item.le)  # type: ignore[arg-type]
    if low is None or high is None:
        raise ValueError(f"{cls.address} {field}: a fader needs both bounds")
    return low, high


def _constant(message: MessageBase, field: str) -> Arg:
    """A constant argument, taken from a valid message (so the protocol validated it)."""
    value = getattr(message, field)
    if isinstance(value, bool | int):
        return Arg("CONSTANT", "INTEGER", str(int(value)))
    return Arg("CONSTANT", "STRING", str(value))


def _bang(message: MessageBase, condition: Literal["ANY", "RISE", "FALL"] = "RISE") -> Osc:
    """``message`` as constants, sent when a button goes down; trailing arguments at their
    defaults are left out, as the codec leaves them out."""
    args = list(message_spec(type(message)).args)
    while args and not args[-1].required and getattr(message, args[-1].field) == args[-1].default:
        args.pop()
    return Osc(message.address, tuple(_constant(message, a.field) for a in args), condition)


def _fader_osc(cls: type[MessageBase], field: str) -> Osc:
    low, high = _bounds(cls, field)
    return Osc(cls.address, (Arg("VALUE", "FLOAT", "x", low, high),))


@dataclasses.dataclass(frozen=True)
class Control:
    """One node of the layout."""

    kind: Literal["FADER", "BUTTON", "LABEL", "RADIO", "GROUP"]
    name: str
    frame: tuple[int, int, int, int]
    color: Color = GREY
    osc: tuple[Osc, ...] = ()
    text: str = ""
    tag: str = ""
    script: str = ""
    button_type: int = 0
    """0 momentary, 1 toggle (TouchOSC's buttonType)."""
    interactive: bool = True
    steps: int = 0
    children: tuple[Control, ...] = ()


# -- the controls -----------------------------------------------------------------------------

FADERS: tuple[tuple[str, type[MessageBase], str, str], ...] = (
    ("tension", Tension, "value", "%.2f"),
    ("temperature", Temperature, "value", "%.2f"),
    ("tempo", Tempo, "bpm", "%.0f BPM"),
)
"""Each fader: its name, the message it sends, the field it sets, how its value is shown."""


def _faders() -> list[Control]:
    controls: list[Control] = []
    for n, (name, cls, field, _) in enumerate(FADERS):
        x = 20 + n * 130
        controls += [
            Control("LABEL", f"{name}_label", (x, 70, 110, 30), text=name.upper()),
            Control("FADER", name, (x, 100, 110, 380), ORANGE, (_fader_osc(cls, field),)),
            Control("LABEL", f"{name}_value", (x, 485, 110, 30), text="–"),
        ]
    return controls


def _transport_and_mutes() -> list[Control]:
    controls = [
        Control("BUTTON", "play", (420, 100, 120, 70), GREEN, (_bang(Play()),)),
        Control("BUTTON", "stop", (550, 100, 120, 70), RED, (_bang(Stop()),)),
        Control("LABEL", "playing", (420, 70, 250, 30), text="–"),
    ]
    for n, instrument in enumerate(INSTRUMENTS):
        muted = Arg("VALUE", "INTEGER", "x", 0.0, 1.0)
        which = _constant(Mute(instrument=instrument, muted=True), "instrument")
        osc = Osc(Mute.address, (which, muted))
        controls.append(
            Control(
                "BUTTON",
                f"mute_{instrument}",
                (420 + n * 85, 200, 80, 60),
                BLUE,
                (osc,),
                text=f"mute {instrument}",
                button_type=1,
            )
        )
    controls += [
        Control("BUTTON", "fill", (420, 290, 120, 60), PURPLE, (_bang(Fill()),), text="fill"),
        Control(
            "BUTTON",
            "section",
            (550, 290, 120, 60),
            PURPLE,
            (_bang(SectionRequest()),),
            text="new section",
        ),
    ]
    return controls


def _keys() -> list[Control]:
    controls = [Control("LABEL", "key_value", (20, 560, 240, 30), text="key –")]
    for n, key in enumerate(KEY_NAMES):
        frame = (20 + n * 82, 600, 76, 60)
        controls.append(
            Control("BUTTON", f"key_{key}", frame, GREY, (_bang(Key(key=key)),), text=key)
        )
    return controls


def _scenes() -> list[Control]:
    controls = [
        Control("LABEL", "scenes_label", (700, 70, 300, 30), text="SCENES"),
        Control("LABEL", "scene_list", (700, 470, 300, 30), text="saved: –"),
        Control("LABEL", "scene_target", (700, 500, 300, 30), text="–"),
    ]
    default_bars = str(MORPH_BARS[1])
    for n, slot in enumerate(SCENE_SLOTS):
        y = 100 + n * 70
        morph = Osc(
            Interpolate.address,
            (
                _constant(Interpolate(scene=slot), "scene"),
                Arg("PROPERTY", "INTEGER", "tag"),
            ),
            "RISE",
        )
        controls += [
            Control("LABEL", f"scene_{slot}", (700, y, 40, 60), text=slot),
            Control(
                "BUTTON",
                f"save_{slot}",
                (745, y, 80, 60),
                RED,
                (_bang(SceneSave(name=slot)),),
                text="save",
            ),
            Control(
                "BUTTON",
                f"recall_{slot}",
                (830, y, 80, 60),
                GREEN,
                (_bang(Interpolate(scene=slot, bars=RECALL_BARS)),),
                text="recall",
            ),
            Control(
                "BUTTON",
                f"morph_{slot}",
                (915, y, 85, 60),
                ORANGE,
                (morph,),
                text="morph",
                tag=default_bars,
            ),
        ]
    controls.append(
        Control(
            "RADIO",
            "morph_bars",
            (745, 390, 255, 60),
            ORANGE,
            steps=len(MORPH_BARS),
            script=_morph_bars_script(),
        )
    )
    bars = " / ".join(str(b) for b in MORPH_BARS)
    controls.append(
        Control("LABEL", "morph_bars_label", (745, 440, 255, 25), text=f"morph over {bars} bars")
    )
    return controls


def _beat() -> list[Control]:
    controls = [Control("LABEL", "bar_value", (20, 20, 200, 40), text="bar –")]
    for beat in range(4):
        controls.append(
            Control(
                "BUTTON",
                f"beat_{beat}",
                (240 + beat * 70, 20, 60, 40),
                RED if beat == 0 else WHITE,
                interactive=False,
            )
        )
    return controls


# -- the scripts --------------------------------------------------------------------------------


def _lua_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _state_index(field: str) -> int:
    """The 1-based position of ``field`` among /metal/state's arguments (Lua indexes)."""
    return list(message_spec(State).cls.model_fields).index(field) + 1


def root_script(feedback_port: int, resubscribe_s: float) -> str:
    """The root's Lua: keep subscribed, follow /metal/state, light the beat, list scenes."""
    subscribe = Subscribe(port=feedback_port, mode="immediate")  # validates the port
    faders = []
    for name, cls, sets, shown in FADERS:
        field = cls.state_field
        assert field is not None, cls
        low, high = _bounds(cls, sets)
        faders.append(
            f"  {{name={_lua_string(name)}, arg={_state_index(field)}, "
            f"low={_text(low)}, high={_text(high)}, shown={_lua_string(shown)}}},"
        )
    mute_field = Mute.state_field
    assert mute_field is not None
    mutes = [
        f"  {{name='mute_{i}', arg={_state_index(mute_field.format(instrument=i))}}},"
        for i in INSTRUMENTS
    ]
    lines = [
        "-- MetalOSC: generated by `metalosc touchosc` from the protocol's message classes.",
        "-- Regenerate rather than edit; FEEDBACK_PORT must be this tablet's OSC receive port.",
        f"local FEEDBACK_PORT = {subscribe.port}",
        f"local RESUBSCRIBE_MS = {int(resubscribe_s * 1000)}",
        f"local STATE_PATH = {_lua_string(State.address)}",
        f"local BEAT_PATH = {_lua_string('/metal/beat')}",
        f"local SCENES_PATH = {_lua_string('/metal/scene/list')}",
        f"local SUBSCRIBE_PATH = {_lua_string(Subscribe.address)}",
        f"local SCENE_LIST_PATH = {_lua_string(SceneListRequest.address)}",
        f"local PLAYING = {_state_index('playing')}",
        f"local KEY = {_state_index('key')}",
        f"local SCENE = {_state_index('scene')}",
        "local FADERS = {",
        *faders,
        "}",
        "local MUTES = {",
        *mutes,
        "}",
        "local lastSubscribe = nil",
        "",
        "local function subscribe()",
        "  sendOSC({SUBSCRIBE_PATH, {{tag='i', value=FEEDBACK_PORT}, "
        f"{{tag='s', value={_lua_string(subscribe.mode)}}}}}}})",
        "  sendOSC({SCENE_LIST_PATH})",
        "  lastSubscribe = getMillis()",
        "end",
        "",
        "-- The daemon drops a subscription that is silent for its lease: renew well inside it.",
        "function update()",
        "  if lastSubscribe == nil or getMillis() - lastSubscribe >= RESUBSCRIBE_MS then",
        "    subscribe()",
        "  end",
        "end",
        "",
        "-- Set a control from the daemon without sending the value back to it.",
        "local function follow(control, x)",
        "  if math.abs(control.values.x - x) < 0.0001 then return end",
        "  local messages = control.messages.OSC",
        "  for i = 1, #messages do messages[i].send = false end",
        "  control.values.x = x",
        "  for i = 1, #messages do messages[i].send = true end",
        "end",
        "",
        "local function show(name, text)",
        "  self:findByName(name, true).values.text = text",
        "end",
        "",
        "function onReceiveOSC(message, connections)",
        "  local path = message[1]",
        "  local args = message[2]",
        "  if path == STATE_PATH then",
        "    for _, f in ipairs(FADERS) do",
        "      local value = args[f.arg].value",
        "      follow(self:findByName(f.name, true), (value - f.low) / (f.high - f.low))",
        "      show(f.name .. '_value', string.format(f.shown, value))",
        "    end",
        "    for _, m in ipairs(MUTES) do",
        "      follow(self:findByName(m.name, true), args[m.arg].value)",
        "    end",
        "    if args[PLAYING].value == 1 then show('playing', 'playing') "
        "else show('playing', 'stopped') end",
        "    show('key_value', 'key ' .. args[KEY].value .. ' minor')",
        "    if args[SCENE].value == '' then show('scene_target', '') "
        "else show('scene_target', 'morphing to ' .. args[SCENE].value) end",
        "  elseif path == BEAT_PATH then",
        "    local beat = args[2].value",
        "    for i = 0, 3 do",
        "      local light = self:findByName('beat_' .. i, true)",
        "      if i == beat then light.values.x = 1 else light.values.x = 0 end",
        "    end",
        "    show('bar_value', 'bar ' .. (args[1].value + 1))",
        "  elseif path == SCENES_PATH then",
        "    local names = {}",
        "    for i = 1, #args do names[i] = args[i].value end",
        "    show('scene_list', 'saved: ' .. table.concat(names, ' '))",
        "  end",
        "end",
        "",
    ]
    return "\n".join(lines)


def _morph_bars_script() -> str:
    bars = ", ".join(str(b) for b in MORPH_BARS)
    slots = ", ".join(_lua_string(f"morph_{s}") for s in SCENE_SLOTS)
    for b in MORPH_BARS:
        Interpolate(scene=SCENE_SLOTS[0], bars=b)  # every offered length is a valid morph
    return "\n".join(
        [
            "-- MetalOSC: the morph buttons send the bar count chosen here (their tag).",
            f"local BARS = {{{bars}}}",
            f"local MORPHS = {{{slots}}}",
            "function onValueChanged(key)",
            "  if key ~= 'x' then return end",
            "  local bars = BARS[math.floor(self.values.x + 0.5) + 1]",
            "  if bars == nil then return end",
            "  for _, name in ipairs(MORPHS) do",
            "    self.parent:findByName(name, true).tag = tostring(bars)",
            "  end",
            "end",
            "",
        ]
    )


# -- XML ----------------------------------------------------------------------------------------


def _property(parent: ET.Element, kind: str, key: str, value: Any) -> None:
    prop = ET.SubElement(parent, "property", {"type": kind})
    ET.SubElement(prop, "key").text = key
    element = ET.SubElement(prop, "value")
    if kind == "c":
        for part, v in zip("rgba", value, strict=True):
            ET.SubElement(element, part).text = _text(float(v))
    elif kind == "r":
        for part, v in zip("xywh", value, strict=True):
            ET.SubElement(element, part).text = str(v)
    else:
        element.text = _text(value)


def _value(parent: ET.Element, key: str, default: str) -> None:
    value = ET.SubElement(parent, "value")
    for name, text in (
        ("key", key),
        ("locked", "0"),
        ("lockedDefaultCurrent", "0"),
        ("default", default),
        ("defaultPull", "0"),
    ):
        ET.SubElement(value, name).text = text


def _partial(parent: ET.Element, arg: Arg) -> None:
    partial = ET.SubElement(parent, "partial")
    ET.SubElement(partial, "type").text = arg.kind
    ET.SubElement(partial, "conversion").text = arg.conversion
    ET.SubElement(partial, "value").text = arg.value
    ET.SubElement(partial, "scaleMin").text = _text(arg.low)
    ET.SubElement(partial, "scaleMax").text = _text(arg.high)


def _message(parent: ET.Element, osc: Osc) -> None:
    element = ET.SubElement(parent, "osc")
    for flag, on in (("enabled", 1), ("send", 1), ("receive", 0), ("feedback", 0)):
        ET.SubElement(element, flag).text = str(on)
    ET.SubElement(element, "connections").text = "00001"
    triggers = ET.SubElement(element, "triggers")
    trigger = ET.SubElement(triggers, "trigger")
    ET.SubElement(trigger, "var").text = "x"
    ET.SubElement(trigger, "condition").text = osc.condition
    path = ET.SubElement(element, "path")
    _partial(path, Arg("CONSTANT", "STRING", osc.address))
    arguments = ET.SubElement(element, "arguments")
    for arg in osc.args:
        _partial(arguments, arg)


def _node(control: Control) -> ET.Element:
    node = ET.Element(
        "node", {"ID": str(uuid.uuid5(_ID_NAMESPACE, control.name)), "type": control.kind}
    )
    properties = ET.SubElement(node, "properties")
    caption = control.kind == "LABEL" and not control.interactive
    _property(properties, "b", "background", not caption)  # a caption shows its button
    _property(properties, "c", "color", control.color)
    _property(properties, "r", "frame", control.frame)
    _property(properties, "b", "interactive", control.interactive)
    _property(properties, "s", "name", control.name)
    _property(properties, "b", "outline", True)
    if control.script:
        _property(properties, "s", "script", control.script)
    _property(properties, "s", "tag", control.tag)
    _property(properties, "b", "visible", True)
    if control.kind == "BUTTON":
        _property(properties, "i", "buttonType", control.button_type)
    if control.kind == "FADER":
        _property(properties, "i", "orientation", 0)  # bottom to top
        _property(properties, "i", "response", 0)  # absolute: the fader jumps to the touch
    if control.kind == "RADIO":
        _property(properties, "i", "steps", control.steps)
    if control.kind == "LABEL":
        _property(properties, "c", "textColor", WHITE)
        _property(properties, "i", "textSize", 18)
    values = ET.SubElement(node, "values")
    _value(values, "touch", "false")
    if control.kind in ("FADER", "BUTTON"):
        _value(values, "x", "0")
    elif control.kind == "RADIO":
        _value(values, "x", "1")  # 8 bars, the morph buttons' default tag
    elif control.kind == "LABEL":
        _value(values, "text", control.text)
    messages = ET.SubElement(node, "messages")
    for osc in control.osc:
        _message(messages, osc)
    if control.children:
        children = ET.SubElement(node, "children")
        for child in control.children:
            children.append(_node(child))
    return node


def _captioned(control: Control) -> tuple[Control, ...]:
    """A button with a caption, as TouchOSC draws one: the button, then a label over it that
    lets touches through."""
    if control.kind != "BUTTON" or not control.text:
        return (control,)
    caption = Control(
        "LABEL", f"{control.name}_caption", control.frame, text=control.text, interactive=False
    )
    return (control, caption)


def layout(feedback_port: int = DEFAULT_FEEDBACK_PORT, lease_s: float | None = None) -> Control:
    """The whole layout as one root group (1024 x 768, landscape)."""
    lease = lease_s if lease_s is not None else float(Settings.model_fields["lease"].default)
    controls = (*_beat(), *_faders(), *_transport_and_mutes(), *_keys(), *_scenes())
    children = tuple(c for control in controls for c in _captioned(control))
    return Control(
        "GROUP",
        "metalosc",
        (0, 0, 1024, 768),
        (0.08, 0.08, 0.08, 1.0),
        script=root_script(feedback_port, lease / 3),
        children=children,
    )


def render_layout(
    feedback_port: int = DEFAULT_FEEDBACK_PORT, lease_s: float | None = None
) -> bytes:
    """The ``.tosc`` file's bytes: the layout's XML, zlib-compressed (level 9)."""
    root = ET.Element("lexml", {"version": "3"})
    root.append(_node(layout(feedback_port, lease_s)))
    xml = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
    return zlib.compress(xml, 9)


def write_layout(path: Path, data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically; returns whether the file changed."""
    if path.is_file() and path.read_bytes() == data:
        return False
    write_atomic(path, data, mode=SHARED_FILE_MODE)
    return True


def add_parser(commands: Any) -> None:
    """``metalosc touchosc``'s arguments, on the ``metalosc`` command's subparsers."""
    parser = commands.add_parser(
        "touchosc",
        help="write the TouchOSC layout (.tosc) generated from the protocol",
        description="Generate the TouchOSC layout from the protocol's message classes: faders "
        "for tension, temperature and tempo, play/stop, mutes, fill, new section, key, scene "
        "save/recall/morph and a beat light, following /metal/state. See touchosc/README.md.",
    )
    parser.add_argument(
        "out", nargs="?", type=Path, default=LAYOUT_FILE, help=f"the .tosc file [{LAYOUT_FILE}]"
    )
    parser.add_argument(
        "--feedback-port",
        type=int,
        default=DEFAULT_FEEDBACK_PORT,
        help="the tablet's OSC receive port, where the daemon sends state and beats "
        f"[{DEFAULT_FEEDBACK_PORT}]",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if OUT differs from what is generated"
    )


def main(args: argparse.Namespace) -> int:
    """``metalosc touchosc [OUT] [--feedback-port N] [--check]``."""
    try:
        data = render_layout(args.feedback_port)
    except ValueError as exc:
        print(f"metalosc touchosc: {exc}", file=sys.stderr)
        return 2
    out: Path = args.out
    if args.check:
        current = out.read_bytes() if out.is_file() else b""
        if current != data:
            print(f"{out}: stale; run metalosc touchosc {out}", file=sys.stderr)
            return 1
        return 0
    changed = write_layout(out, data)
    print(f"{out}: {'written' if changed else 'already up to date'}")
    return 0
