"""Replay a bursty SMS sign-in trace against the real SMS limits (shared/methods/limits.py) on the
in-memory table (shared/store/memory.py: ETags, conditional writes), with shard contention modelled:

    python -m tools.sim_limits --rate 100 --peak 10 --peak-seconds 300 --duration 900 --seed 1

Time runs in steps of one storage latency window (`--window`, the read-decide-write cycle of one send).
Every send arriving in a step, and every retry of a send that lost a race in the step before, runs the
real `limits.prepare` (its reads) before any of them writes; then their transactions are submitted in a
random order, so two sends of one step on one shard (or one user, phone, IP) meet as in Azure: the second
write's ETag is stale and it retries in the next step (up to the store's retry bound, then 409). After the
trace, every counter row is summed per window: overshoot (sends counted past a limit) must be 0.
Reported: sends counted, refused by limit, lost races (retries), sends given up (409), extra pool reads
(a spent shard sent elsewhere), and units stranded (left in a pool that refused a send; 0 by design).

With `--lanes L` (MFA_SMS_LIMIT_LANES, shared/methods/limits_lanes.py) a step runs every send's reads, then
every send's first-lane transactions (user, IP) in random order, then every last-lane transaction (phone and
pools) in random order, so a send's lanes interleave with others' and a lost race in its last lane gives back
its first lanes' units ("give-backs"). Per-partition load: every entity a query returns (at least one per
query) and every row a transaction writes is counted against its partition and the second of the trace;
the busiest partition-second is reported against Azure's target of 2,000 entities/s per partition.
"""
from __future__ import annotations

import argparse
import base64
import logging
import os
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from shared.channels.memory import MemoryQueues
from shared.kernel.errors import RateLimited
from shared.methods import limits, limits_lanes
from shared.settings import load_settings
from shared.store import MAX_CONFLICT_RETRIES, StaleWrite
from shared.store.memory import MemoryTable
from shared.wiring import build_deps

START = datetime(2026, 11, 30, 8, 50, tzinfo=timezone.utc)  # a Monday, ten minutes before the 9:00 wave


class IndexedTable(MemoryTable):
    """The in-memory table, with reads narrowed to the rows a filter can name (the keys of `get_many`, the
    range of `query_prefix`) before its own predicate runs: the same answers, without scanning every row
    of a partition that holds a counter per user. Counts the entities each partition serves per second."""

    def __init__(self) -> None:
        super().__init__()
        self.second = 0  # of the trace, set by the replay
        self.entities: Counter = Counter()  # (partition, second) -> entities read and written

    def query_entities(self, query_filter: str, *, parameters: dict[str, Any] | None = None, **kw: Any) -> Any:
        with self._lock:  # the rows are narrowed in place; the lanes' reads come from several threads
            rows = list(self._query(query_filter, parameters, **kw))
            if parameters and "pk" in parameters:
                self.entities[(parameters["pk"], self.second)] += max(len(rows), 1)
        return rows

    def _query(self, query_filter: str, parameters: dict[str, Any] | None, **kw: Any) -> Any:
        params = parameters or {}
        rows = self._table()
        if "pk" in params and ("r0" in params or "lo" in params):
            keys = (sorted((params["pk"], v) for k, v in params.items() if k.startswith("r") and k[1:].isdigit())
                    if "r0" in params else self._range(params["pk"], params["lo"], params["hi"]))
            saved, self._rows = self._rows, {k: rows[k] for k in keys if k in rows}
            try:
                return super().query_entities(query_filter, parameters=parameters, **kw)
            finally:
                self._rows = saved
        return super().query_entities(query_filter, parameters=parameters, **kw)

    def submit_transaction(self, operations: Any, **kw: Any) -> Any:
        """All or nothing as before, staged on the rows it names only (not a copy of the whole table)."""
        ops = list(operations)
        keys = {(op[1]["PartitionKey"], op[1]["RowKey"]) for op in ops}
        with self._lock:
            for pk, _ in keys:
                self.entities[(pk, self.second)] += 1
            return self._submit(ops, keys, **kw)

    def _submit(self, ops: list[Any], keys: set[tuple[str, str]], **kw: Any) -> Any:
        full = self._table()
        self._rows = {k: full[k] for k in keys if k in full}
        try:
            return super().submit_transaction(ops, **kw)
        finally:
            staged, self._rows = self._rows, full
            for k in keys:
                if k in staged:
                    full[k] = staged[k]
                else:
                    full.pop(k, None)

    def _range(self, pk: str, lo: str, hi: str) -> list[tuple[str, str]]:
        return sorted(k for k in self._table() if k[0] == pk and lo <= k[1] < hi)


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


