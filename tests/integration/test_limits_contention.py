"""L5 under contention, against Azurite over HTTP: hundreds of concurrent SMS sends through the real limit
code and store against a budget (or a prefix limit) of K leave exactly K counted and the rest refused 429,
with no lost update and no other answer, and lost races (re-reads) stay few: on a single budget row the
same runs lost 500-730 races for 300 sends, and 30 in a row end a send in 409. The limits are called
directly (an SMS begin adds a profile read, a challenge and an enqueue that decide nothing here), on 32
shards, few enough to be fought over by 16 threads."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from shared.kernel.errors import RateLimited
from shared.methods import limits
from shared.store import StaleWrite

SENDS, THREADS = 300, 16


def spend(deps, phone_of, ip_of=lambda i: None) -> list[str]:
    """Every send's answer; each lost race (a StaleWrite the limits then retried) adds "lost_race"."""
    deps.index("phone", "+14255550000")  # load the index key once, before the race
    lost: list[int] = []
    transact = deps.store.transact

    def counting(tx):
        try:
            transact(tx)
        except StaleWrite:
            lost.append(1)
            raise
    deps.store.transact = counting

    def one(i: int) -> str:
        try:
            limits.consume_sms(deps, f"user{i}", phone_of(i), ip_of(i))
            return "counted"
        except RateLimited as err:
            assert err.retry_after >= 1
            return "rate_limited"

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(one, range(SENDS))) + ["lost_race"] * len(lost)


def counted(deps, clock, root: str) -> int:
    """What the table holds for a pool: the sum over its shard rows (of every layout)."""
    partition = f"{limits.PARTITION_PREFIX}{clock.now():%Y%m%d}"
    return sum(r["count"] for r in deps.store.query_prefix(partition, root, limit=100_000))


def test_concurrent_sends_spend_exactly_the_daily_budget(make_deps, clock):
    budget = 120
    deps = make_deps(MFA_SMS_DAILY_BUDGET=str(budget), MFA_SMS_LIMIT_SHARDS="32",
                     MFA_SMS_PER_PREFIX_PER_HOUR="100000")
    started = time.monotonic()
    results = spend(deps, lambda i: f"+1{206 + i % 3}555{i:04d}")  # three prefixes, one phone each
    assert results.count("counted") == budget and results.count("rate_limited") == SENDS - budget
    assert counted(deps, clock, "day|budget") == budget  # no lost update, no overshoot
    assert time.monotonic() - started < 60
    assert results.count("lost_race") < SENDS // 2  # one row for all: 500-730 lost races here


def test_concurrent_sends_spend_exactly_a_prefix_limit(make_deps, clock):
    limit = 90
    deps = make_deps(MFA_SMS_PER_PREFIX_PER_HOUR=str(limit), MFA_SMS_LIMIT_SHARDS="32",
                     MFA_SMS_PER_IP_PER_HOUR="10000")
    results = spend(deps, lambda i: f"+1425555{i:04d}", ip_of=lambda i: f"203.0.113.{i % 100}")
    assert results.count("counted") == limit and results.count("rate_limited") == SENDS - limit
    assert counted(deps, clock, "19|prefix|+1425") == limit
    assert results.count("lost_race") < SENDS // 2  # one row for all: 500-730 lost races here
    assert counted(deps, clock, "day|budget") == limit  # the budget counted exactly the sends that went out
    ips = deps.store.query_prefix(f"{limits.PARTITION_PREFIX}{clock.now():%Y%m%d}", "19|ip|")
    assert sum(r["count"] for r in ips) == limit  # and so did the exact per-IP counters
