"""SMS send limits (L5): per user, per phone number, per source IP, per number prefix, and a global daily
budget (which numbers are accepted at all is model/phone.py's to say). Over any limit: 429 `rate_limited`
with Retry-After, nothing sent. Counters are fixed windows: clock hours, and the UTC day for the budget.

Layout: the counters of a UTC day live in one partition, `~rl|YYYYMMDD` (no user id can name it).
- Exact counters, one row each per clock hour: `HH|user|<id>`, `HH|phone|<keyed index>`, `HH|ip|<key>`.
- Sharded pools: the daily budget and each prefix's hourly limit are split over n shard rows
  (`day|budget|<limit>|<n>|<s>`, `HH|prefix|<prefix>|<limit>|<n>|<s>`; n is MFA_SMS_LIMIT_SHARDS). Shard
  s holds an allotment of units // n, one more for the first units % n shards, so the allotments sum to
  the units exactly; units = the limit, less what other layouts spent in the window (below).

One SMS: ONE query reads its exact rows and one shard of each pool picked at random; ONE ETag-conditional
entity-group transaction counts them all (create when absent, else If-Match replace): two round trips, as
before the shards. A picked shard that is spent sends the SMS to another: one more query reads the pool's
shards and picks at random among those with units left; only when all are spent is the SMS refused. A lost
race (two SMS on one shard, or on one user, phone or IP) re-reads and decides again.

Why the sum over shards never exceeds the limit: a shard's count rises only through a write conditional on
the version in which count < allotment was checked, so count(s) <= allotment(s) for every s, and the
allotments sum to the units. Error bound: none. A pool is refused only after a read of all its shards
showed each spent, and counts never fall within a window, so no unit is stranded; the price is one more
query for the last units of a pool. A pool seen spent is remembered by this instance until its window
ends, so a flood after the budget is gone costs no reads.

The limit and n are part of the row keys (the layout). A window's first SMS on an instance reads the pool's
rows of other layouts once (two queries, remembered): what they spent is carried, so lowering a limit at
noon, a change of n, or the upgrade from the unsharded row (`day|budget`, `HH|prefix|<prefix>`) keeps what
the day spent. Only an instance still on the old settings while a change rolls out can add to the old
layout after this one read it: that is the one bound, the minutes of a settings rollout.

One partition by default: one transaction covers one partition, so every counter of a send is counted
together and a refusal needs no undo. The shards end the hot row (one ETag every SMS contended on); the
partition's throughput target is what remains, about 2,000 entities/s for ~10 entities per SMS, so
~200-285 SMS/s (docs/scale.md). Past that, `MFA_SMS_LIMIT_LANES` = L > 1 spreads the day's counters over L
partitions (methods/limits_lanes.py: a transaction per partition touched, the pools last, the earlier
lanes' units given back when it fails); with L = 1 (the default) nothing here changes.
"""
from __future__ import annotations

import ipaddress
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from weakref import WeakKeyDictionary

import phonenumbers

from ..kernel import telemetry
from ..kernel.clock import retry_after
from ..kernel.errors import RateLimited
from ..model.phone import region
from ..ports import Counting, KeysAndSettings, Stored
from ..store import Entity, Store, Tx, new_row, retry_on_conflict

log = logging.getLogger("twostep.limits")
PARTITION_PREFIX = "~rl|"
_rng = random.Random()
WINDOW = 16  # shards a spent pick's redirect reads at a time
MEMORY = 4096  # pool facts remembered per store (spent pools, carried counts), pruned as windows end


@dataclass(frozen=True)
class Counter:
    """An exact counter: one row."""
    scope: str
    row_key: str
    limit: int
    window_end: datetime


@dataclass(frozen=True)
class Pool:
    """A limit split over `shards` rows; `root` names the pool in the window, `prefix` its layout (the
    limit, n, and the lanes L when more than one: `<n>x<L>`), which starts its shard rows' keys."""
    scope: str
    root: str
    limit: int
    window_end: datetime
    shards: int
    lanes: int = 1

    @property
    def prefix(self) -> str:
        n = f"{self.shards}x{self.lanes}" if self.lanes > 1 else str(self.shards)
        return f"{self.root}|{self.limit}|{n}|"

    def row_key(self, s: int) -> str:
        return f"{self.prefix}{s:04d}"

    def allotment(self, s: int, carried: int = 0) -> int:
        """Shard s's units: the limit, less what other layouts of this window spent, split over n."""
        units = max(self.limit - carried, 0)
        return units // self.shards + (1 if s < units % self.shards else 0)

    def left(self, rows: dict[str, Entity], s: int, carried: int = 0) -> int:
        return self.allotment(s, carried) - _count(rows, self.row_key(s))

    def holding(self, carried: int = 0) -> int:
        """How many shards, from 0, may hold units (a small limit leaves the last ones empty); at least 1."""
        return max(min(self.shards, self.limit - carried), 1)


