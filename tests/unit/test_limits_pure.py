"""The pure half of the SMS limits (L5): which counters one SMS touches, their windows and limits, and how
a source address is keyed (an IPv6 /64 is one sender). Counting itself runs against Azurite in
tests/integration/test_limits.py."""
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest

from shared.crypto.keys import blind_index
from shared.methods.limits import _ip_key, counters
from shared.settings import Settings, load_settings
from tests.unit.test_config import GOOD

AT = datetime(2026, 11, 27, 19, 30, 15, 123456, tzinfo=timezone.utc)
KEY = b"A" * 32


@dataclass
class FakeDeps:  # counters() reads only the settings and the keyed index (Deps.index)
    settings: Settings
    index_key: bytes

    def index(self, kind: str, value: str) -> str:
        return blind_index(self.index_key, kind, value)


DEPS = FakeDeps(load_settings({**GOOD, "MFA_SMS_PER_USER_PER_HOUR": "3", "MFA_SMS_PER_PHONE_PER_HOUR": "4",
                               "MFA_SMS_PER_IP_PER_HOUR": "5", "MFA_SMS_PER_PREFIX_PER_HOUR": "6",
                               "MFA_SMS_DAILY_BUDGET": "7"}), KEY)


def table(ip=None, at=AT, e164="+14255550123"):
    return {(c.scope, c.row_key, c.limit, c.window_end) for c in counters(DEPS, at, "alice", e164, ip)}


def test_one_sms_touches_user_phone_prefix_and_budget():
    hour_end = datetime(2026, 11, 27, 20, tzinfo=timezone.utc)
    assert table() == {
        ("user", "19|user|alice", 3, hour_end),
        ("phone", f"19|phone|{blind_index(KEY, 'phone', '+14255550123')}", 4, hour_end),
        ("prefix", "19|prefix|+1425", 6, hour_end),
        ("budget", "day|budget", 7, datetime(2026, 11, 28, tzinfo=timezone.utc)),
    }


def test_an_ip_adds_its_counter():
    assert table(ip="203.0.113.9") - table() == {
        ("ip", "19|ip|203.0.113.9", 5, datetime(2026, 11, 27, 20, tzinfo=timezone.utc))}


def test_windows_at_the_edges_of_an_hour_and_a_day():
    last = datetime(2026, 11, 27, 23, 59, 59, 999999, tzinfo=timezone.utc)
    rows = {scope: (rk, end) for scope, rk, _, end in table(at=last)}
    assert rows["user"] == ("23|user|alice", datetime(2026, 11, 28, tzinfo=timezone.utc))
    assert rows["budget"][1] == datetime(2026, 11, 28, tzinfo=timezone.utc)
    first = datetime(2026, 11, 28, 0, 0, tzinfo=timezone.utc)
    rows = {scope: (rk, end) for scope, rk, _, end in table(at=first)}
    assert rows["user"] == ("00|user|alice", datetime(2026, 11, 28, 1, tzinfo=timezone.utc))
    assert rows["budget"][1] == datetime(2026, 11, 29, tzinfo=timezone.utc)


@pytest.mark.parametrize("e164,prefix", [("+14255550123", "+1425"), ("+447911123456", "+44791"),
                                         ("+33612345678", "+33612")])
def test_prefix_is_country_code_and_three_national_digits(e164, prefix):
    assert {rk for scope, rk, _, _ in table(e164=e164) if scope == "prefix"} == {f"19|prefix|{prefix}"}


@pytest.mark.parametrize("ip,key", [
    ("203.0.113.9", "203.0.113.9"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::_64"),
    ("2001:db8:1:2:ffff::1", "2001:db8:1:2::_64"),  # the same /64
    ("2001:db8:1:3::1", "2001:db8:1:3::_64"),
    ("::ffff:203.0.113.9", "203.0.113.9"),  # an IPv4 client seen through a dual stack
])
def test_ip_keys(ip, key):
    assert _ip_key(ip) == key and "/" not in key
