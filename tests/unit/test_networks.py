"""The trusted-network set: the fast range parser agrees with the standard library on every spelling,
and matching holds at every edge: first and last address of a range, the address just outside, gaps
between ranges, nested and overlapping ranges, IPv4 beside IPv6 (whose integers can coincide)."""
from __future__ import annotations

import ipaddress
import random

import pytest

from shared.model.networks import NetworkSet, span


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


def test_range_edges():
    nets = NetworkSet(["10.0.0.0/24"])
    assert "10.0.0.0" in nets and "10.0.0.255" in nets
    assert "9.255.255.255" not in nets and "10.0.1.0" not in nets


def test_an_address_below_every_range_is_outside():
    nets = NetworkSet(["10.0.0.0/24", "192.0.2.0/24"])
    assert "0.0.0.0" not in nets and "10.0.0.7" in nets and "192.0.2.7" in nets and "11.0.0.0" not in nets


def test_a_one_address_gap_between_ranges_stays_outside():
    nets = NetworkSet(["10.0.0.0/31", "10.0.0.3/32"])
    assert "10.0.0.1" in nets and "10.0.0.3" in nets and "10.0.0.2" not in nets


def test_adjacent_ranges_given_in_any_order():
    nets = NetworkSet(["10.0.1.0/24", "10.0.0.0/24"])
    assert "10.0.0.255" in nets and "10.0.1.0" in nets and "10.0.2.0" not in nets


def test_nested_and_overlapping_ranges_keep_the_widest_end():
    nets = NetworkSet(["10.0.0.0/16", "10.0.1.0/24", "10.0.255.0/25"])
    assert "10.0.200.1" in nets and "10.0.255.255" in nets and "10.1.0.0" not in nets


def test_host_bits_are_tolerated():
    assert "10.0.0.200" in NetworkSet(["10.0.0.1/24"])


def test_ipv4_and_ipv6_do_not_mix():
    v4 = NetworkSet(["10.0.0.0/24"])
    assert "::a00:1" not in v4  # int(::a00:1) == int(10.0.0.1)
    v6 = NetworkSet(["::a00:0/120"])
    assert "::a00:1" in v6 and "10.0.0.1" not in v6


def test_ipv4_mapped_addresses_match_ipv4_ranges():
    nets = NetworkSet(["203.0.113.0/24"])
    assert "::ffff:203.0.113.9" in nets and "::ffff:203.0.114.9" not in nets


@pytest.mark.parametrize("junk", ["", "nonsense", "10.0.0.256", "10.0.0.0/24", "1.2.3"])
def test_anything_not_an_address_is_outside(junk):
    assert junk not in NetworkSet(["10.0.0.0/8"])


def test_an_empty_set_holds_nothing():
    nets = NetworkSet([])
    assert "10.0.0.1" not in nets and "2001:db8::1" not in nets
