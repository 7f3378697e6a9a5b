"""A thin trio UDP loop: datagrams in to a handler, datagrams out, peers that vanish are reported.

python-osc is used only as a codec (via ``metalosc.protocol``); its own servers block and sleep on
future timetags, which a real-time daemon cannot afford.

A departed peer answers our datagrams with ICMP "port unreachable". Linux reports that on an
unconnected UDP socket only with ``IP_RECVERR`` set, and then as ``ECONNREFUSED`` on a *later*
``sendto``/``recvfrom``, not necessarily one addressed to that peer. So on such an error the
socket's error queue (``MSG_ERRQUEUE``) is read: each entry names the destination that refused,
which is handed to ``on_gone``. Nothing of this ever crashes the loop or logs per datagram.

Input is drained in bounded slices: up to ``slice_size`` datagrams are read without waiting, each
handed to the handler, then the loop yields to the scheduler. A datagram that the handler drops
at once (a shed or denied one) then costs one ``recvfrom`` and a few dictionary look-ups, with no
scheduler round trip of its own, so the daemon empties its socket faster than a flood fills it,
and the transport's send loops still run between slices whatever the input rate.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from collections.abc import Awaitable, Callable

import structlog
import trio

__all__ = ["Peer", "UdpEndpoint", "adopt_udp", "open_udp"]

log = structlog.get_logger("metalosc.server.transport")

Peer = tuple[str, int]
"""A UDP peer: (host, port)."""
MAX_DATAGRAM = 65_535
SLICE_SIZE = 64
"""Datagrams handled between two yields to the scheduler (the beat's loops run in between)."""
SEND_ATTEMPTS = 4
"""Tries of one datagram whose sends are refused for earlier datagrams (``UdpEndpoint.sendto``)."""
_GONE = (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN)
_IP_RECVERR = getattr(socket, "IP_RECVERR", 11)  # Linux values; Python does not name them
_IPV6_RECVERR = getattr(socket, "IPV6_RECVERR", 25)
_MSG_ERRQUEUE = getattr(socket, "MSG_ERRQUEUE", 0x2000)


async def open_udp(host: str, port: int) -> UdpEndpoint:
    """Bind a UDP socket (``port`` 0 picks a free one)."""
    info = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_DGRAM)
    family = info[0][0]
    sock = trio.socket.socket(family, trio.socket.SOCK_DGRAM)
    try:
        await sock.bind(info[0][4])
        _report_errors(sock)
    except BaseException:
        sock.close()
        raise
    return UdpEndpoint(sock)


def adopt_udp(sock: socket.socket) -> UdpEndpoint:
    """An endpoint on a UDP socket bound elsewhere (socket activation, a test's network
    namespace); it becomes the endpoint's to close."""
    adopted = trio.socket.from_stdlib_socket(sock)
    _report_errors(adopted)
    return UdpEndpoint(adopted)


def _report_errors(sock: trio.socket.SocketType) -> None:
    if sys.platform == "linux":
        if sock.family == trio.socket.AF_INET6:
            sock.setsockopt(trio.socket.IPPROTO_IPV6, _IPV6_RECVERR, 1)
        else:
            sock.setsockopt(trio.socket.IPPROTO_IP, _IP_RECVERR, 1)


class UdpEndpoint:
    """A bound trio UDP socket: :meth:`serve` hands datagrams in, :meth:`sendto` sends them out;
    ``on_gone(peer)`` hears of destinations that refused a datagram (ICMP). ``sent`` and
    ``send_failures`` count datagrams."""

    def __init__(self, sock: trio.socket.SocketType) -> None:
        self.sock = sock
        # the same socket as a plain one, to read the error queue without waiting (non-blocking)
        self._raw = socket.socket(fileno=os.dup(sock.fileno()))
        self._raw.setblocking(False)
        self.on_gone: Callable[[Peer], None] | None = None
        self.sent = 0
        self.send_failures = 0

    @property
    def address(self) -> Peer:
        """The bound (host, port)."""
        host, port = self.sock.getsockname()[:2]
        return str(host), int(port)

    async def sendto(self, data: bytes, peer: Peer) -> bool:
        """Send one datagram; False (and ``on_gone``) when the peer is unreachable.

        A refusal queued for *another* destination is reported on whichever send comes next,
        and that send is not made: then the datagram is sent again, so one vanished subscriber
        never costs another its beat. A refused send was never made, so a refusal is only ever
        about an *earlier* datagram: ``peer`` is reported gone only when the error queue names
        it. Under a flood the queue may have had no room for a refusal's details (it shares the
        receive buffer), and more refusals may arrive between two tries (the kernel may deliver
        ICMP late under load); after :data:`SEND_ATTEMPTS` refused tries the datagram is given
        up, and nobody is blamed for it."""
        await trio.lowlevel.checkpoint_if_cancelled()
        attempts = 0
        while attempts < SEND_ATTEMPTS:
            try:
                # the plain socket: a datagram goes out at once or not at all, so trio's address
                # resolution and its yield after every send are not needed on this hot path
                self._raw.sendto(data, peer)
            except BlockingIOError:  # a full send buffer: wait for room, then try again
                await trio.lowlevel.wait_writable(self._raw)
                continue
            except OSError as exc:
                attempts += 1
                self.send_failures += 1
                if exc.errno not in _GONE:
                    log.warning("udp_send_failed", peer=f"{peer[0]}:{peer[1]}", error=str(exc))
                    return False
                if peer in self._drain_errors():
                    return False
                continue
            self.sent += 1
            return True
        return False

    def _drain_errors(self) -> list[Peer]:
        """Report every destination in the socket's error queue as gone; those destinations."""
        gone: list[Peer] = []
        while True:
            try:
                _, _, _, address = self._raw.recvmsg(1, 512, _MSG_ERRQUEUE)
            except OSError:
                break
            if address:
                gone.append((str(address[0]), int(address[1])))
        if self.on_gone is not None:
            for peer in dict.fromkeys(gone):
                self.on_gone(peer)
        return gone

    async def serve(
        self,
        handler: Callable[[bytes, Peer], Awaitable[None]],
        *,
        max_datagram: int = MAX_DATAGRAM,
        slice_size: int = SLICE_SIZE,
    ) -> None:
        """Receive forever, handing each datagram to ``handler`` in arrival order, in slices of
        at most ``slice_size`` between yields (module docstring). A datagram longer than
        ``max_datagram`` bytes arrives cut to ``max_datagram`` bytes (the handler can tell that
        it was longer than any it accepts by asking for one byte more than that)."""
        raw = self._raw
        while True:
            await trio.lowlevel.wait_readable(raw)
            for _ in range(slice_size):
                try:
                    data, address = raw.recvfrom(max_datagram)
                except BlockingIOError:
                    break
                except OSError as exc:
                    if exc.errno in _GONE:  # a pending ICMP error from an earlier send
                        self._drain_errors()
                        continue
                    raise
                await handler(data, (str(address[0]), int(address[1])))
            await trio.lowlevel.checkpoint()

    def close(self) -> None:
        """Close the socket."""
        self._raw.close()
        self.sock.close()
