"""The UDP endpoint on real loopback sockets: a refusal (ICMP port unreachable) queued for one
destination must not cost another destination its datagram."""

from __future__ import annotations

import contextlib
import errno
import select
import socket
import sys
from collections.abc import Iterator

import pytest
from metalosc.server._udp import SEND_ATTEMPTS, Peer, open_udp

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="IP_RECVERR is Linux's")


def _closed_port() -> Peer:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        host, port = sock.getsockname()
    return str(host), int(port)


@contextlib.contextmanager
def _listening_peer() -> Iterator[tuple[socket.socket, Peer]]:
    """A peer that listens on loopback: its socket and its address."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as live:
        live.bind(("127.0.0.1", 0))
        live.settimeout(10.0)
        yield live, ("127.0.0.1", int(live.getsockname()[1]))


async def test_a_refusal_for_one_peer_does_not_cost_another_its_datagram() -> None:
    endpoint = await open_udp("127.0.0.1", 0)
    gone: list[Peer] = []
    endpoint.on_gone = gone.append
    with _listening_peer() as (live, alive):
        dead = _closed_port()
        assert await endpoint.sendto(b"to nobody", dead)  # out; the refusal comes back later
        waiting = select.poll()
        waiting.register(endpoint.sock.fileno(), select.POLLERR)
        assert waiting.poll(10_000), "the refusal is queued on the socket"
        # the next send, to a peer that listens, is the one the refusal is reported on
        assert await endpoint.sendto(b"beat", alive)
        assert live.recv(64) == b"beat"
    assert gone == [dead]
    assert endpoint.sent == 2
    endpoint.close()


async def test_a_peer_that_refused_is_reported_gone_and_not_sent_to_twice() -> None:
    endpoint = await open_udp("127.0.0.1", 0)
    gone: list[Peer] = []
    endpoint.on_gone = gone.append
    dead = _closed_port()
    assert await endpoint.sendto(b"one", dead)
    waiting = select.poll()
    waiting.register(endpoint.sock.fileno(), select.POLLERR)
    assert waiting.poll(10_000)
    assert not await endpoint.sendto(b"two", dead)
    assert gone == [dead]
    assert (endpoint.sent, endpoint.send_failures) == (1, 1)
    endpoint.close()


class _RefusingSocket:
    """A socket whose first ``refusals`` sends report an earlier datagram's refusal (what a
    kernel that delivers ICMP late does under load), with nothing in the error queue."""

    def __init__(self, real: socket.socket, refusals: int) -> None:
        self._real = real
        self.refusals = refusals

    def sendto(self, data: bytes, peer: Peer) -> int:
        if self.refusals:
            self.refusals -= 1
            raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
        return self._real.sendto(data, peer)

    def __getattr__(self, name: str) -> object:  # the error queue is read from the real one
        return getattr(self._real, name)


@pytest.mark.parametrize("refusals", [1, 2, 3])
async def test_refusals_that_name_nobody_never_cost_the_peer_its_datagram(refusals: int) -> None:
    endpoint = await open_udp("127.0.0.1", 0)
    gone: list[Peer] = []
    endpoint.on_gone = gone.append
    with _listening_peer() as (live, alive):
        real = endpoint._raw
        endpoint._raw = _RefusingSocket(real, refusals)  # type: ignore[assignment]
        assert await endpoint.sendto(b"beat", alive)
        assert live.recv(64) == b"beat"
    assert gone == []
    assert (endpoint.sent, endpoint.send_failures) == (1, refusals)
    endpoint._raw = real
    endpoint.close()


async def test_a_datagram_refused_at_every_try_is_given_up_and_nobody_is_blamed() -> None:
    endpoint = await open_udp("127.0.0.1", 0)
    gone: list[Peer] = []
    endpoint.on_gone = gone.append
    real = endpoint._raw
    endpoint._raw = _RefusingSocket(real, SEND_ATTEMPTS)  # type: ignore[assignment]
    assert not await endpoint.sendto(b"beat", ("127.0.0.1", 9))
    assert gone == []
    assert (endpoint.sent, endpoint.send_failures) == (0, SEND_ATTEMPTS)
    endpoint._raw = real
    endpoint.close()
