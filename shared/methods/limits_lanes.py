"""SMS limits over lanes (L5 at 1,000 SMS/s): with `MFA_SMS_LIMIT_LANES` = L > 1 the day's counters of
methods/limits.py are spread over L partitions, `~rl|YYYYMMDD|<lane, two digits>` (after the 1-lane
`~rl|YYYYMMDD` and before the next day; no user id can name them), so no partition carries more than about
1/L of the entities a send reads and writes (Azure serves ~2,000 entities/s per partition; docs/scale.md).

Placement: an exact counter's row lives in lane `lane_of(row key)` (SHA-256, stable across processes, unlike
`hash()`); pool shard s in lane s mod L (the pool's layout is `<n>x<L>` in its rows' keys). A send picks its
pool shards among those of its PHONE counter's lane, so it touches at most 3 partitions (user's, IP's,
phone's), often fewer.

One send: the touched lanes are read side by side (one `get_many` each); the decision is as with one lane
(a counter at its limit refuses before anything is written; a spent pick goes to another shard of the lane).
Writes, one ETag-conditional transaction per lane: first the lanes holding only exact counters (side by
side), then the LAST lane holding the phone counter and the pool shards. When a first-lane transaction fails, or
the last one loses a race, the units the first lanes took are GIVEN BACK (an If-Match decrement, retried on
its own); a last transaction that fails otherwise (storage down, a timeout after Storage may have applied
it) gives nothing back: an over-count at worst; the pools are only ever in the last transaction, so never given
back, and a pool's count never falls within its window (its spent memory stays true).

When the phone lane's shards of a pool are spent (read, or remembered), the send tries the other lanes not
known spent, in random order, each read as the phone lane is (its picks; a spent pick, the lane's shards of
that pool), and moves the last transaction to the first where every pool has a shard left; the phone counter
then counts in the first phase. A pool is remembered spent per lane, and a send is refused without reads
only when every lane of a pool is; an instance also remembers the shards it saw spent and picks among the
others, so a pool's end costs a lane read per newly spent shard met, not per send. When no single lane has
units of every pool (the prefix's last units in one lane, the budget's in another) the send is refused:
the one bound on the refusing side beyond give-backs, reached only in a window's last units (the units
stay for sends of other prefixes; a pool whose every lane is spent with units left counts as stranded in
the simulation).

Why never an overshoot: every increment is conditional on the version in which count < limit (exact) or
count < allotment (shard) was read, as with one lane, and a give-back only lowers a count, If-Match, so it
never erases another send's unit. Error bound on the refusing side: a unit taken in a first lane and given
back moments later can refuse another send of the SAME user or IP (or phone, when the pools moved) in
between; a give-back that fails for good (storage down through its retries) leaves an over-count of one
unit in that hour's counter, never an under-count. A change of L moves the exact counters (they restart in
their new lanes for the rest of the hour) and a pool's carried count is read from the 1-lane partition and
this layout's L lanes: raising L carries what the window spent; lowering it mid-day does not see lanes >= the
new L (lower it at 00:00 UTC).

Requests per send (one lane: 1 query + 1 transaction, 2 waits): one read per lane touched (1-3, side by side,
1 wait), the first lanes' transactions (0-2, side by side, 1 wait), the last (1 wait): 2-6 requests, 3 waits;
at L = 8 with an IP, 8 x (1 - (7/8)^3) = 2.6 lanes, so ~5.3 requests. Off the common path: a give-back is a
read and a transaction per lane; a spent phone lane costs, per lane tried, a read of its picks and one of a
spent pick's lane shards; an instance's first send of a window reads 2L+1 ranges per pool (carried counts).
"""
from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from weakref import WeakKeyDictionary

from ..ports import Counting, Stored
from ..store import Entity, Store, Tx
from . import limits
from .limits import Counter, Pool
from .limits_writes import Plan, all_of

Full = dict[tuple[str, str], tuple[frozenset[int], datetime]]  # (lane partition, pool layout) -> shards seen spent
_full: WeakKeyDictionary[Store, Full] = WeakKeyDictionary()


def lane_of(row_key: str, lanes: int) -> int:
    """The lane of an exact counter: the first 8 bytes of SHA-256 of its row key, big-endian, mod L."""
    return int.from_bytes(hashlib.sha256(row_key.encode()).digest()[:8], "big") % lanes


def lane_partition(day: str, lane: int) -> str:
    """Lane `lane` of the day's 1-lane partition name `day` (`~rl|YYYYMMDD`): `~rl|YYYYMMDD|07`."""
    return f"{day}|{lane:02d}"