def _ip_key(ip: str) -> str:
    """An IPv4 address, or the /64 of an IPv6 one (a single host usually holds a whole /64); written
    without `/`, which a row key may not hold."""
    address = ipaddress.ip_address(ip)
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address) + "_64"
    return str(address)


def _hour(now: datetime) -> tuple[str, datetime]:
    hour = now.replace(minute=0, second=0, microsecond=0)
    return f"{hour:%H}", hour + timedelta(hours=1)


def counters(d: KeysAndSettings, now: datetime, user_id: str, e164: str, ip: str | None) -> list[Counter]:
    """The exact counters one SMS touches: per user, per phone, per source IP (when known)."""
    s = d.settings
    h, hour_end = _hour(now)
    out = [
        Counter("user", f"{h}|user|{user_id}", s.sms_per_user_per_hour, hour_end),
        Counter("phone", f"{h}|phone|{d.index('phone', e164)}", s.sms_per_phone_per_hour, hour_end),
    ]
    if ip:
        out.append(Counter("ip", f"{h}|ip|{_ip_key(ip)}", s.sms_per_ip_per_hour, hour_end))
    return out


def pools(d: KeysAndSettings, now: datetime, e164: str) -> list[Pool]:
    """The sharded pools one SMS spends from: its number prefix's hourly limit and the daily budget."""
    s = d.settings
    h, hour_end = _hour(now)
    day_end = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    number = phonenumbers.parse(e164)
    prefix = f"+{number.country_code}{str(number.national_number)[:3]}"
    n, lanes = s.sms_limit_shards, s.sms_limit_lanes
    return [Pool("prefix", f"{h}|prefix|{prefix}", s.sms_per_prefix_per_hour, hour_end, n, lanes),
            Pool("budget", "day|budget", s.sms_daily_budget, day_end, n, lanes)]


def _count(rows: dict[str, Entity], row_key: str) -> int:
    return int(rows.get(row_key, {}).get("count", 0))


class _Memory:
    """What this instance knows of a store's pools in their windows: which are spent (counts never fall
    within a window, so a pool seen spent stays spent) and what other layouts spent (`carried`)."""

    def __init__(self) -> None:
        self.spent: dict[tuple[str, str], datetime] = {}
        self.carried: dict[tuple[str, str], tuple[int, datetime]] = {}
        self.full: dict[tuple[str, str], tuple[frozenset[int], datetime]] = {}  # shards seen spent

    def prune(self, now: datetime) -> None:
        if len(self.spent) + len(self.carried) + len(self.full) >= MEMORY:
            self.spent = {k: end for k, end in self.spent.items() if end > now}
            self.carried = {k: v for k, v in self.carried.items() if v[1] > now}
            self.full = {k: v for k, v in self.full.items() if v[1] > now}
            if len(self.spent) + len(self.carried) + len(self.full) >= MEMORY:
                self.spent, self.carried, self.full = {}, {}, {}

    def seen_full(self, partition: str, pool: Pool) -> frozenset[int]:
        return self.full.get((partition, pool.prefix), (frozenset(), pool.window_end))[0]

    def saw_full(self, partition: str, pool: Pool, shards: set[int], now: datetime) -> None:
        if shards - self.seen_full(partition, pool):
            self.prune(now)
            self.full[(partition, pool.prefix)] = (self.seen_full(partition, pool) | shards, pool.window_end)


_memory: WeakKeyDictionary[Store, _Memory] = WeakKeyDictionary()


def _after(key: str) -> str:
    """The first string after every string that starts with `key`."""
    return key[:-1] + chr(ord(key[-1]) + 1)


def _carried(d: Stored, partition: str, pool: Pool, mem: _Memory, now: datetime) -> int:
    """What the window's other layouts of `pool` spent (before a change of limit or n, or the unsharded
    row of before the upgrade): read once per instance and window, then remembered. Two range queries, one
    each side of this layout's rows, so an instance starting in a busy window does not read those."""
    key = (partition, pool.prefix)
    if key not in mem.carried:
        flt = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi"
        rows = [r for lo, hi in ((pool.root, pool.prefix), (_after(pool.prefix), _after(pool.root)))
                for r in d.store.query(flt, {"pk": partition, "lo": lo, "hi": hi}, select=["RowKey", "count"])]
        other = spent_by(pool, rows)
        mem.prune(now)
        mem.carried[key] = (other, pool.window_end)
    return mem.carried[key][0]


def spent_by(pool: Pool, rows: list[Entity]) -> int:
    """What `rows` (read from the pool's root range, this layout's rows left out) counted for the pool."""
    return sum(int(r.get("count", 0)) for r in rows if r["RowKey"] == pool.root
               or r["RowKey"].startswith(pool.root + "|"))


def _candidates(pool: Pool, carried: int, seen: frozenset[int]) -> list[int]:
    """The shards a pick may take: those with units allotted (a small limit leaves the last ones empty),
    less those this instance saw spent (counts never fall in a window, so they stay spent)."""
    return [s for s in range(pool.holding(carried)) if s not in seen]