@dataclass
class Send:
    user: int
    ip: str | None
    tries: int = 0


@dataclass
class Result:
    sent: int = 0
    refused: Counter = field(default_factory=Counter)
    lost_races: int = 0
    gave_up: int = 0
    given_back: int = 0
    max_entities: int = 0  # entities read and written in the busiest partition's busiest second
    pool_reads: int = 0
    stranded: int = 0
    overshoot: int = 0
    peak_in_flight: int = 0
    seconds: float = 0.0


def _key() -> str:
    return base64.b64encode(os.urandom(32)).decode()  # keys of this run only; nothing leaves the process


def phone(user: int, prefixes: int) -> str:
    return f"+1{206 + user % prefixes:03d}{user // prefixes % 10_000_000:07d}"  # one number per user


def run(rate: float, peak: float, peak_seconds: float, duration: float, window: float, seed: int,
        env: dict[str, str], users: int = 1_000_000, prefixes: int = 40, ips: int = 50_000) -> Result:
    logging.getLogger("twostep").setLevel(logging.ERROR)  # a refusal's warning, thousands of times
    rng = random.Random(seed)
    clock = Clock(START)
    settings = load_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true", "MFA_OTP_HOST": "sim.test",
                              "MFA_HMAC_KEYS": f"k1:{_key()}", "MFA_ENCRYPTION_KEYS": f"k1:{_key()}",
                              "ACS_ENDPOINT": "http://127.0.0.1:9", "ACS_SENDER": "+18005550100", **env})
    table = IndexedTable()
    deps = build_deps(settings, clock=clock, table=table, queues=MemoryQueues())
    deps.store.ping()
    deps.index("phone", "+12065550000")
    out = Result()
    for name in ("query_prefix", "query"):  # the pools' reads (a redirect; other layouts, carried)
        setattr(deps.store, name, _counted(getattr(deps.store, name), out))
    began, waiting = time.monotonic(), []
    peak_from = (duration - peak_seconds) / 2
    for step in range(int(duration / window)):
        t = step * window
        clock.at = START + timedelta(seconds=t)
        table.second = int(t)
        lam = rate * (peak if peak_from <= t < peak_from + peak_seconds else 1) * window
        arriving = [Send(rng.randrange(users), f"10.{rng.randrange(ips) // 256 % 256}.{rng.randrange(256)}.1")
                    for _ in range(_poisson(rng, lam))]
        batch, waiting = waiting + arriving, []
        out.peak_in_flight = max(out.peak_in_flight, len(batch))
        planned = []
        for send in batch:
            try:
                planned.append((send, prepare(deps, f"u{send.user}", phone(send.user, prefixes), send.ip, rng)))
            except RateLimited as err:
                out.refused["daily budget" if err.retry_after > 3600 else "an hourly limit"] += 1
        for phase in (("write_first", "write_last") if settings.sms_limit_lanes > 1 else ("transact",)):
            rng.shuffle(planned)
            still = []
            for send, writes in planned:
                try:
                    getattr(writes, phase)(deps.store)
                    still.append((send, writes))
                except StaleWrite:
                    out.given_back += getattr(writes, "given_back", 0)
                    out.lost_races += 1
                    send.tries += 1
                    if send.tries >= MAX_CONFLICT_RETRIES:
                        out.gave_up += 1
                    else:
                        waiting.append(send)
            planned = still
        out.sent += len(planned)
    out.seconds = time.monotonic() - began
    out.max_entities = max(table.entities.values(), default=0)
    _audit(deps, settings, out)
    return out


def _counted(read: Any, out: Result) -> Any:
    def counted(*a: Any, **k: Any) -> Any:
        out.pool_reads += 1
        return read(*a, **k)
    return counted


def prepare(deps: Any, user: str, e164: str, ip: str | None, rng: random.Random) -> Any:
    """What one send would write: with one lane, its transaction (run by `transact`); with more, the lanes'
    Plan (its `write_first`, then its `write_last`)."""
    if deps.settings.sms_limit_lanes > 1:
        return limits_lanes.plan(deps, user, e164, ip, rng)
    return _OneTx(limits.prepare(deps, user, e164, ip, rng))


@dataclass
class _OneTx:
    tx: Any

    def transact(self, store: Any) -> None:
        store.transact(self.tx)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam > 30:
        return max(0, round(rng.gauss(lam, lam ** 0.5)))
    n, p, threshold = 0, 1.0, pow(2.718281828459045, -lam)
    while True:
        p *= rng.random()
        if p <= threshold:
            return n
        n += 1


