"""The SMS limits over lanes (MFA_SMS_LIMIT_LANES > 1, L5 at 1,000 SMS/s), on the in-memory table with an
injected clock: where a counter and a shard live, that a send touches only its user's, IP's and phone's
lanes with the pools in the phone lane, that a lost race in the phone lane gives back the units taken in
the others, that spent phone-lane shards send the pools to another lane (nothing stranded, no overshoot),
and the setting's bounds."""
from __future__ import annotations

import hashlib
import random
from datetime import datetime, timezone

import pytest

from shared.kernel.errors import ConfigError, RateLimited, StorageUnavailable
from shared.methods import limits, limits_lanes
from shared.methods.limits import Pool
from shared.methods.limits_lanes import lane_of, lane_partition, shards_in
from shared.settings import load_settings
from shared.store import StaleWrite, Tx, new_row
from tests.clocks import FixedClock
from tests.memory_deps import ENV, memory_deps

AT = datetime(2026, 11, 27, 19, 30, tzinfo=timezone.utc)
DAY = f"{limits.PARTITION_PREFIX}20261127"


def make(**env: str):
    return memory_deps(FixedClock(AT), **{"MFA_SMS_PER_PREFIX_PER_HOUR": "100000", "MFA_SMS_LIMIT_LANES": "4",
                                          "MFA_SMS_LIMIT_SHARDS": "16", **env})


def rows_by_partition(deps) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for r in deps.store.table.list_entities():
        if r["PartitionKey"].startswith(limits.PARTITION_PREFIX):
            out.setdefault(r["PartitionKey"], {})[r["RowKey"]] = r["count"]
    return out


def budget_total(deps) -> int:
    return sum(c for rows in rows_by_partition(deps).values() for rk, c in rows.items() if rk.startswith("day|budget"))


def test_a_counter_lives_in_the_lane_its_row_key_hashes_to_stably():
    key = "19|user|alice"
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    assert [lane_of(key, n) for n in (1, 4, 64)] == [0, digest % 4, digest % 64]  # not Python's salted hash()
    lanes = [lane_of(f"19|user|u{i}", 8) for i in range(4000)]
    assert all(380 < lanes.count(lane) < 620 for lane in range(8))  # spread over every lane


def test_shard_s_lives_in_lane_s_mod_l_and_the_lanes_partition_the_shards():
    pool = Pool("budget", "day|budget", 10000, AT, 256, 8)
    placed = [list(shards_in(pool, lane)) for lane in range(8)]
    assert sorted(s for lane in placed for s in lane) == list(range(256))
    assert all(s % 8 == lane for lane, shards in enumerate(placed) for s in shards)
    assert pool.prefix == "day|budget|10000|256x8|"  # the lanes are part of the layout
    assert Pool("budget", "day|budget", 10000, AT, 256).prefix == "day|budget|10000|256|"  # 1 lane: as before


def test_lane_partitions_sort_after_the_day_and_before_the_next():
    names = [DAY, *(lane_partition(DAY, lane) for lane in range(64)), f"{limits.PARTITION_PREFIX}20261128"]
    assert names == sorted(names) and lane_partition(DAY, 7) == "~rl|20261127|07"


def test_the_lanes_setting_is_bounded_and_off_by_default():
    assert load_settings(ENV).sms_limit_lanes == 1
    assert load_settings({**ENV, "MFA_SMS_LIMIT_LANES": "64"}).sms_limit_lanes == 64
    for value in ("0", "65", "two"):
        with pytest.raises(ConfigError, match="MFA_SMS_LIMIT_LANES"):
            load_settings({**ENV, "MFA_SMS_LIMIT_LANES": value})
    with pytest.raises(ConfigError, match="must not exceed MFA_SMS_LIMIT_SHARDS"):
        load_settings({**ENV, "MFA_SMS_LIMIT_LANES": "8", "MFA_SMS_LIMIT_SHARDS": "4"})


