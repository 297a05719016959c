"""The trusted-network set: the fast range parser agrees with the standard library on every spelling,
and lookups find exactly the addresses inside the merged ranges."""
from __future__ import annotations

import ipaddress
import random

import pytest

from shared.networks import NetworkSet, span


def reference(cidr: str):
    net = ipaddress.ip_network(cidr, strict=False)
    return net.version, int(net.network_address), int(net.broadcast_address)


def outcome(fn, cidr):
    try:
        return fn(cidr)
    except ValueError:
        return "refused"


@pytest.mark.parametrize("cidr", [
    "203.0.113.0/24", "203.0.113.77/24", "1.2.3.4", "1.2.3.4/32", "0.0.0.0/0", "10.0.0.0/255.0.0.0",
    "2001:db8::/48", "2001:db8::1/128", "::ffff:1.2.3.0/120", "::/0", "2001:db8::/048", "1.2.3.4/024",
    "1.2.3.4/33", "2001:db8::/129", "2001:db8::/", "1.2.3.4/", "01.2.3.4/24", "1.2.3.4/²", "1.2.3.4/ 24",
    "1.2.3.4/+24", "1.2.3/24", "fe80::1%eth0/64", "x/24", "",
])
def test_span_agrees_with_ipaddress(cidr):
    assert outcome(span, cidr) == outcome(reference, cidr)


def test_span_agrees_with_ipaddress_on_random_ranges():
    rng = random.Random(7)
    for _ in range(5000):
        if rng.random() < 0.5:
            cidr = f"{ipaddress.IPv4Address(rng.getrandbits(32))}/{rng.randint(0, 32)}"
        else:
            cidr = f"{ipaddress.IPv6Address(rng.getrandbits(128))}/{rng.randint(0, 128)}"
        assert span(cidr) == reference(cidr), cidr


def test_lookup_at_the_edges_of_merged_ranges():
    nets = NetworkSet(["203.0.113.0/25", "203.0.113.128/25", "198.51.100.8/29", "2001:db8::/48"])
    assert "203.0.113.0" in nets and "203.0.113.255" in nets  # two halves merged into one /24
    assert "203.0.114.0" not in nets and "203.0.112.255" not in nets
    assert "198.51.100.7" not in nets and "198.51.100.8" in nets and "198.51.100.15" in nets
    assert "198.51.100.16" not in nets
    assert "2001:db8:0:ffff::1" in nets and "2001:db8:1::" not in nets
    assert "::ffff:203.0.113.9" in nets  # an IPv4-mapped address is its IPv4 address
    assert "not an ip" not in nets
