"""The one error type of decoding: whatever is wrong with a packet, the caller catches this."""

from __future__ import annotations

_ADDRESS_MAX = 64
"""Longest address kept in an error: it is echoed to the client in /metal/error."""


class ProtocolError(Exception):
    """A packet that is not a valid MetalOSC message or bundle.

    `reason` is short and human-readable, because the server sends it back to the client in
    `/metal/error s address s reason`; `address` is the OSC address the packet named, when it got
    that far (shortened to 64 characters, as it comes from an untrusted peer).
    """

    def __init__(self, reason: str, address: str | None = None) -> None:
        if address is not None and len(address) > _ADDRESS_MAX:
            address = address[: _ADDRESS_MAX - 1] + "…"
        super().__init__(reason, address)
        self.reason = reason
        self.address = address

    def __str__(self) -> str:
        return f"{self.address}: {self.reason}" if self.address else self.reason
