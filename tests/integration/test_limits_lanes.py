"""L5 over lanes (MFA_SMS_LIMIT_LANES=4), against Azurite over HTTP: hundreds of concurrent SMS sends against
a budget (or a prefix limit) of K leave exactly K counted over the lane partitions and the rest refused 429,
with no lost update; a send refused in its phone lane (the phone's limit reached by another send between its
read and its write) gives back the units it took in its user's and IP's lanes; and with one lane the rows and
the partition are those of before (`~rl|YYYYMMDD`, one read and one transaction)."""
from __future__ import annotations

import random

import pytest

from shared.kernel.errors import RateLimited
from shared.methods import limits, limits_lanes
from shared.methods.limits_lanes import lane_of, lane_partition
from shared.store import StaleWrite
from tests.integration.test_limits_contention import SENDS, spend

LANES = "4"


def day(clock) -> str:
    return f"{limits.PARTITION_PREFIX}{clock.now():%Y%m%d}"


def counted(deps, clock, prefix: str, lanes: int = 4) -> int:
    """The sum of every row starting with `prefix` over the day's lane partitions."""
    return sum(r["count"] for lane in range(lanes)
               for r in deps.store.query_prefix(lane_partition(day(clock), lane), prefix, limit=100_000))


def test_concurrent_sends_over_lanes_spend_exactly_the_daily_budget(make_deps, clock):
    budget = 120
    deps = make_deps(MFA_SMS_DAILY_BUDGET=str(budget), MFA_SMS_LIMIT_SHARDS="32", MFA_SMS_LIMIT_LANES=LANES,
                     MFA_SMS_PER_PREFIX_PER_HOUR="100000")
    results = spend(deps, lambda i: f"+1{206 + i % 3}555{i:04d}")
    assert results.count("counted") == budget and results.count("rate_limited") == SENDS - budget
    assert counted(deps, clock, "day|budget") == budget  # no lost update, no overshoot
    assert counted(deps, clock, "19|user|") == budget  # the user units of refused sends were never kept
    assert list(deps.store.query("PartitionKey eq @pk", {"pk": day(clock)})) == []  # nothing in the 1-lane partition
    assert results.count("lost_race") < SENDS // 2


def test_concurrent_sends_over_lanes_spend_exactly_a_prefix_limit(make_deps, clock):
    limit = 90
    deps = make_deps(MFA_SMS_PER_PREFIX_PER_HOUR=str(limit), MFA_SMS_LIMIT_SHARDS="32", MFA_SMS_LIMIT_LANES=LANES,
                     MFA_SMS_PER_IP_PER_HOUR="10000")
    results = spend(deps, lambda i: f"+1425555{i:04d}", ip_of=lambda i: f"203.0.113.{i % 100}")
    assert results.count("counted") == limit and results.count("rate_limited") == SENDS - limit
    assert counted(deps, clock, "19|prefix|+1425") == limit
    assert counted(deps, clock, "day|budget") == limit
    # Exact counters of sends refused after their first lanes were written were given back: the per-IP and
    # per-user counts are exactly the sends that went out.
    assert counted(deps, clock, "19|ip|") == limit and counted(deps, clock, "19|user|") == limit


def test_a_refusal_in_the_phone_lane_gives_back_the_user_and_ip_units(make_deps, clock):
    deps = make_deps(MFA_SMS_LIMIT_LANES=LANES, MFA_SMS_PER_PHONE_PER_HOUR="1")
    phone = "+14255550190"
    phone_lane = lane_of(f"19|phone|{deps.index('phone', phone)}", 4)
    user, ip = next((f"u{i}", f"198.51.100.{i}") for i in range(200)
                    if len({lane_of(f"19|user|u{i}", 4), lane_of(f"19|ip|198.51.100.{i}", 4), phone_lane}) == 3)
    plan = limits_lanes.plan(deps, user, phone, ip, random.Random(2))  # read: the phone has its one SMS left
    plan.write_first(deps.store)  # the user's and the IP's lanes count it
    assert counted(deps, clock, f"19|user|{user}") == 1 and counted(deps, clock, f"19|ip|{ip}") == 1
    limits.consume_sms(deps, "someone-else", phone, None)  # meanwhile another send takes the phone's SMS
    with pytest.raises(StaleWrite):
        plan.write_last(deps.store)
    with pytest.raises(RateLimited):
        limits.consume_sms(deps, user, phone, ip)  # decided again: the phone is at its limit
    assert counted(deps, clock, f"19|user|{user}") == 0 and counted(deps, clock, f"19|ip|{ip}") == 0
    assert counted(deps, clock, "day|budget") == 1  # the pools counted only the send that went out


def test_one_lane_writes_the_rows_and_partition_of_before(make_deps, clock):
    deps = make_deps(MFA_SMS_LIMIT_LANES="1")
    calls: list[str] = []
    for name in ("get_many", "query", "query_prefix", "transact"):
        real = getattr(deps.store, name)
        setattr(deps.store, name, lambda *a, _r=real, _n=name, **k: (calls.append(_n), _r(*a, **k))[1])
    limits.consume_sms(deps, "alice", "+14255550191", "203.0.113.7")  # the instance's first: reads the layouts
    calls.clear()
    limits.consume_sms(deps, "bob", "+14255550192", "203.0.113.8")
    assert calls == ["get_many", "transact"]  # one query, one transaction
    rows = list(deps.store.query("PartitionKey ge @lo and PartitionKey lt @hi",
                                 {"lo": limits.PARTITION_PREFIX, "hi": "~rm"}, select=["PartitionKey", "RowKey"]))
    assert {r["PartitionKey"] for r in rows} == {day(clock)}
    shards = [r["RowKey"].rsplit("|", 1) for r in rows if "|budget|" in r["RowKey"] or "|prefix|" in r["RowKey"]]
    assert {layout for layout, _ in shards} == {"19|prefix|+1425|200|256", "day|budget|10000|256"}
    assert all(len(s) == 4 and s.isdigit() for _, s in shards)
    assert {r["RowKey"] for r in rows} >= {"19|user|alice", "19|user|bob", "19|ip|203.0.113.7",
                                           f"19|phone|{deps.index('phone', '+14255550191')}"}
