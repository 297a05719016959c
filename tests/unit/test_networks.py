"""Trusted-network matching at every edge: first and last address of a range, the address just outside,
gaps between ranges, nested and overlapping ranges, IPv4 beside IPv6 (whose integers can coincide)."""
import pytest

from shared.networks import NetworkSet


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