def _another(d: Stored, partition: str, pool: Pool, rows: dict[str, Entity], carried: int, mem: _Memory,
             now: datetime, rng: random.Random) -> int | None:
    """A shard of `pool` with units left; None: all spent. Read WINDOW shards at a time (one range query
    each), from a random window on, skipping windows this instance saw spent, until one has units: near the
    end of a pool a redirect reads about WINDOW rows instead of all n (which, for every send that met a
    spent shard, put the partition far past its throughput target as a busy budget ran out)."""
    flt = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi"
    windows = list(range(0, pool.shards, WINDOW))
    first = rng.randrange(len(windows))
    candidates = set(_candidates(pool, carried, mem.seen_full(partition, pool)))
    for lo in windows[first:] + windows[:first]:
        hi = min(lo + WINDOW, pool.shards)
        if candidates.isdisjoint(range(lo, hi)):
            continue
        for row in d.store.query(flt, {"pk": partition, "lo": pool.row_key(lo), "hi": pool.row_key(hi)}):
            rows[row["RowKey"]] = row
        shards = range(lo, min(hi, pool.holding(carried)))
        open_shards = [s for s in shards if pool.left(rows, s, carried) > 0]
        mem.saw_full(partition, pool, {s for s in shards if pool.left(rows, s, carried) <= 0}, now)
        if open_shards:
            return rng.choice(open_shards)
    return None


def _pick(pool: Pool, carried: int, seen: frozenset[int], rng: random.Random) -> int:
    """A shard at random among those not seen spent (when all were, any: its read then finds it spent)."""
    candidates = _candidates(pool, carried, seen)
    return rng.choice(candidates) if candidates else rng.randrange(pool.holding(carried))


def _refuse(over: list[Counter | Pool], e164: str, now: datetime) -> RateLimited:
    log.warning("sms refused: %s limit reached", ", ".join(c.scope for c in over))
    for c in over:
        telemetry.SMS_RATE_LIMITED.decision(country=region(e164), limit=c.scope)
    return RateLimited(retry_after=max(retry_after(c.window_end, now) for c in over))


def prepare(d: Counting, user_id: str, e164: str, ip: str | None, rng: random.Random = _rng) -> Tx:
    """Read what one SMS would count and decide: raise RateLimited, or return the ETag-conditional
    transaction that counts it (one partition). `consume_sms` runs it; tools/sim_limits.py interleaves it."""
    now = d.clock.now()
    partition = f"{PARTITION_PREFIX}{now:%Y%m%d}"
    mem = _memory.setdefault(d.store, _Memory())
    exact, sharded = counters(d, now, user_id, e164, ip), pools(d, now, e164)
    known: list[Counter | Pool] = [p for p in sharded if (partition, p.prefix) in mem.spent]
    if known:
        raise _refuse(known, e164, now)
    carried = {p.prefix: _carried(d, partition, p, mem, now) for p in sharded}
    picks = {p.prefix: _pick(p, carried[p.prefix], mem.seen_full(partition, p), rng) for p in sharded}
    rows = d.store.get_many(partition, [c.row_key for c in exact] + [p.row_key(picks[p.prefix]) for p in sharded])
    over: list[Counter | Pool] = [c for c in exact if _count(rows, c.row_key) >= c.limit]
    spent = [p for p in sharded if p.left(rows, picks[p.prefix], carried[p.prefix]) <= 0] if not over else []
    for p in spent:  # the picked shard is spent: another with units left, or the pool is spent
        shard = _another(d, partition, p, rows, carried[p.prefix], mem, now, rng)
        if shard is None:
            mem.prune(now)
            mem.spent[(partition, p.prefix)] = p.window_end
            over.append(p)
        else:
            picks[p.prefix] = shard
    if over:
        raise _refuse(over, e164, now)
    tx = Tx()
    counted = [(c.row_key, c.window_end) for c in exact] + [(p.row_key(picks[p.prefix]), p.window_end) for p in sharded]
    for row_key, window_end in counted:
        count_one(tx, partition, rows.get(row_key), row_key, window_end)
    return tx


def count_one(tx: Tx, partition: str, row: Entity | None, row_key: str, window_end: datetime) -> None:
    """Add one to a counter row as read: create it when absent, else replace it If-Match its version."""
    if row is None:
        tx.create(new_row(partition, row_key, count=1, purgeAfter=window_end + timedelta(days=1)))
    else:
        row["count"] += 1
        tx.replace(row)


def consume_sms(d: Counting, user_id: str, e164: str, ip: str | None) -> None:
    """Count one SMS against every limit it falls under, or refuse it (counting nothing). Whether the number
    is accepted at all is model/phone.py's to say, before."""
    if d.settings.sms_limit_lanes > 1:
        from . import limits_lanes  # builds on this module, so imported when first needed, not at the top
        retry_on_conflict(lambda: limits_lanes.plan(d, user_id, e164, ip).commit(d.store))
        return
    retry_on_conflict(lambda: d.store.transact(prepare(d, user_id, e164, ip)))
