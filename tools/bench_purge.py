"""Benchmark: the timer purge's rate against a real Azurite (started on free loopback ports).

Fills a table with expired rows spread over many partitions (plus live rows it must keep), runs the purge
with its production page size and time budget, and prints rows deleted per second; then a table where
only one row in ten has expired, to show the cost of scanning past live rows. Numbers, not assertions.

    .venv/bin/python -m tools.bench_purge [--rows 20000] [--partitions 200]
"""
from __future__ import annotations

import argparse
import time
from datetime import timedelta

from azure.data.tables import TableEntity

from shared.ops.purge import purge
from shared.store import Tx
from shared.wiring import build_deps
from tools import azurite
from tools.bench_policy import bench_settings


def fill(deps, rows: int, partitions: int, expired_every: int) -> tuple[int, float]:
    """`rows` rows round-robin over `partitions`; every `expired_every`-th one has expired."""
    now = deps.clock.now()
    past, future = now - timedelta(seconds=1), now + timedelta(days=1)
    deps.store.ping()
    started, expired = time.perf_counter(), 0
    per = rows // partitions
    for p in range(partitions):
        for start in range(0, per, 100):
            tx = Tx()
            for i in range(start, min(start + 100, per)):
                old = (p * per + i) % expired_every == 0
                expired += old
                tx.create(TableEntity(PartitionKey=f"u{p:05d}", RowKey=f"r{i:06d}", purgeAfter=past if old else future))
            deps.store.transact(tx)
    return expired, time.perf_counter() - started


def measure(store: azurite.Azurite, rows: int, partitions: int, expired_every: int) -> None:
    deps = build_deps(bench_settings(store.connection_string))
    expired, fill_s = fill(deps, rows, partitions, expired_every)
    total_deleted, total_s, runs = 0, 0.0, 0
    while True:
        started = time.perf_counter()
        run = purge(deps)
        total_s += time.perf_counter() - started
        total_deleted += run.deleted
        runs += 1
        if run.complete:
            break
    label = "all expired" if expired_every == 1 else f"1 in {expired_every} expired"
    print(f"{label:>16}: {rows} rows in {partitions} partitions (filled in {fill_s:.1f} s), {expired} expired")
    print(f"{'':>16}  purged {total_deleted} in {total_s:.2f} s over {runs} run(s): "
          f"{total_deleted / total_s:,.0f} rows deleted/s, {rows / total_s:,.0f} rows scanned/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--partitions", type=int, default=200)
    args = parser.parse_args()
    store = azurite.start_azurite(*(azurite.free_port() for _ in range(3)))
    try:
        measure(store, args.rows, args.partitions, 1)
        measure(store, args.rows, args.partitions, 10)
    finally:
        store.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
