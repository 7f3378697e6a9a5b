"""OSCQuery: the live daemon's address space over HTTP, checked against the OSCQuery proposal.

Rules: the daemon runs on real loopback sockets (UDP for OSC, TCP for HTTP) with instant fake
models; HTTP is read with the standard library's client (``urllib``, in a worker thread) and,
for what no well-behaved client sends, with a raw TCP socket. The validator is written from
the proposal's text (Vidvox OSCQueryProposal, "Core Functionality", "Optional Attributes",
"Other notes on attributes"), not from this server's code: it is
``metalosc.server.testing.validate_oscquery``. Every wait is bounded.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from ipaddress import ip_network
from typing import Any

import pytest
import trio
from metalosc.protocol import (
    INCOMING,
    SceneList,
    SceneSave,
    Subscribe,
    Tempo,
    Tension,
    message_spec,
)
from metalosc.server import ConfigError, RunningServer, Settings, reload_models
from metalosc.server.testing import (
    FAST_SETTINGS,
    FakeModelSource,
    UdpClient,
    open_server,
    validate_host_info,
    validate_oscquery,
)

SETTINGS: dict[str, Any] = {**FAST_SETTINGS}

# -- helpers --------------------------------------------------------------------------------


def get(server: RunningServer, target: str, method: str = "GET") -> tuple[int, str, bytes]:
    """Status, content type and body of one request (blocking: run it in a thread)."""
    assert server.oscquery_address is not None
    host, port = server.oscquery_address
    request = urllib.request.Request(f"http://{host}:{port}{target}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read()


async def fetch(server: RunningServer, target: str, method: str = "GET") -> tuple[int, bytes]:
    status, _, body = await trio.to_thread.run_sync(get, server, target, method)
    return status, body


async def fetch_json(server: RunningServer, target: str) -> Any:
    status, content_type, body = await trio.to_thread.run_sync(get, server, target)
    assert status == 200, body
    assert content_type == "application/json"
    return json.loads(body)


async def raw(server: RunningServer, data: bytes) -> bytes:
    """What the server answers to ``data`` on a fresh connection (until it closes or 5 s)."""
    assert server.oscquery_address is not None
    stream = await trio.open_tcp_stream(*server.oscquery_address)
    received = b""
    async with stream:
        await stream.send_all(data)
        with trio.move_on_after(5):
            while chunk := await stream.receive_some(65536):
                received += chunk
                if b"\r\n\r\n" in received and received.startswith(b"HTTP/1.1 4"):
                    break
    return received


@pytest.fixture
async def server() -> AsyncIterator[RunningServer]:
    async with open_server(Settings(**SETTINGS), executors=FakeModelSource()) as running:
        yield running


# -- the namespace ---------------------------------------------------------------------------


async def test_the_namespace_lists_every_control_with_type_and_range(
    server: RunningServer,
) -> None:
    root = await fetch_json(server, "/")
    methods = validate_oscquery(root)
    assert sorted(methods) == sorted(INCOMING)
    metal = root["CONTENTS"]["metal"]
    for address, spec in INCOMING.items():
        node = root
        for part in address.strip("/").split("/"):
            node = node["CONTENTS"][part]
        required = [a for a in spec.args if a.required and not a.variadic]
        if address == "/metal/state":
            assert node["TYPE"] == "ifffiiisss"  # what it reads: every parameter
            continue
        assert node["TYPE"] == ("".join(a.tag for a in required) or "N"), address
        assert node["ACCESS"] & 2, f"{address} is a control: it can be set"
        assert node["DESCRIPTION"] == spec.doc
    assert metal["CONTENTS"]["tension"]["RANGE"] == [{"MIN": 0.0, "MAX": 1.0}]
    assert metal["CONTENTS"]["tempo"]["RANGE"] == [{"MIN": 40.0, "MAX": 320.0}]
    assert metal["CONTENTS"]["temperature"]["RANGE"] == [{"MIN": 0.05, "MAX": 2.0}]
    mute = metal["CONTENTS"]["mute"]
    assert mute["TYPE"] == "si"
    assert mute["RANGE"] == [{"VALS": ["guitar", "bass", "drums"]}, {"MIN": 0, "MAX": 1}]
    key = metal["CONTENTS"]["key"]
    assert key["RANGE"][0]["VALS"][:4] == ["C", "C#", "Db", "D"]
    interpolate = metal["CONTENTS"]["interpolate"]
    assert interpolate["TYPE"] == "s"
    (with_bars,) = interpolate["OVERLOADS"]
    assert with_bars["TYPE"] == "si"
    assert with_bars["RANGE"][1] == {"MIN": 2, "MAX": 64, "VALS": list(range(2, 65, 2))}
    tension_overloads = metal["CONTENTS"]["tension"]["OVERLOADS"]
    assert tension_overloads == [
        {"TYPE": "fs", "RANGE": [{"MIN": 0.0, "MAX": 1.0}, {"VALS": ["phrase", "bar", "section"]}]}
    ]
    subscribe = metal["CONTENTS"]["subscribe"]
    assert subscribe["TYPE"] == "N"
    assert [o["TYPE"] for o in subscribe["OVERLOADS"]] == ["i", "is", "isi"]
    assert subscribe["OVERLOADS"][0]["RANGE"] == [{"MIN": 0, "MAX": 65535}]


async def test_values_are_the_daemons_live_state(server: RunningServer) -> None:
    async with UdpClient.open(server.address) as client:
        await client.send(Subscribe())
        await client.expect_state(playing=True)
        await client.send(Tension(value=0.8))
        await client.send(Tempo(bpm=150.0))
        await client.expect_state(tension=0.8, bpm=150.0)
        assert (await fetch_json(server, "/metal/tension?VALUE"))["VALUE"][0] == pytest.approx(
            0.8, abs=1e-6
        )
        assert await fetch_json(server, "/metal/tempo?VALUE") == {"VALUE": [150.0]}
        assert await fetch_json(server, "/metal/key?VALUE") == {"VALUE": ["E"]}
        state = await fetch_json(server, "/metal/state")
        assert state["ACCESS"] == 1
        playing, tension, bpm, _, *mutes, scene, key, _ = state["VALUE"]
        assert (playing, bpm, mutes, scene, key) == (1, 150.0, [0, 0, 0], "", "E")
        assert math.isclose(tension, 0.8, abs_tol=1e-6)
        await client.slots(1)
        await client.send(SceneSave(name="verse"))
        await client.expect(SceneList, timeout=5)
    interpolate = await fetch_json(server, "/metal/interpolate?RANGE")
    assert interpolate == {"RANGE": [{"VALS": ["verse"]}]}


async def test_host_info_says_where_the_osc_server_is(server: RunningServer) -> None:
    info = await fetch_json(server, "/metal/tension?HOST_INFO")  # the path does not matter
    validate_host_info(info)
    assert info["OSC_PORT"] == server.address[1]
    assert info["OSC_IP"] == "127.0.0.1"
    assert info["OSC_TRANSPORT"] == "UDP"
    assert info["EXTENSIONS"]["VALUE"] is True
    assert info["EXTENSIONS"]["LISTEN"] is False


async def test_attribute_queries_answer_one_attribute(server: RunningServer) -> None:
    assert await fetch_json(server, "/metal/tension?TYPE") == {"TYPE": "f"}
    assert await fetch_json(server, "/metal/tension?ACCESS") == {"ACCESS": 3}
    assert await fetch_json(server, "/metal?TYPE") == {}  # a container has no type
    assert (
        await fetch_json(server, "/metal/scene")
        == (await fetch_json(server, "/"))["CONTENTS"]["metal"]["CONTENTS"]["scene"]
    )
    assert (await fetch_json(server, "/metal/tension#frag"))["FULL_PATH"] == "/metal/tension"
    assert (await fetch_json(server, "/metal/tension/"))["FULL_PATH"] == "/metal/tension"


@pytest.mark.parametrize(
    ("target", "method", "status", "reason"),
    [
        ("/metal/volume", "GET", 404, b"no OSC container or method at /metal/volume"),
        ("/metal/tension?GABBAGABBAHEY", "GET", 400, b"unknown attribute 'GABBAGABBAHEY'"),
        ("/metal/play?VALUE", "GET", 204, b""),
        ("/metal/tension?UNIT", "GET", 204, b""),
        ("/metal/tension", "POST", 405, b"method POST not allowed"),
    ],
)
async def test_bad_requests_get_a_status_and_a_reason(
    server: RunningServer, target: str, method: str, status: int, reason: bytes
) -> None:
    got, body = await fetch(server, target, method)
    assert got == status
    assert body.startswith(reason)


async def test_malformed_or_oversized_requests_are_refused_and_the_daemon_goes_on(
    server: RunningServer,
) -> None:
    garbage = await raw(server, b"\x16\x03\x01 not http at all\r\n\r\n")
    assert garbage.startswith(b"HTTP/1.1 400 ")
    huge = await raw(server, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
    assert huge.startswith(b"HTTP/1.1 431 ")
    assert b"request head too large" in huge
    body = await raw(
        server, b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
    )
    assert body.startswith(b"HTTP/1.1 413 ")
    head = await raw(server, b"HEAD /metal HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert head.endswith(b"\r\n\r\n")  # a head, no body
    # keep-alive: two requests on one connection
    two = await raw(
        server,
        b"GET /metal/tempo?TYPE HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /metal/key?TYPE HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    assert two.count(b"HTTP/1.1 200 ") == 2
    assert b'"TYPE": "s"' in two
    assert (await fetch_json(server, "/metal/tempo?TYPE")) == {"TYPE": "f"}


# -- settings ------------------------------------------------------------------------------


async def test_oscquery_can_be_turned_off() -> None:
    settings = Settings(**SETTINGS, oscquery=False)
    async with open_server(settings, executors=FakeModelSource()) as server:
        assert server.oscquery_address is None


async def test_a_taken_port_is_a_settings_error_naming_it() -> None:
    with trio.socket.socket() as taken:
        await taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = Settings(**SETTINGS, oscquery_port=port)
        with pytest.raises(BaseException) as info:  # noqa: PT011 - checked below
            async with open_server(settings, executors=FakeModelSource()):
                pass
    errors: list[BaseException] = [info.value]
    while any(hasattr(e, "exceptions") for e in errors):  # exception groups, flattened
        errors = [x for e in errors for x in getattr(e, "exceptions", [e])]
    (error,) = errors
    assert isinstance(error, ConfigError)
    assert f"TCP port {port}" in str(error)
    assert "oscquery = false" in str(error)


def test_the_namespace_follows_the_message_classes() -> None:
    """Generated, not written: a range in the classes is the range in the JSON."""
    from metalosc.protocol import State
    from metalosc.server._oscquery import namespace

    state = State(
        playing=True, tension=0.25, bpm=99.0, temperature=0.5, guitar_muted=True,
        bass_muted=False, drums_muted=False, scene="", key="D", transition="bar",
    )  # fmt: skip
    root = namespace(state, ["a", "b"])
    validate_oscquery(root)
    temperature = root["CONTENTS"]["metal"]["CONTENTS"]["temperature"]
    field = message_spec(INCOMING["/metal/temperature"].cls).cls.model_fields["value"]
    low, high = (m for m in field.metadata if hasattr(m, "ge") or hasattr(m, "le"))
    assert temperature["RANGE"][0] == {"MIN": low.ge, "MAX": high.le}  # type: ignore[union-attr]
    assert temperature["VALUE"] == [0.5]
    transition = root["CONTENTS"]["metal"]["CONTENTS"]["transition"]
    assert transition["VALUE"] == ["bar"]
    delete = root["CONTENTS"]["metal"]["CONTENTS"]["scene"]["CONTENTS"]["delete"]
    assert delete["RANGE"] == [{"VALS": ["a", "b"]}]


async def test_the_default_port_taken_falls_back_to_a_free_one() -> None:
    """Only a port asked for is an error: the default (the OSC port's number) may be taken by
    something else, and Zeroconf advertises whichever port the server got."""
    with trio.socket.socket() as taken:
        await taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with trio.socket.socket(type=trio.socket.SOCK_DGRAM) as probe:
            try:
                await probe.bind(("127.0.0.1", port))  # the same number, free over UDP?
            except OSError:
                pytest.skip(f"UDP port {port} is taken too")
        settings = Settings(**{**SETTINGS, "port": port})
        async with open_server(settings, executors=FakeModelSource()) as server:
            assert server.address[1] == port
            assert server.oscquery_address is not None
            assert server.oscquery_address[1] != port
            assert (await fetch_json(server, "/?HOST_INFO"))["OSC_PORT"] == port


async def answered(server: RunningServer) -> bytes:
    """What a fresh connection's ``GET /`` gets within 3 s (b"" when closed unanswered)."""
    assert server.oscquery_address is not None
    received = b""
    with trio.fail_after(3):
        stream = await trio.open_tcp_stream(*server.oscquery_address)
        async with stream:
            try:
                await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                while chunk := await stream.receive_some(65536):
                    received += chunk
            except trio.BrokenResourceError:
                pass  # reset rather than closed: as unanswered
    return received


async def test_peers_outside_the_allowlist_are_closed_unanswered() -> None:
    """The networks that may control the daemon are the ones that may read it: a connection
    from anywhere else is closed at once (well before the 10 s idle timeout), with no answer."""
    settings = Settings(**{**SETTINGS, "allow": ["192.0.2.0/24"]})  # not this machine
    async with open_server(settings, executors=FakeModelSource()) as server:
        assert await answered(server) == b""


async def test_a_reload_that_changes_the_allowlist_applies_to_oscquery() -> None:
    settings = Settings(**SETTINGS)
    async with open_server(settings, executors=FakeModelSource()) as server:
        assert (await answered(server)).startswith(b"HTTP/1.1 200")
        elsewhere = settings.model_copy(update={"allow": (ip_network("192.0.2.0/24"),)})
        assert await reload_models(server, elsewhere)
        assert await answered(server) == b""
