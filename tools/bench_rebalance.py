"""Benchmark: the rebalancing job moving one account to two, against two real Azurites (free loopback ports).

Fills account 0 with `--users` partitions of `--rows` rows each (a profile-sized row and audit-sized rows),
then runs the job (shared/ops/rebalance.py) with no grace period and prints partitions moved per second,
Storage round trips per moved partition, and the extra round trips a request pays for a user that is still
to move (the marker read) and for one already moved (none: the answer is remembered). Numbers, not
assertions.

    .venv/bin/python -m tools.bench_rebalance [--users 300] [--rows 20]
"""
from __future__ import annotations

import argparse
import time
from datetime import datetime, timezone

from azure.data.tables import TableEntity

from shared import clients
from shared.ops import rebalance
from shared.settings import load_settings
from shared.store import Tx
from shared.store.placement import home
from shared.wiring import table_store
from tools import azurite
from tools.bench_policy import bench_settings


def fill(store, users: int, rows: int) -> None:
    store.ping()  # creates the table (a transaction does not)
    for u in range(users):
        tx = Tx().create(TableEntity(PartitionKey=f"user{u}", RowKey="profile", blob="x" * 400))
        for r in range(rows - 1):
            tx.create(TableEntity(PartitionKey=f"user{u}", RowKey=f"au|{r:06d}", detail="y" * 120))
        store.transact(tx)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--rows", type=int, default=20)
    args = parser.parse_args()
    first, second = (azurite.start_azurite(*(azurite.free_port() for _ in range(3))) for _ in range(2))
    try:
        base = bench_settings(first.connection_string)
        fill(table_store(base), args.users, args.rows)
        counter = clients.RequestCounter()
        moving = load_settings({**_env_of(base, first.connection_string), "MFA_TABLE_ACCOUNTS": "2",
                                "MFA_TABLE_ACCOUNT_1": second.connection_string, "MFA_TABLE_ACCOUNTS_PREVIOUS": "1"})
        store = table_store(moving, counter)
        movers = [f"user{u}" for u in range(args.users) if home(f"user{u}", 2) == 1]
        before = len(counter.calls)
        store.get(movers[0], "profile")
        to_move = len(counter.calls) - before
        started = time.perf_counter()
        report = rebalance.run(store, lambda: datetime.now(timezone.utc), budget_seconds=3600, grace_seconds=0)
        while report["phase"] != "done":
            report = rebalance.run(store, lambda: datetime.now(timezone.utc), budget_seconds=3600, grace_seconds=0)
        took = time.perf_counter() - started
        calls = len(counter.calls) - before - to_move
        before = len(counter.calls)
        store.get(movers[0], "profile")
        first_after = len(counter.calls) - before
        store.get(movers[0], "profile")
        moved_cost = len(counter.calls) - before - first_after
        print(f"{args.users} users x {args.rows} rows, {report['moved']} moved, {report['rowsDrained']} rows drained")
        print(f"copy + drain: {took:.1f} s, {report['moved'] / took:.1f} partitions/s, "
              f"{calls / report['moved']:.1f} Storage requests per moved partition (scans and checkpoints included)")
        print(f"a point read during the move: {to_move} requests for a user still to move (marker + read), "
              f"{first_after} for the first read of a moved user in a process, {moved_cost} after it")
    finally:
        first.stop()
        second.stop()
    return 0


def _env_of(settings, connection: str) -> dict[str, str]:
    """The environment `bench_settings` built, back as settings (same table and keys)."""
    import base64

    ring = ",".join(f"{k}:{base64.b64encode(v).decode()}" for k, v in settings.hmac_keys)
    enc = ",".join(f"{k}:{base64.b64encode(v).decode()}" for k, v in settings.encryption_keys)
    return {"AzureWebJobsStorage": connection, "MFA_TABLE_NAME": settings.table_name, "MFA_HMAC_KEYS": ring,
            "MFA_ENCRYPTION_KEYS": enc, "MFA_OTP_HOST": "login.example.test", "ACS_ENDPOINT": "http://127.0.0.1:9",
            "ACS_ACCESS_KEY": "eA==", "ACS_SENDER": "+18005550100"}


if __name__ == "__main__":
    raise SystemExit(main())
