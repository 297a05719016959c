"""The sharded SMS limits (L5) on the in-memory table: two sends on different shards do not fight, a spent
shard sends a send to another so the whole limit is spent (nothing stranded), a pool seen spent is refused
without a read, and a limit lowered mid-window keeps what the window spent."""
from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest

from shared.kernel.errors import RateLimited
from shared.methods import limits
from tests.clocks import FixedClock
from tests.memory_deps import memory_deps

AT = datetime(2026, 11, 27, 19, 30, tzinfo=timezone.utc)
PARTITION = f"{limits.PARTITION_PREFIX}20261127"


def make(**env: str):
    return memory_deps(FixedClock(AT), MFA_SMS_PER_PREFIX_PER_HOUR="100000", **env)


def reads(deps) -> list[str]:
    """Record every read the store makes (get_many and query_prefix)."""
    seen: list[str] = []
    for name in ("get_many", "query_prefix", "get"):
        real = getattr(deps.store, name)
        setattr(deps.store, name, lambda *a, _real=real, _name=name, **k: (seen.append(_name), _real(*a, **k))[1])
    return seen


def budget_rows(deps) -> dict[str, int]:
    return {r["RowKey"]: r["count"] for r in deps.store.query_prefix(PARTITION, "day|budget", limit=10_000)}


def send(deps, i: int, rng: random.Random | None = None) -> None:
    deps.store.transact(limits.prepare(deps, f"u{i}", f"+1206555{i:04d}", None, rng or random.Random(i)))


def test_two_concurrent_sends_on_different_shards_both_count():
    deps = make(MFA_SMS_LIMIT_SHARDS="16")
    deps.index("phone", "+12065550000")
    seeds = [s for s in range(100) if random.Random(s).randrange(16) != random.Random(0).randrange(16)]
    first = limits.prepare(deps, "a", "+12065550001", None, random.Random(0))  # both read before either writes
    second = limits.prepare(deps, "b", "+12065550002", None, random.Random(seeds[0]))
    deps.store.transact(first)
    deps.store.transact(second)  # on one budget row, this would be a lost race (StaleWrite)
    assert sorted(budget_rows(deps).values()) == [1, 1]


def test_a_spent_shard_sends_the_send_elsewhere_and_the_whole_budget_is_spent():
    deps = make(MFA_SMS_DAILY_BUDGET="37", MFA_SMS_LIMIT_SHARDS="8")
    rng = random.Random(7)
    for i in range(37):
        send(deps, i, rng)  # one rng: picks repeat, so spent shards are met and left for others
    rows = budget_rows(deps)
    assert sum(rows.values()) == 37 and len(rows) == 8  # nothing stranded: every unit of every shard
    assert max(rows.values()) - min(rows.values()) <= 1  # 37 over 8: allotments of 5 and 4
    with pytest.raises(RateLimited) as err:
        send(deps, 99)
    assert err.value.retry_after == 4 * 3600 + 30 * 60  # the end of the UTC day
    assert sum(budget_rows(deps).values()) == 37


def test_a_pool_seen_spent_is_refused_without_reading():
    deps = make(MFA_SMS_DAILY_BUDGET="2", MFA_SMS_LIMIT_SHARDS="4")
    send(deps, 0)
    send(deps, 1)
    with pytest.raises(RateLimited):
        send(deps, 2)  # reads, finds every shard spent, remembers it
    seen = reads(deps)
    for i in range(3, 10):
        with pytest.raises(RateLimited):
            send(deps, i)
    assert seen == []


def test_a_limit_lowered_mid_day_keeps_what_the_day_spent():
    deps = make(MFA_SMS_DAILY_BUDGET="1000", MFA_SMS_LIMIT_SHARDS="16")
    for i in range(20):
        send(deps, i)
    lowered = memory_deps(deps.clock, MFA_SMS_PER_PREFIX_PER_HOUR="100000", MFA_SMS_DAILY_BUDGET="25",
                          MFA_SMS_LIMIT_SHARDS="4")  # another layout (limit and n) on the same table
    lowered.store.table = lowered.store.tables[0] = deps.store.table  # the same table, as another instance sees it
    answers = []
    for i in range(20, 40):
        try:
            send(lowered, i)
            answers.append("sent")
        except RateLimited:
            answers.append("refused")
    assert answers.count("sent") == 5 and sum(budget_rows(deps).values()) == 25


def test_the_unsharded_row_of_before_the_upgrade_is_carried():
    deps = make(MFA_SMS_DAILY_BUDGET="10", MFA_SMS_LIMIT_SHARDS="4")
    from shared.store import Tx, new_row
    deps.store.ping()  # creates the table
    deps.store.transact(Tx().create(new_row(PARTITION, "day|budget", count=8)))  # counted by the old code
    send(deps, 0)
    send(deps, 1)
    with pytest.raises(RateLimited):
        send(deps, 2)