def shards_in(pool: Pool, lane: int) -> range:
    """The pool's shards that live in `lane` (s mod L)."""
    return range(lane, pool.shards, pool.lanes)


def _rows(store: Store, flt: str, params: dict[str, str]) -> list[Entity]:
    return list(store.query(flt, params, select=["RowKey", "count"]))


def _carry(d: Stored, day: str, sharded: list[Pool], mem: limits._Memory, now: datetime) -> dict[str, int]:
    """What other layouts of each pool spent in the window (limits._carried over lanes), read once per
    instance and window: the root range of the 1-lane partition, and either side of this layout's rows in
    each of its lanes, every range of every pool side by side (one flat batch: the shared pool's workers
    never wait on work queued behind them)."""
    todo = [p for p in sharded if (day, p.prefix) not in mem.carried]
    ranges = [(p, pk, lo, hi) for p in todo for pk, lo, hi in [(day, p.root, limits._after(p.root))] + [
        (lane_partition(day, lane), lo, hi) for lane in range(p.lanes)
        for lo, hi in ((p.root, p.prefix), (limits._after(p.prefix), limits._after(p.root)))]]
    flt = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi"
    read = all_of([partial(_rows, d.store, flt, {"pk": pk, "lo": lo, "hi": hi}) for _, pk, lo, hi in ranges])
    out = {p.prefix: mem.carried[(day, p.prefix)][0] for p in sharded if p not in todo}
    for p in todo:
        out[p.prefix] = limits.spent_by(p, [r for (q, *_), got in zip(ranges, read, strict=True) if q is p
                                            for r in got])
        mem.prune(now)
        mem.carried[(day, p.prefix)] = (out[p.prefix], p.window_end)
    return out


@dataclass
class _Send:
    """One send's reads and choices: rows by lane, the pools' carried counts, the last lane and its picks."""
    d: Counting
    day: str
    pools: list[Pool]
    carried: dict[str, int]
    mem: limits._Memory
    rng: random.Random
    full: Full
    rows: dict[int, dict[str, Entity]] = field(default_factory=dict)

    def part(self, lane: int) -> str:
        return lane_partition(self.day, lane)

    def known_spent(self, pool: Pool, lane: int) -> bool:
        return (self.part(lane), pool.prefix) in self.mem.spent

    def seen_full(self, pool: Pool, lane: int) -> frozenset[int]:
        return self.full.get((self.part(lane), pool.prefix), (frozenset(), pool.window_end))[0]

    def candidates(self, pool: Pool, lane: int) -> list[int]:
        """The lane's shards with units allotted that this instance has not seen spent (no read)."""
        full, carried = self.seen_full(pool, lane), self.carried[pool.prefix]
        return [s for s in shards_in(pool, lane) if s not in full and pool.allotment(s, carried) > 0]

    def open_shards(self, pool: Pool, lane: int) -> list[int]:
        rows = self.rows.get(lane, {})
        return [s for s in self.candidates(pool, lane) if pool.left(rows, s, self.carried[pool.prefix]) > 0]

    def note_full(self, pool: Pool, lane: int, now: datetime) -> None:
        """Remember the shards the rows read show spent: a pool's count never falls in its window, so the
        next picks skip them, and the end of a pool costs a lane read per shard spent, not per send."""
        rows, seen = self.rows.get(lane, {}), self.seen_full(pool, lane)
        spent = {s for s in shards_in(pool, lane)
                 if pool.row_key(s) in rows and pool.left(rows, s, self.carried[pool.prefix]) <= 0}
        if not spent <= seen:
            if len(self.full) >= limits.MEMORY:
                for key in [k for k, (_, end) in self.full.items() if end <= now] or list(self.full):
                    self.full.pop(key, None)
            self.full[(self.part(lane), pool.prefix)] = (seen | spent, pool.window_end)  # replaced whole
        if not self.candidates(pool, lane):
            self.remember_spent(pool, lane, now)

    def remember_spent(self, pool: Pool, lane: int, now: datetime) -> None:
        self.mem.prune(now)
        self.mem.spent[(self.part(lane), pool.prefix)] = pool.window_end

    def may_hold(self, lane: int) -> bool:
        """Not known spent and with shards not seen spent in `lane`, for every pool (no read)."""
        return all(not self.known_spent(p, lane) and self.candidates(p, lane) for p in self.pools)

    def settle(self, lane: int, picks: dict[str, int], now: datetime) -> bool:
        """Keep the picks in `lane` that the rows show open; a spent one goes to another open shard of the
        lane (one read of the lane's shards of that pool). False: a pool has no shard left in the lane."""
        for p in self.pools:
            if p.left(self.rows.get(lane, {}), picks[p.prefix], self.carried[p.prefix]) <= 0:
                self.rows.setdefault(lane, {}).update(
                    {r["RowKey"]: r for r in self.d.store.query_prefix(self.part(lane), p.prefix, limit=p.shards)})
                self.note_full(p, lane, now)  # every spent shard of the lane, so later picks skip them
                open_here = self.open_shards(p, lane)
                if not open_here:
                    return False
                picks[p.prefix] = self.rng.choice(open_here)
        return True

    def pick(self, lane: int) -> dict[str, int]:
        return {p.prefix: self.rng.choice(self.candidates(p, lane)) for p in self.pools}

    def elsewhere(self, lanes: list[int], now: datetime) -> tuple[int, dict[str, int]] | None:
        """Another lane where every pool has a shard left: lanes not known spent, in random order, each
        read as the phone lane is (its picks, then a spent pick's lane shards); None: there is none."""
        order = [lane for lane in lanes if self.may_hold(lane)]
        self.rng.shuffle(order)
        for lane in (lane for lane in order if self.may_hold(lane)):
            picks = self.pick(lane)
            self.rows.setdefault(lane, {}).update(self.d.store.get_many(
                self.part(lane), [p.row_key(picks[p.prefix]) for p in self.pools]))
            if self.settle(lane, picks, now):
                return lane, picks
        return None


