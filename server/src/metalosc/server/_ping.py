"""``metalosc ping``: is a daemon answering? A ``/metal/ping``, its ``/metal/pong``, the round trip.

Plain blocking sockets and the protocol's codec, nothing of the daemon started: a health check
(Docker's ``HEALTHCHECK``, a script) costs an interpreter start and two datagrams.

The ping travels in an immediate OSC bundle. The daemon never answers a peer that has not
subscribed with more bytes than its datagram had (no amplification), and a pong is always bigger
than a bare ping (the ping's arguments echoed plus the server's time); the bundle's 20 bytes of
header make room for it, so a health check needs no subscription.
"""

from __future__ import annotations

import secrets
import socket
import time

from metalosc.protocol import Ping as PingMessage, Pong, ProtocolError, decode_packet, encode_bundle

__all__ = ["PingError", "ping", "ping_address"]


class PingError(Exception):
    """The daemon did not answer: nothing listens there, or no pong came in time."""


def ping_address(host: str, port: int) -> tuple[str, int]:
    """Where to ping a daemon that listens on ``host``:``port``: a wildcard address (``0.0.0.0``,
    ``::``, empty) is reached on the loopback of its family."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1", port
    if host == "::":
        return "::1", port
    return host, port


def ping(host: str, port: int, timeout: float = 2.0) -> float:
    """Send ``/metal/ping`` to ``host``:``port`` (UDP) and wait up to ``timeout`` seconds for the
    ``/metal/pong`` that echoes it; the round trip in seconds.

    Raises :class:`PingError` when nothing answers in time or the port is closed (ICMP port
    unreachable), ``OSError`` when the address cannot be resolved.
    """
    token = secrets.randbelow(2**31)
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        # Connected, so that a closed port's ICMP answer comes back as ConnectionRefusedError.
        sock.connect(address)
        sent = time.monotonic()
        deadline = sent + timeout
        sock.send(encode_bundle([PingMessage(args=(token,))], None))
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data = sock.recv(65536)
            except TimeoutError:
                break
            except ConnectionRefusedError:
                raise PingError(f"nothing listens on {host}:{port} (UDP)") from None
            try:
                packet = decode_packet(data, outgoing=True)
            except ProtocolError:
                continue
            if isinstance(packet, Pong) and packet.args == (token,):
                return time.monotonic() - sent
    raise PingError(f"no answer from {host}:{port} within {timeout:g} s")
