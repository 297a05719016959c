"""The timer purge against a real Azurite with an injected clock and an injected monotonic clock: it pages
through the query deleting as it goes, stops inside its time budget, resumes from its saved cursor, and
never deletes a row that changed after it was read."""
from __future__ import annotations

from datetime import timedelta

from azure.data.tables import TableEntity

from shared.ops import purge as purge_module
from shared.ops.purge import CURSOR_PK, CURSOR_RK, purge
from shared.store import Store, Tx


def fill(deps, partitions: list[str], per_partition: int, purge_after) -> None:
    deps.store.ping()  # creates the table on first use
    for pk in partitions:
        for start in range(0, per_partition, 100):
            tx = Tx()
            for i in range(start, min(start + 100, per_partition)):
                tx.create(TableEntity(PartitionKey=pk, RowKey=f"r{i:05d}", purgeAfter=purge_after))
            deps.store.transact(tx)


def remaining(deps, pk_prefix: str) -> int:
    return sum(1 for r in deps.store.table.list_entities(select=["PartitionKey"]) if r["PartitionKey"].startswith(pk_prefix))


class Ticks:
    """A monotonic clock that advances one second each time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def test_pages_through_and_deletes_only_expired_rows(deps, clock):
    past, future = clock.now() - timedelta(seconds=1), clock.now() + timedelta(days=1)
    fill(deps, ["old-a", "old-b", "old-c"], 130, past)  # 390 expired rows over three partitions
    fill(deps, ["live"], 40, future)
    run = purge(deps, page_size=50)
    assert run.complete and not run.resumed
    assert run.deleted == run.scanned == 390
    assert run.pages >= 390 // 50  # it read page by page, never the whole result at once
    assert remaining(deps, "old-") == 0 and remaining(deps, "live") == 40
    assert deps.store.get(CURSOR_PK, CURSOR_RK)["next"] == ""  # a finished scan leaves no cursor behind


def test_stops_within_its_budget_and_resumes_where_it_stopped(deps, clock):
    past = clock.now() - timedelta(seconds=1)
    fill(deps, ["p1", "p2", "p3", "p4"], 60, past)
    run = purge(deps, page_size=50, budget_seconds=4, monotonic=Ticks())
    assert not run.complete and 0 < run.deleted < 240
    cursor = deps.store.get(CURSOR_PK, CURSOR_RK)["next"]
    assert cursor
    # a row that sorts before the cursor: a resumed scan does not go back for it, a fresh one does
    fill(deps, ["p0"], 1, past)
    runs = [purge(deps, page_size=50, budget_seconds=4, monotonic=Ticks()) for _ in range(20)]
    first_complete = next(i for i, r in enumerate(runs) if r.complete)
    assert runs[0].resumed
    assert remaining(deps, "p") == 0
    assert sum(r.deleted for r in runs[:first_complete + 1]) + run.deleted == 240  # the resumed scan
    assert any(r.deleted == 1 for r in runs[first_complete + 1:])  # the fresh scan after it took p0


def test_a_row_changed_or_gone_after_the_read_is_left_alone(deps, clock, monkeypatch):
    past, future = clock.now() - timedelta(seconds=1), clock.now() + timedelta(days=1)
    fill(deps, ["race"], 10, past)
    real = Store.page

    def query_then_race(self, *args, **kwargs):
        rows, token = real(self, *args, **kwargs)
        if rows:  # between the read and the delete: one row is renewed, another deleted by someone else
            self.upsert(TableEntity(PartitionKey="race", RowKey="r00003", purgeAfter=future))
            self.table.delete_entity("race", "r00007")
        return rows, token

    monkeypatch.setattr(Store, "page", query_then_race)
    run = purge(deps)
    assert run.complete and run.scanned == 10 and run.deleted == 9
    left = list(deps.store.table.list_entities())
    assert [(r["PartitionKey"], r["RowKey"]) for r in left if r["PartitionKey"] == "race"] == [("race", "r00003")]


def test_the_default_budget_is_inside_the_function_timeout():
    import json
    from pathlib import Path

    timeout = json.loads((Path(__file__).resolve().parents[2] / "host.json").read_text())["functionTimeout"]
    h, m, s = (int(x) for x in timeout.split(":"))
    assert purge_module.BUDGET_SECONDS < (h * 3600 + m * 60 + s) * 0.75
