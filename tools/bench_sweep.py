"""How the SMS sweeper finds due work: a query on `delivery eq 'queued'` scans the whole table, the due
list (`~due|` partitions, shared/channels/due.py) reads a partition range. Prints both against Azurite.

Run: `python -m tools.bench_sweep [--users 200] [--rows-per-user 50] [--due 20]`
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

from azure.data.tables import TableServiceClient

from shared.channels.due import DUE_PREFIX, due_partition
from tools import azurite as azurite_tool


def timed(fn, runs: int = 5) -> tuple[float, int]:
    times, found = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        found = len(list(fn()))
        times.append(time.perf_counter() - started)
    return statistics.median(times), found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rows-per-user", type=int, default=50)
    parser.add_argument("--due", type=int, default=20)
    args = parser.parse_args(argv)
    ports = [azurite_tool.free_port() for _ in range(3)]
    server = azurite_tool.start_azurite(*ports, location=tempfile.mkdtemp(prefix="twostep-bench-sweep-"))
    try:
        table = TableServiceClient.from_connection_string(server.connection_string).create_table("sweep")
        now = datetime(2026, 12, 1, 21, 0, tzinfo=timezone.utc)
        for u in range(args.users):
            rows = [{"PartitionKey": f"user{u}", "RowKey": f"ch|{u}-{i}", "method": "sms",
                     "delivery": "queued" if (u * args.rows_per_user + i) < args.due else "sent"}
                    for i in range(args.rows_per_user)]
            for i in range(0, len(rows), 100):
                table.submit_transaction([("create", r) for r in rows[i:i + 100]])
        for n in range(args.due):
            table.create_entity({"PartitionKey": due_partition(now - timedelta(minutes=n % 5)), "RowKey": f"c{n}"})
        scan, scan_found = timed(lambda: table.query_entities("delivery eq 'queued'"))
        params = {"lo": DUE_PREFIX, "hi": due_partition(now)}
        ranged, range_found = timed(lambda: table.query_entities("PartitionKey gt @lo and PartitionKey le @hi",
                                                                 parameters=params))
        total = args.users * args.rows_per_user + args.due
        print(f"table rows: {total}; due SMS: {args.due}")
        print(f"scan  delivery eq 'queued':    {scan * 1000:8.1f} ms (found {scan_found})")
        print(f"range ~smsdue| partitions:     {ranged * 1000:8.1f} ms (found {range_found})")
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
