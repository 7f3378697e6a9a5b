"""Hosts of our own: network namespaces joined by veth pairs, so a test has non-loopback peers.

A :class:`TestNetwork` makes a server namespace and one namespace per peer, each peer joined to
the server by its own veth pair on its own /24 (``ip netns add``, ``ip link add … type veth``;
Debian's ``iproute2``; root). Traffic between them never leaves the namespaces made here, and
everything is deleted on exit. The addresses are from the documentation ranges (RFC 5737), which
no real network routes.

A socket belongs to the network namespace its creating thread was in, so :func:`socket_in`
switches the calling thread into a namespace (``setns``), creates the socket and switches back:
one process can then hold sockets on several of these hosts.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["NetworkUnavailableError", "TestNetwork", "run_in", "socket_in"]

_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


class NetworkUnavailableError(Exception):
    """Namespaces cannot be made here: ``ip`` is missing or we are not root (the message says
    which, with what to do)."""


def _setns(fd: int) -> None:
    if _libc.setns(fd, _CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextmanager
def _inside(namespace: str) -> Iterator[None]:
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(f"/run/netns/{namespace}", os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)


def socket_in(
    namespace: str, family: int = socket.AF_INET, kind: int = socket.SOCK_DGRAM
) -> socket.socket:
    """A new socket in network namespace ``namespace`` (a name under ``/run/netns``)."""
    with _inside(namespace):
        return socket.socket(family, kind)


def run_in(namespace: str, argv: list[str]) -> list[str]:
    """``argv`` prefixed to run inside ``namespace`` (``ip netns exec``)."""
    return ["ip", "netns", "exec", namespace, *argv]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@dataclass
class TestNetwork:
    """A server namespace and ``peers`` peer namespaces, peer ``k`` at ``peer_address(k)``
    and the server at ``server_address(k)`` on that link (both ``/24``). Names start with
    ``prefix`` and the process id, so concurrent runs do not collide."""

    peers: int = 2
    prefix: str = "mosc"
    server: str = field(init=False)
    peer_names: list[str] = field(init=False)

    SUBNETS = ("198.51.100", "203.0.113", "192.0.2")
    """The peers' /24s, in order (RFC 5737 documentation ranges)."""

    def __post_init__(self) -> None:
        if not 1 <= self.peers <= len(self.SUBNETS):
            raise ValueError(f"1..{len(self.SUBNETS)} peers, not {self.peers}")
        tag = f"{self.prefix}{os.getpid()}"
        self.server = f"{tag}-srv"
        self.peer_names = [f"{tag}-p{k}" for k in range(self.peers)]

    @staticmethod
    def check() -> None:
        """Raise :class:`NetworkUnavailableError` when namespaces cannot be made here."""
        if shutil.which("ip") is None:
            raise NetworkUnavailableError("ip is not installed: sudo apt-get install iproute2")
        if os.geteuid() != 0:
            raise NetworkUnavailableError("network namespaces need root (run the tests as root)")

    def server_address(self, k: int) -> str:
        """The server's address on peer ``k``'s link."""
        return f"{self.SUBNETS[k]}.1"

    def peer_address(self, k: int) -> str:
        """Peer ``k``'s address."""
        return f"{self.SUBNETS[k]}.2"

    def subnet(self, k: int) -> str:
        """Peer ``k``'s link as a CIDR."""
        return f"{self.SUBNETS[k]}.0/24"

    def __enter__(self) -> TestNetwork:
        self.check()
        try:
            _ip("netns", "add", self.server)
            _ip("-n", self.server, "link", "set", "lo", "up")
            for k, name in enumerate(self.peer_names):
                _ip("netns", "add", name)
                _ip("-n", name, "link", "set", "lo", "up")
                outer, inner = f"{name[-12:]}s", f"{name[-12:]}p"
                _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
                _ip("link", "set", outer, "netns", self.server)
                _ip("link", "set", inner, "netns", name)
                _ip("-n", self.server, "addr", "add", f"{self.server_address(k)}/24", "dev", outer)
                _ip("-n", name, "addr", "add", f"{self.peer_address(k)}/24", "dev", inner)
                _ip("-n", self.server, "link", "set", outer, "up")
                _ip("-n", name, "link", "set", inner, "up")
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        # deleting a namespace deletes the veth ends inside it, and so both ends of each pair
        for name in [*self.peer_names, self.server]:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
