"""Trusted-network matching: every named location's ranges merged into sorted intervals per IP version,
so a lookup is a binary search even with 195 locations of 2000 ranges each."""
from __future__ import annotations

import bisect
import ipaddress
import socket
from collections.abc import Iterable

_FAMILIES = {4: (socket.AF_INET, 32), 6: (socket.AF_INET6, 128)}


def span(cidr: str) -> tuple[int, int, int]:
    """(IP version, first address, last address) of a range such as `203.0.113.0/24`.

    `inet_pton` and integer masks are about five times faster than `ipaddress.ip_network`, which matters
    when a policy at the maximum (390,000 ranges) is loaded; any other spelling falls back to ipaddress.
    """
    address, slash, prefix = cidr.partition("/")
    version = 6 if ":" in address else 4
    family, bits = _FAMILIES[version]
    try:
        value = int.from_bytes(socket.inet_pton(family, address), "big")
        length = bits if not slash else int(prefix) if prefix.isascii() and prefix.isdigit() else -1
    except OSError:
        length = -1
    if not 0 <= length <= bits:
        net = ipaddress.ip_network(cidr, strict=False)
        return net.version, int(net.network_address), int(net.broadcast_address)
    host = (1 << (bits - length)) - 1
    return version, value & ~host, value | host


class NetworkSet:
    def __init__(self, cidrs: Iterable[str]) -> None:
        spans: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for cidr in cidrs:
            version, first, last = span(cidr)
            spans[version].append((first, last))
        self._starts: dict[int, list[int]] = {}
        self._ends: dict[int, list[int]] = {}
        for version, ranges in spans.items():
            merged: list[list[int]] = []
            for start, end in sorted(ranges):
                if merged and start <= merged[-1][1] + 1:
                    merged[-1][1] = max(merged[-1][1], end)
                else:
                    merged.append([start, end])
            self._starts[version] = [s for s, _ in merged]
            self._ends[version] = [e for _, e in merged]

    def __contains__(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if address.version == 6 and address.ipv4_mapped:
            address = address.ipv4_mapped
        value, version = int(address), address.version
        i = bisect.bisect_right(self._starts[version], value) - 1
        return i >= 0 and value <= self._ends[version][i]