def plan(d: Counting, user_id: str, e164: str, ip: str | None, rng: random.Random = limits._rng) -> Plan:
    """Read what one send would count over the lanes and decide: raise RateLimited, or return the Plan of
    its transactions. `limits.consume_sms` commits it; tools/sim_limits.py interleaves its two phases."""
    now = d.clock.now()
    lanes = d.settings.sms_limit_lanes
    day = f"{limits.PARTITION_PREFIX}{now:%Y%m%d}"
    mem = limits._memory.setdefault(d.store, limits._Memory())
    exact, sharded = limits.counters(d, now, user_id, e164, ip), limits.pools(d, now, e164)
    gone: list[Counter | Pool] = [p for p in sharded if all((lane_partition(day, lane), p.prefix) in mem.spent
                                                            for lane in range(lanes))]
    if gone:
        raise limits._refuse(gone, e164, now)
    send = _Send(d, day, sharded, {}, mem, rng, _full.setdefault(d.store, {}))
    send.carried = _carry(d, day, sharded, mem, now)
    home = {c.row_key: lane_of(c.row_key, lanes) for c in exact}
    phone_lane = next(home[c.row_key] for c in exact if c.scope == "phone")
    last: int | None = phone_lane if send.may_hold(phone_lane) else None
    picks = send.pick(phone_lane) if last is not None else {}
    wanted: dict[int, list[str]] = {}
    for c in exact:
        wanted.setdefault(home[c.row_key], []).append(c.row_key)
    for p in sharded if last is not None else []:
        wanted.setdefault(phone_lane, []).append(p.row_key(picks[p.prefix]))
    send.rows = dict(zip(wanted, all_of([partial(d.store.get_many, send.part(lane), keys)
                                        for lane, keys in wanted.items()]), strict=True))
    over: list[Counter | Pool] = [c for c in exact if limits._count(send.rows[home[c.row_key]], c.row_key) >= c.limit]
    if over:
        raise limits._refuse(over, e164, now)
    if last is not None and not send.settle(phone_lane, picks, now):
        last = None
    if last is None:
        moved = send.elsewhere([lane for lane in range(lanes) if lane != phone_lane], now)
        if moved is None:
            raise limits._refuse([p for p in sharded if any(send.known_spent(p, lane) for lane in range(lanes))]
                                 or list(sharded), e164, now)
        last, picks = moved
    return _transactions(send, exact, home, last, picks)


def _transactions(send: _Send, exact: list[Counter], home: dict[str, int], last: int,
                  picks: dict[str, int]) -> Plan:
    counted: dict[int, list[tuple[str, datetime]]] = {}
    for c in exact:
        counted.setdefault(home[c.row_key], []).append((c.row_key, c.window_end))
    counted.setdefault(last, []).extend((p.row_key(picks[p.prefix]), p.window_end) for p in send.pools)
    txs: dict[int, Tx] = {}
    for lane, keys in counted.items():
        tx = txs.setdefault(lane, Tx())
        rows = send.rows.get(lane, {})
        for row_key, window_end in keys:
            limits.count_one(tx, send.part(lane), rows.get(row_key), row_key, window_end)
    return Plan([(send.part(lane), [k for k, _ in counted[lane]], tx) for lane, tx in txs.items() if lane != last],
                txs[last])
