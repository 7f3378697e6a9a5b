"""systemd's ``sd_notify`` protocol: one datagram per state change to ``$NOTIFY_SOCKET``.

A few lines with a socket instead of a dependency. Without ``NOTIFY_SOCKET`` (not under systemd)
every call is a no-op.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping

__all__ = ["SystemdNotifier"]


class SystemdNotifier:
    """Sends ``sd_notify`` datagrams to ``address`` (a path or an ``@abstract`` name); with no
    address every call does nothing and returns ``False``."""

    def __init__(self, address: str | None) -> None:
        if address and address.startswith("@"):  # abstract namespace socket
            address = "\0" + address[1:]
        self.address = address or None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> SystemdNotifier:
        """The notifier of ``$NOTIFY_SOCKET`` (a no-op one when it is unset)."""
        return cls(environ.get("NOTIFY_SOCKET"))

    @staticmethod
    def watchdog_interval(environ: Mapping[str, str] = os.environ) -> float | None:
        """Seconds between ``WATCHDOG=1`` pings: half of ``$WATCHDOG_USEC``, as systemd advises."""
        usec = environ.get("WATCHDOG_USEC")
        pid = environ.get("WATCHDOG_PID")
        if not usec or (pid and pid != str(os.getpid())):
            return None
        try:
            return int(usec) / 2_000_000
        except ValueError:
            return None

    def notify(self, *fields: str) -> bool:
        """Send ``fields`` (``KEY=value`` lines) as one datagram; whether it was sent."""
        if self.address is None:
            return False
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            try:
                sock.sendto("\n".join(fields).encode(), self.address)
            except OSError:
                return False
        return True

    def ready(self, status: str = "") -> bool:
        """``READY=1`` (with a ``STATUS=`` line when given): start-up is complete."""
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> bool:
        """``RELOADING=1``: a reload has begun (``READY=1`` says when it is over)."""
        return self.notify("RELOADING=1")

    def stopping(self) -> bool:
        """``STOPPING=1``: a graceful stop has begun."""
        return self.notify("STOPPING=1")

    def watchdog(self) -> bool:
        """``WATCHDOG=1``: the event loop is alive."""
        return self.notify("WATCHDOG=1")
