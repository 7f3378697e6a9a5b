"""Discovery: a python-zeroconf browser finds the live daemon's OSC and OSCQuery services.

Rules: real multicast DNS on the loopback interface (the daemon is bound to 127.0.0.1, so it
answers there only), browsed with python-zeroconf from worker threads; the tests skip, saying
why, only where this machine refuses multicast on loopback (checked by opening a responder
first). Every wait is bounded.
"""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import trio
from metalosc.server import Settings
from metalosc.server._discovery import OSC_SERVICE, OSCQUERY_SERVICE
from metalosc.server.testing import FakeModelSource, open_server
from structlog.testing import capture_logs
from zeroconf import IPVersion, ServiceBrowser, ServiceListener, Zeroconf

SETTINGS: dict[str, Any] = {
    "port": 0,
    "bpm": 300.0,
    "buffer_depth": 4,
    "batch_size": 4,
    "seed": 1,
    "zeroconf": True,
}


class Seen(ServiceListener):
    """Names added and removed, per service type, as the browser reports them."""

    def __init__(self) -> None:
        self.added: set[str] = set()
        self.removed: set[str] = set()
        self.changed = threading.Event()

    def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.added.add(name)
        self.changed.set()

    def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.removed.add(name)
        self.changed.set()

    def update_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        self.changed.set()


@pytest.fixture
def browser() -> Iterator[Zeroconf]:
    """A responder/browser on loopback; the test is skipped if multicast is refused there."""
    try:
        zc = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    except OSError as exc:
        pytest.skip(f"multicast DNS is not available on loopback here: {exc}")
    try:
        yield zc
    finally:
        zc.close()


def wait_for(seen: Seen, predicate: Any, timeout: float = 15.0) -> bool:
    """Blocks until ``predicate()`` holds or ``timeout`` seconds passed (run it in a thread)."""
    deadline = threading.Event()
    timer = threading.Timer(timeout, deadline.set)
    timer.start()
    try:
        while not predicate():
            if deadline.is_set():
                return False
            seen.changed.wait(0.1)
            seen.changed.clear()
        return True
    finally:
        timer.cancel()


async def test_a_zeroconf_browser_finds_both_services_and_sees_them_leave(
    browser: Zeroconf,
) -> None:
    osc, oscquery = Seen(), Seen()
    browsers = [
        ServiceBrowser(browser, OSC_SERVICE, osc),
        ServiceBrowser(browser, OSCQUERY_SERVICE, oscquery),
    ]
    settings = Settings(**SETTINGS, zeroconf_name="MetalOSC test {hostname}")
    with capture_logs() as logs:
        async with open_server(settings, executors=FakeModelSource()) as server:
            name = f"MetalOSC test {socket.gethostname().split('.')[0]}"
            found = await trio.to_thread.run_sync(
                wait_for,
                osc,
                lambda: (
                    any(n.startswith(name) for n in osc.added)
                    and any(n.startswith(name) for n in oscquery.added)
                ),
            )
            assert found, f"not advertised: {osc.added} {oscquery.added} {logs}"
            (osc_name,) = [n for n in osc.added if n.startswith(name)]
            (query_name,) = [n for n in oscquery.added if n.startswith(name)]
            osc_info = await trio.to_thread.run_sync(
                browser.get_service_info, OSC_SERVICE, osc_name, 5000
            )
            query_info = await trio.to_thread.run_sync(
                browser.get_service_info, OSCQUERY_SERVICE, query_name, 5000
            )
            assert osc_info is not None
            assert query_info is not None
            assert osc_info.port == server.address[1]
            assert osc_info.parsed_addresses() == ["127.0.0.1"]
            assert server.oscquery_address is not None
            assert query_info.port == server.oscquery_address[1]
            # what was found leads to the daemon: its HOST_INFO names the advertised OSC port
            url = f"http://{query_info.parsed_addresses()[0]}:{query_info.port}/?HOST_INFO"

            def host_info() -> Any:
                with urllib.request.urlopen(url, timeout=5) as response:
                    return json.loads(response.read())

            info = await trio.to_thread.run_sync(host_info)
            assert info["OSC_PORT"] == osc_info.port
            assert info["NAME"] == name
        gone = await trio.to_thread.run_sync(wait_for, osc, lambda: osc_name in osc.removed, 10.0)
        assert gone, "no goodbye when the daemon stopped"
    for b in browsers:
        b.cancel()
    assert any(e["event"] == "zeroconf_advertised" for e in logs)


async def test_discovery_can_be_turned_off() -> None:
    settings = Settings(**{**SETTINGS, "zeroconf": False})
    with capture_logs() as logs:
        async with open_server(settings, executors=FakeModelSource()):
            await trio.sleep(0)
    assert not any(e["event"].startswith("zeroconf") for e in logs)