def test_an_instance_starting_in_a_busy_window_reads_only_other_layouts():
    deps = make(MFA_SMS_DAILY_BUDGET="1000", MFA_SMS_LIMIT_SHARDS="16")
    for i in range(40):
        send(deps, i)  # this layout's shards all exist now
    from shared.store import Tx, new_row
    deps.store.transact(Tx().create(new_row(PARTITION, "day|budget", count=3)))  # the row of before the upgrade
    fresh = make(MFA_SMS_DAILY_BUDGET="1000", MFA_SMS_LIMIT_SHARDS="16")  # another instance: nothing remembered
    fresh.store.table = fresh.store.tables[0] = deps.store.table
    returned: list[str] = []
    query, query_prefix = fresh.store.query, fresh.store.query_prefix
    fresh.store.query = lambda *a, **k: iter([returned.append(r["RowKey"]) or r for r in query(*a, **k)])
    fresh.store.query_prefix = lambda *a, **k: [returned.append(r["RowKey"]) or r for r in query_prefix(*a, **k)]
    send(fresh, 99)
    assert returned == ["day|budget"]  # carried (3), and none of the 16 shards of this layout
    assert sum(budget_rows(deps).values()) == 3 + 41


def budget_rows_read(deps, sends: int) -> int:
    """Budget shard rows the store returned to queries (the redirects of spent picks) over `sends`."""
    returned: list[int] = []
    for name in ("query", "query_prefix"):
        real = getattr(deps.store, name)

        def counting(*a, _real=real, **k):
            rows = list(_real(*a, **k))
            returned.append(sum(1 for r in rows if r["RowKey"].startswith("day|budget|")))
            return iter(rows) if _real.__name__ == "query" else rows
        setattr(deps.store, name, counting)
    rng = random.Random(11)
    for i in range(sends):
        send(deps, i, rng)
    return sum(returned)


def test_the_end_of_a_pool_reads_a_window_of_shards_per_redirect_not_the_whole_pool():
    """Each spent pick used to read all n shards; as a busy budget ran out, every send that met a spent
    shard did, and the partition passed its throughput target many times over (docs/scale.md). Now a
    redirect reads WINDOW shards at a time, and an instance skips the shards it saw spent."""
    deps = make(MFA_SMS_DAILY_BUDGET="256", MFA_SMS_LIMIT_SHARDS="256", MFA_SMS_PER_PHONE_PER_HOUR="100")
    read = budget_rows_read(deps, 256)
    assert sum(budget_rows(deps).values()) == 256  # every unit spent: nothing stranded
    with pytest.raises(RateLimited):
        send(deps, 999)
    assert read < 256 * 6, read  # here 1,068 (all n per redirect: 20,720)


def test_an_exact_counter_refuses_at_its_limit_not_one_after():
    deps = make(MFA_SMS_PER_USER_PER_HOUR="3")
    for i in range(3):
        deps.store.transact(limits.prepare(deps, "same-user", f"+1206555{i:04d}", None, random.Random(i)))
    with pytest.raises(RateLimited):
        limits.prepare(deps, "same-user", "+12065559999", None, random.Random(9))


def picks(rng: random.Random, budget_candidates: list[int]) -> int:
    """The budget shard `prepare` picks with `rng`: the prefix pool (32 shards, none seen) draws first."""
    rng.choice(list(range(32)))
    return rng.choice(budget_candidates)


def test_the_one_open_shard_at_a_windows_start_is_found():
    """The pick lands on a spent shard this instance has not seen spent (5); every other shard but the first
    of the second window (16) is spent and seen spent: the redirect still reads that window, whose only
    candidate is its first shard, and counts the send there (a window is skipped only when none of its
    shards may hold units)."""
    from shared.store import Tx, new_row

    deps = make(MFA_SMS_DAILY_BUDGET="32", MFA_SMS_LIMIT_SHARDS="32")
    deps.store.ping()
    pool = next(p for p in limits.pools(deps, deps.clock.now(), "+12065550001") if p.scope == "budget")
    open_shard, unseen = limits.WINDOW, 5
    for s in range(32):
        if s != open_shard:
            deps.store.transact(Tx().create(new_row(PARTITION, pool.row_key(s), count=1)))
    mem = limits._memory.setdefault(deps.store, limits._Memory())
    mem.saw_full(PARTITION, pool, set(range(32)) - {open_shard, unseen}, deps.clock.now())
    seed = next(i for i in range(100) if picks(random.Random(i), [unseen, open_shard]) == unseen)
    deps.store.transact(limits.prepare(deps, "u1", "+12065550001", None, random.Random(seed)))
    assert budget_rows(deps)[pool.row_key(open_shard)] == 1 and sum(budget_rows(deps).values()) == 32
