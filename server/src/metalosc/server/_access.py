"""Who may talk to the daemon at all: an allowlist of networks, checked before anything else.

Bound to 127.0.0.1 (the default) only this machine can reach the daemon; bound wider, the
allowlist (setting ``allow``, CIDRs) says which peers may control it and subscribe. A datagram from
any other address is dropped before it is parsed and never answered — an answer would tell a
scanner the port is open and could be aimed, with a forged source address, at a third party.

Checking an address means parsing it; the answer is cached per host string (bounded), since a
flood repeats the same few sources.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network

__all__ = ["AccessList"]

_CACHE_MAX = 4096


class AccessList:
    """The networks whose hosts may send to the daemon (IPv4 or IPv6; an IPv4-mapped IPv6
    address is checked as the IPv4 address it carries)."""

    def __init__(self, networks: Iterable[IPv4Network | IPv6Network]) -> None:
        self.networks = tuple(networks)
        self._cache: dict[str, bool] = {}

    def allows(self, host: str) -> bool:
        """Whether ``host`` (an address as the socket reports it, e.g. ``"10.0.0.2"``) is in one
        of the networks; an unparsable host is not."""
        allowed = self._cache.get(host)
        if allowed is None:
            allowed = self._check(host)
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[host] = allowed
        return allowed

    def _check(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)
