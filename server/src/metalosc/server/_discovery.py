"""Being found on the network: Zeroconf (mDNS/DNS-SD) service advertisements.

The daemon advertises its control port as ``_osc._udp`` (what TouchOSC, Lemur and other OSC
tools browse for) and, when the OSCQuery server runs, its HTTP port as ``_oscjson._tcp`` (the
OSCQuery proposal's service type, what Chataigne, ossia score and VRChat-style clients browse
for). python-zeroconf runs its own asyncio loop in a thread of its own; everything here that may
wait on it — opening the responder, probing and announcing each name, the goodbye packets —
runs in trio worker threads, so the event loop never waits on the network.

The responder answers on the configured interface only: a daemon bound to 127.0.0.1 is
advertised on loopback (seen only on this machine), one bound to an address on that address's
interface, one bound to 0.0.0.0 on every interface with every IPv4 address the machine has. An
instance name already taken on the network gets a number (``MetalOSC on studio (2)``).
Discovery is a convenience: when the network refuses multicast, the daemon logs
``zeroconf_unavailable`` with the reason and plays on.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
from collections.abc import Sequence

import ifaddr
import structlog
import trio
from zeroconf import Error as ZeroconfError, InterfaceChoice, IPVersion, ServiceInfo, Zeroconf

__all__ = ["OSCQUERY_SERVICE", "OSC_SERVICE", "Advertisement", "advertise", "service_infos"]

log = structlog.get_logger("metalosc.server.discovery")

OSC_SERVICE = "_osc._udp.local."
"""DNS-SD service type of an OSC server over UDP."""
OSCQUERY_SERVICE = "_oscjson._tcp.local."
"""DNS-SD service type of an OSCQuery (HTTP/JSON) server."""


@dataclasses.dataclass(frozen=True)
class Advertisement:
    """What to advertise: the instance ``name``, the ``host`` the daemon is bound to, its OSC
    UDP port and its OSCQuery HTTP port (``None`` when that server is off)."""

    name: str
    host: str
    osc_port: int
    oscquery_port: int | None


def _wildcard(host: str) -> bool:
    return host in ("", "0.0.0.0", "::")


def _local_addresses() -> list[str]:
    """Every IPv4 address of this machine, loopback last (only when there is no other)."""
    found: list[str] = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and ip.ip not in found:
                found.append(ip.ip)
    outward = [a for a in found if not ipaddress.ip_address(a).is_loopback]
    return outward or ["127.0.0.1"]


def _addresses(host: str) -> list[str]:
    """The addresses to announce for ``host`` (blocking: resolves a host name)."""
    if _wildcard(host):
        return _local_addresses()
    return [socket.gethostbyname(host)]


def _server_name() -> str:
    label = "".join(c if c.isalnum() or c == "-" else "-" for c in socket.gethostname())
    return f"{label.strip('-') or 'metalosc'}.local."


def service_infos(ad: Advertisement, addresses: Sequence[str]) -> list[ServiceInfo]:
    """The DNS-SD records for ``ad`` reachable at ``addresses`` (IPv4 strings)."""
    packed = [socket.inet_aton(a) for a in addresses]
    server = _server_name()
    infos = [
        ServiceInfo(
            OSC_SERVICE,
            f"{ad.name}.{OSC_SERVICE}",
            port=ad.osc_port,
            addresses=packed,
            properties={"txtvers": "1"},
            server=server,
        )
    ]
    if ad.oscquery_port is not None:
        infos.append(
            ServiceInfo(
                OSCQUERY_SERVICE,
                f"{ad.name}.{OSCQUERY_SERVICE}",
                port=ad.oscquery_port,
                addresses=packed,
                properties={"txtvers": "1"},
                server=server,
            )
        )
    return infos


def _open(ad: Advertisement) -> tuple[Zeroconf, list[ServiceInfo]]:
    """The responder on the configured interface, every service registered (blocking)."""
    addresses = _addresses(ad.host)
    interfaces = InterfaceChoice.All if _wildcard(ad.host) else addresses
    zc = Zeroconf(interfaces=interfaces, ip_version=IPVersion.V4Only)
    infos = service_infos(ad, addresses)
    try:
        for info in infos:
            zc.register_service(info, allow_name_change=True)
    except BaseException:
        zc.close()
        raise
    return zc, infos


def _close(zc: Zeroconf, infos: Sequence[ServiceInfo]) -> None:
    """Goodbye packets for every service, then the responder closed (blocking)."""
    try:
        for info in infos:
            zc.unregister_service(info)
    finally:
        zc.close()


async def advertise(
    ad: Advertisement, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
) -> None:
    """Advertise ``ad`` until cancelled, then say goodbye (within 2 s). Reports the registered
    instance names through ``task_status`` (``[]`` when Zeroconf is unavailable: logged, not
    raised)."""
    try:
        zc, infos = await trio.to_thread.run_sync(_open, ad)
    except (OSError, ZeroconfError) as exc:
        log.warning("zeroconf_unavailable", host=ad.host, error=str(exc) or type(exc).__name__)
        task_status.started([])
        return
    names = [info.name for info in infos]
    log.info("zeroconf_advertised", services=names, host=ad.host)
    task_status.started(names)
    try:
        await trio.sleep_forever()
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(2.0):
            await trio.to_thread.run_sync(_close, zc, infos, abandon_on_cancel=True)