def test_a_send_counts_each_counter_in_its_lane_and_the_pools_in_the_phone_lane():
    deps = make()
    limits.consume_sms(deps, "alice", "+12065550101", "203.0.113.9")
    parts = rows_by_partition(deps)
    assert DAY not in parts and set(parts) <= {lane_partition(DAY, lane) for lane in range(4)}
    phone = f"19|phone|{deps.index('phone', '+12065550101')}"
    for key in ("19|user|alice", phone, "19|ip|203.0.113.9"):
        assert parts[lane_partition(DAY, lane_of(key, 4))][key] == 1
    pooled = parts[lane_partition(DAY, lane_of(phone, 4))]
    picked = [int(rk[-4:]) for rk in pooled if "|budget|" in rk or "|prefix|" in rk]
    assert len(picked) == 2 and all(s % 4 == lane_of(phone, 4) for s in picked)
    assert len(parts) <= 3


def three_lanes(deps, phone: str) -> tuple[str, str]:
    """A user and an IP whose counters, with `phone`'s, fall in three different lanes of four (hour 19)."""
    return next((f"u{i}", f"203.0.113.{i}") for i in range(200)
                if len({lane_of(f"19|user|u{i}", 4), lane_of(f"19|ip|203.0.113.{i}", 4),
                        lane_of(f"19|phone|{deps.index('phone', phone)}", 4)}) == 3)


def test_a_lost_race_in_the_phone_lane_gives_back_the_other_lanes_units_and_retries():
    deps = make()
    user, ip = three_lanes(deps, "+12065550102")
    plan = limits_lanes.plan(deps, user, "+12065550102", ip, random.Random(1))
    assert len(plan.first) == 2  # the user's and the IP's lanes, before the phone lane
    plan.write_first(deps.store)
    assert budget_total(deps) == 0 and sum(sum(r.values()) for r in rows_by_partition(deps).values()) == 2
    limits.consume_sms(deps, "other", "+12065550102", None)  # the phone lane changes under the plan
    with pytest.raises(StaleWrite):
        plan.write_last(deps.store)
    assert plan.given_back == 2
    counts = {rk: c for rows in rows_by_partition(deps).values() for rk, c in rows.items()}
    assert counts[f"19|user|{user}"] == 0 and counts[f"19|ip|{ip}"] == 0  # back where they started
    assert budget_total(deps) == 1  # only the other send's


def test_a_spent_phone_lane_sends_the_pools_to_another_lane_and_the_whole_budget_is_spent():
    deps = make(MFA_SMS_DAILY_BUDGET="37", MFA_SMS_PER_PHONE_PER_HOUR="100")
    for i in range(37):
        limits.consume_sms(deps, f"u{i}", "+12065550103", None)  # one phone: one phone lane, spent after ~10
    assert budget_total(deps) == 37  # the other lanes' units were spent too: nothing stranded
    with pytest.raises(RateLimited) as err:
        limits.consume_sms(deps, "late", "+12065550104", None)
    assert err.value.retry_after == 4 * 3600 + 30 * 60
    seen: list[str] = []
    for name in ("get_many", "query_prefix", "query"):
        real = getattr(deps.store, name)
        setattr(deps.store, name, lambda *a, _r=real, _n=name, **k: (seen.append(_n), _r(*a, **k))[1])
    with pytest.raises(RateLimited):
        limits.consume_sms(deps, "later", "+12065550105", None)
    assert seen == [] and budget_total(deps) == 37  # every lane remembered spent: refused without a read


def test_a_counter_at_its_limit_refuses_before_anything_is_written():
    deps = make(MFA_SMS_PER_USER_PER_HOUR="1")
    limits.consume_sms(deps, "bob", "+12065550106", None)
    before = rows_by_partition(deps)
    with pytest.raises(RateLimited):
        limits.consume_sms(deps, "bob", "+12065550107", None)
    assert rows_by_partition(deps) == before


def test_raising_the_lanes_mid_day_carries_what_the_day_spent():
    deps = memory_deps(FixedClock(AT), MFA_SMS_DAILY_BUDGET="10", MFA_SMS_LIMIT_SHARDS="4")
    deps.store.ping()
    deps.store.transact(Tx().create(new_row(DAY, "day|budget|10|4|0000", count=3)))  # 1 lane: the same n
    laned = make(MFA_SMS_DAILY_BUDGET="10", MFA_SMS_LIMIT_SHARDS="4", MFA_SMS_LIMIT_LANES="2")
    laned.store.table = laned.store.tables[0] = deps.store.table
    sent = 0
    for i in range(12):
        try:
            limits.consume_sms(laned, f"u{i}", f"+1206555{i:04d}", None)
            sent += 1
        except RateLimited:
            pass
    assert sent == 7 and budget_total(deps) == 10


