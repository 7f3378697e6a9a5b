"""A sound designer's session on the real daemon: found over Zeroconf, browsed over OSCQuery,
steered over OSC, its scenes kept across a restart.

Rules: real tiny MusicVAE models in worker processes, real sockets on 127.0.0.1 (UDP for OSC,
TCP for OSCQuery, multicast DNS on loopback, skipped with the reason where this machine refuses
it); OSCQuery JSON is checked against the proposal by ``metalosc.server.testing``'s validator.
Real time only because real models decode in real processes; every wait is bounded.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import trio
from metalosc.protocol import (
    INCOMING,
    Interpolate,
    SceneList,
    SceneListRequest,
    SceneSave,
    Subscribe,
    Tension,
)
from metalosc.server import Settings
from metalosc.server._discovery import OSCQUERY_SERVICE
from metalosc.server.testing import (
    UdpClient,
    open_server,
    validate_host_info,
    validate_oscquery,
)
from zeroconf import IPVersion, ServiceBrowser, ServiceListener, Zeroconf

pytestmark = pytest.mark.slow


class Found(ServiceListener):
    def __init__(self) -> None:
        self.names: list[str] = []
        self.event = threading.Event()

    def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.names.append(name)
        self.event.set()

    def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        pass

    def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        pass


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.headers["Content-Type"] == "application/json"
        return json.loads(response.read())


async def test_a_designer_finds_browses_steers_and_keeps_a_scene(
    tiny_bundles: Path, tmp_path: Path
) -> None:
    try:
        browser = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    except OSError as exc:
        pytest.skip(f"multicast DNS is not available on loopback here: {exc}")
    settings = Settings(
        models=tiny_bundles,
        port=0,
        bpm=300.0,
        buffer_depth=4,
        batch_size=4,
        seed=0,
        zeroconf=True,
        zeroconf_name="MetalOSC integration",
        state_dir=tmp_path / "state",
    )
    found = Found()
    watching = ServiceBrowser(browser, OSCQUERY_SERVICE, found)
    try:
        async with open_server(settings) as server, UdpClient.open(server.address) as client:
            seen = await trio.to_thread.run_sync(found.event.wait, 20.0)
            assert seen, "the daemon was not found over Zeroconf"
            (name,) = [n for n in found.names if n.startswith("MetalOSC integration")]
            info = await trio.to_thread.run_sync(
                browser.get_service_info, OSCQUERY_SERVICE, name, 5000
            )
            assert info is not None
            base = f"http://{info.parsed_addresses()[0]}:{info.port}"
            host_info = await trio.to_thread.run_sync(get_json, f"{base}/?HOST_INFO")
            validate_host_info(host_info)
            assert host_info["OSC_PORT"] == server.address[1]

            await client.send(Subscribe())
            await client.expect_state(playing=True, timeout=30)
            await client.send(Tension(value=0.9))
            await client.expect_state(tension=0.9)
            root = await trio.to_thread.run_sync(get_json, f"{base}/")
            assert sorted(validate_oscquery(root)) == sorted(INCOMING)
            tension = root["CONTENTS"]["metal"]["CONTENTS"]["tension"]
            assert tension["RANGE"] == [{"MIN": 0.0, "MAX": 1.0}]
            assert tension["VALUE"][0] == pytest.approx(0.9, abs=1e-6)

            await client.phrases(1, timeout=60)  # something played: a scene to save
            await client.send(SceneSave(name="riff"))
            assert await client.expect(SceneList, timeout=10) == SceneList(names=("riff",))
            with trio.fail_after(10):
                await server.scene_store.written()
            saved = server.conductor.scenes["riff"]
    finally:
        watching.cancel()
        browser.close()

    async with open_server(settings) as server, UdpClient.open(server.address) as client:
        kept = server.conductor.scenes["riff"]
        assert kept.key == saved.key
        assert all((kept[i] == saved[i]).all() for i in ("guitar", "bass", "drums"))
        await client.send(Subscribe())
        await client.expect_state(playing=True, timeout=30)
        await client.send(SceneListRequest())
        assert await client.expect(SceneList, timeout=10) == SceneList(names=("riff",))
        await client.phrases(1, timeout=60)
        await client.send(Interpolate(scene="riff", bars=2))
        await client.expect_state(scene="riff", timeout=10)
