"""The pure half of the SMS limits (L5): which exact counters and sharded pools one SMS touches, their
windows and limits, how a pool's allotments add up to its limit, and how a source address is keyed (an
IPv6 /64 is one sender). Counting itself runs against Azurite in tests/integration/test_limits.py."""
from dataclasses import dataclass
from datetime import datetime, timezone

import pytest

from shared.crypto.keys import blind_index
from shared.methods.limits import Pool, _ip_key, counters, pools
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
    return ({(c.scope, c.row_key, c.limit, c.window_end) for c in counters(DEPS, at, "alice", e164, ip)}
            | {(p.scope, p.prefix, p.limit, p.window_end) for p in pools(DEPS, at, e164)})


def test_one_sms_touches_user_phone_prefix_and_budget():
    hour_end = datetime(2026, 11, 27, 20, tzinfo=timezone.utc)
    assert table() == {
        ("user", "19|user|alice", 3, hour_end),
        ("phone", f"19|phone|{blind_index(KEY, 'phone', '+14255550123')}", 4, hour_end),
        ("prefix", "19|prefix|+1425|6|256|", 6, hour_end),  # the layout (limit, n) is in the key
        ("budget", "day|budget|7|256|", 7, datetime(2026, 11, 28, tzinfo=timezone.utc)),
    }


def test_the_budget_and_prefix_pools_take_the_shard_setting():
    deps = FakeDeps(load_settings({**GOOD, "MFA_SMS_LIMIT_SHARDS": "8"}), KEY)
    budget, = (p for p in pools(deps, AT, "+14255550123") if p.scope == "budget")
    assert (budget.shards, budget.prefix, budget.row_key(7)) == (8, "day|budget|10000|8|", "day|budget|10000|8|0007")
    assert load_settings(GOOD).sms_limit_shards == 256


@pytest.mark.parametrize("limit,n,carried", [(10000, 256, 0), (200, 256, 0), (203, 50, 0), (7, 256, 0),
                                             (1, 1, 0), (1027, 256, 0), (10000000, 1024, 0), (10000, 256, 9000),
                                             (25, 6, 20), (25, 6, 25), (25, 6, 40)])
def test_allotments_sum_to_what_is_left_of_the_limit(limit, n, carried):
    pool = Pool("budget", "day|budget", limit, AT, n)
    allotments = [pool.allotment(s, carried) for s in range(n)]
    assert sum(allotments) == max(limit - carried, 0)  # never more than the limit, over every layout
    assert max(allotments) - min(allotments) <= 1
    assert pool.left({pool.row_key(0): {"count": allotments[0]}}, 0, carried) == 0
    assert pool.left({}, n - 1, carried) == allotments[-1]


@pytest.mark.parametrize("name,value", [("MFA_SMS_LIMIT_SHARDS", "0"), ("MFA_SMS_LIMIT_SHARDS", "1025"),
                                        ("MFA_SMS_LIMIT_SHARDS", "many")])
def test_the_shard_setting_is_bounded(name, value):
    from shared.kernel.errors import ConfigError
    with pytest.raises(ConfigError, match=name):
        load_settings({**GOOD, name: value})


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
    assert {rk for scope, rk, _, _ in table(e164=e164) if scope == "prefix"} == {f"19|prefix|{prefix}|6|256|"}


@pytest.mark.parametrize("ip,key", [
    ("203.0.113.9", "203.0.113.9"),
    ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::_64"),
    ("2001:db8:1:2:ffff::1", "2001:db8:1:2::_64"),  # the same /64
    ("2001:db8:1:3::1", "2001:db8:1:3::_64"),
    ("::ffff:203.0.113.9", "203.0.113.9"),  # an IPv4 client seen through a dual stack
])
def test_ip_keys(ip, key):
    assert _ip_key(ip) == key and "/" not in key