def lane_reads(forget: bool) -> int:
    """Redirect reads (a lane's shards of a pool) for 64 sends of one phone spending a budget of 64 shards
    of one unit each; `forget`: as if the instance did not remember the shards it saw spent."""
    deps = make(MFA_SMS_DAILY_BUDGET="64", MFA_SMS_LIMIT_SHARDS="64", MFA_SMS_PER_PHONE_PER_HOUR="100")
    reads: list[str] = []
    query_prefix = deps.store.query_prefix
    deps.store.query_prefix = lambda *a, **k: (reads.append(a[1]), query_prefix(*a, **k))[1]
    rng = random.Random(5)
    for i in range(64):
        if forget:
            limits_lanes._full.pop(deps.store, None)
        limits_lanes.plan(deps, f"u{i}", "+12065550108", None, rng).commit(deps.store)
    assert budget_total(deps) == 64
    return len([r for r in reads if r.startswith("day|budget")])


def test_shards_seen_spent_are_skipped_so_the_end_of_a_pool_costs_few_reads():
    remembered, forgotten = lane_reads(False), lane_reads(True)
    assert remembered < forgotten and remembered < 64 // 2, (remembered, forgotten)  # here 21 against 33


def test_a_give_back_that_fails_for_good_leaves_an_over_count_never_an_under_count():
    deps = make()
    user, ip = three_lanes(deps, "+12065550109")
    plan = limits_lanes.plan(deps, user, "+12065550109", ip, random.Random(3))
    plan.write_first(deps.store)
    limits.consume_sms(deps, "other", "+12065550109", None)  # the phone lane changes under the plan
    transact, calls = deps.store.transact, []

    def storage_down_after_the_first(tx):
        calls.append(tx)
        if len(calls) > 1:
            raise StorageUnavailable()
        transact(tx)
    deps.store.transact = storage_down_after_the_first
    with pytest.raises(StaleWrite):  # the send's own failure, not the give-back's
        plan.write_last(deps.store)
    counts = {rk: c for rows in rows_by_partition(deps).values() for rk, c in rows.items()}
    assert counts[f"19|user|{user}"] == 1 and counts[f"19|ip|{ip}"] == 1  # counted, never below what went out
    assert budget_total(deps) == 1


def test_a_last_transaction_that_may_have_been_applied_gives_nothing_back():
    """Storage failing on the pool lane's transaction (a timeout: it may have been applied, and its SMS may
    go out on a retry of the begin) leaves the first lanes' units counted: an over-count at worst, never an
    SMS sent without its user's and IP's units."""
    deps = make()
    user, ip = three_lanes(deps, "+12065550110")
    plan = limits_lanes.plan(deps, user, "+12065550110", ip, random.Random(4))
    plan.write_first(deps.store)
    transact = deps.store.transact

    def applied_then_timed_out(tx):
        transact(tx)
        raise StorageUnavailable()
    deps.store.transact = applied_then_timed_out
    with pytest.raises(StorageUnavailable):
        plan.write_last(deps.store)
    deps.store.transact = transact
    counts = {rk: c for rows in rows_by_partition(deps).values() for rk, c in rows.items()}
    assert counts[f"19|user|{user}"] == 1 and counts[f"19|ip|{ip}"] == 1 and budget_total(deps) == 1
    assert plan.given_back == 0


def test_a_give_back_never_takes_a_counter_below_zero_and_says_whether_it_worked():
    from shared.methods.limits_writes import give_back

    deps = make()
    deps.store.ping()
    part = lane_partition(DAY, 0)
    deps.store.transact(Tx().create(new_row(part, "19|user|a", count=1)).create(new_row(part, "19|user|b", count=0)))
    assert give_back(deps.store, part, ["19|user|a", "19|user|b"]) is True
    assert rows_by_partition(deps)[part] == {"19|user|a": 0, "19|user|b": 0}  # b stays at 0, never -1
    transact = deps.store.transact

    def down(tx):
        raise StorageUnavailable()
    deps.store.transact = down
    assert give_back(deps.store, part, ["19|user|a"]) is False
    deps.store.transact = transact