def _audit(deps: Any, settings: Any, out: Result) -> None:
    """Sum every counter row per limit and window (over its lanes): overshoot past a limit, units left in
    spent pools, and no lost update (every send counted once in the budget and once in its user's row)."""
    rows = [r for r in deps.store.table.list_entities() if r["PartitionKey"].startswith(limits.PARTITION_PREFIX)]
    exact = {"user": settings.sms_per_user_per_hour, "phone": settings.sms_per_phone_per_hour,
             "ip": settings.sms_per_ip_per_hour}
    pools: Counter = Counter()
    users = 0
    for r in rows:
        parts, day = r["RowKey"].split("|"), r["PartitionKey"].split("|")[1]
        if parts[1] in exact:
            out.overshoot += max(0, r["count"] - exact[parts[1]])
            users += r["count"] if parts[1] == "user" else 0
        else:
            pools[(day, "|".join(parts[:3]) if parts[1] == "prefix" else "day|budget")] += r["count"]
    budget_sent = sum(v for (_, root), v in pools.items() if root == "day|budget")
    assert budget_sent == out.sent == users, (budget_sent, out.sent, users)  # no lost update, all given back
    for (_, root), spent in pools.items():
        out.overshoot += max(0, spent - _limit(settings, root))
    memory = limits._memory.get(deps.store)
    spent_lanes: Counter = Counter((partition.split("|")[1], prefix) for partition, prefix in
                                   (memory.spent if memory else {}))
    for (day, prefix), lanes in spent_lanes.items():
        root = prefix.rsplit("|", 3)[0]
        if lanes >= min(settings.sms_limit_lanes, _limit(settings, root)):  # every lane holding units: spent
            out.stranded += max(0, _limit(settings, root) - pools[(day, root)])


def _limit(settings: Any, root: str) -> int:
    return settings.sms_daily_budget if root == "day|budget" else settings.sms_per_prefix_per_hour


def table(results: list[tuple[str, Result]]) -> str:
    head = ("| scenario | sends counted | refused 429 | lost races (retries) | given up (409) | give-backs "
            "| pool queries (carried, redirect) | stranded units | overshoot | peak sends in one window "
            "| max entities/s in one partition (target 2,000) | run time |\n" + "|---" * 12 + "|")
    lines = [f"| {name} | {r.sent:,} | {sum(r.refused.values()):,} | {r.lost_races:,} | {r.gave_up} | "
             f"{r.given_back:,} | {r.pool_reads:,} | {r.stranded} | **{r.overshoot}** | {r.peak_in_flight} | "
             f"{r.max_entities:,} | {r.seconds:.0f} s |" for name, r in results]
    return "\n".join([head, *lines])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=100, help="mean SMS sends per second outside the peak")
    p.add_argument("--peak", type=float, default=10, help="peak multiplier")
    p.add_argument("--peak-seconds", type=float, default=300, help="length of the peak (centred)")
    p.add_argument("--duration", type=float, default=900, help="trace length in seconds")
    p.add_argument("--window", type=float, default=0.02, help="storage latency window in seconds")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--shards", default=os.environ.get("MFA_SMS_LIMIT_SHARDS", "256"))
    p.add_argument("--lanes", default=os.environ.get("MFA_SMS_LIMIT_LANES", "1"), help="MFA_SMS_LIMIT_LANES")
    p.add_argument("--budget", default="100000", help="MFA_SMS_DAILY_BUDGET")
    p.add_argument("--prefix-limit", default="20000", help="MFA_SMS_PER_PREFIX_PER_HOUR")
    a = p.parse_args(argv)
    env = {"MFA_SMS_LIMIT_SHARDS": a.shards, "MFA_SMS_LIMIT_LANES": a.lanes, "MFA_SMS_DAILY_BUDGET": a.budget,
           "MFA_SMS_PER_PREFIX_PER_HOUR": a.prefix_limit, "MFA_SMS_PER_IP_PER_HOUR": "10000"}
    r = run(a.rate, a.peak, a.peak_seconds, a.duration, a.window, a.seed, env)
    print(table([(f"{a.rate:g}/s, {a.peak:g}x for {a.peak_seconds:g} s, {a.duration:g} s, {a.shards} shards, "
                f"{a.lanes} lane(s)", r)]))
    return 1 if r.overshoot else 0


if __name__ == "__main__":
    sys.exit(main())
