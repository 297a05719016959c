"""One contract, two tables: every case runs against a real Azurite table and the in-memory one
(shared/store/memory.py), through the same `Store`, so the fake the fast flow tests use cannot drift from
what the service does: ETags, conditional writes, create conflicts, all-or-nothing transactions and their
limits, the filters the code sends, ordering, paging, `select`, the typed round trip and the commit hooks."""
from __future__ import annotations

import os
import random
from datetime import datetime, timedelta, timezone
from http.client import BadStatusLine

import pytest
from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from shared import clients
from shared.kernel.errors import StorageUnavailable
from shared.ops.reseal import ROW_FILTER, ROW_PARAMS
from shared.settings import load_settings
from shared.store import StaleWrite, Store, Tx, audit_row, new_row
from shared.store.memory import MemoryTable

AT = datetime(2026, 11, 27, 19, 30, 0, 123456, tzinfo=timezone.utc)


@pytest.fixture(params=["azurite", "memory"])
def store(request):
    """A `Store` on a fresh table (created by a first read, as every flow starts with one)."""
    if request.param == "memory":
        yield _warm(Store(MemoryTable()))
        return
    settings = load_settings({**request.getfixturevalue("base_env"), "MFA_TABLE_NAME": "c" + os.urandom(6).hex()})
    real = _warm(Store(clients.table_client(settings)))
    yield real
    real.table.delete_table()


def _warm(store: Store) -> Store:
    store.get("warm", "up")
    return store


def put(store: Store, pk: str, rk: str, **props):
    store.transact(Tx().create(new_row(pk, rk, **props)))
    return store.get(pk, rk)


def keys(rows) -> list[tuple[str, str]]:
    return [(r["PartitionKey"], r["RowKey"]) for r in rows]


def test_typed_properties_round_trip_as_the_sdk_returns_them(store):
    row = put(store, "p", "r", s="text", n=42, neg=-7, yes=True, no=False, f=1.5, at=AT, naive=None)
    assert {k: (type(v).__name__, v) for k, v in row.items()} == {
        "PartitionKey": ("str", "p"), "RowKey": ("str", "r"), "s": ("str", "text"), "n": ("int", 42),
        "neg": ("int", -7), "yes": ("bool", True), "no": ("bool", False), "f": ("float", 1.5),
        "at": ("TablesEntityDatetime", AT)}  # None is written as an absent property
    assert row["at"].tzinfo == timezone.utc
    assert row.metadata["etag"] and isinstance(row.metadata["timestamp"], datetime)


def test_every_write_gives_a_new_etag(store):
    first = put(store, "p", "r", n=1)
    store.transact(Tx().replace(first))
    second = store.get("p", "r")
    store.upsert(new_row("p", "r", n=3))
    third = store.get("p", "r")
    store.table.update_entity(new_row("p", "r", m=4), mode=UpdateMode.MERGE)
    fourth = store.get("p", "r")
    etags = [r.metadata["etag"] for r in (first, second, third, fourth)]
    assert len(set(etags)) == 4
    assert (fourth["n"], fourth["m"]) == (3, 4)  # merge kept n


def test_a_write_on_a_stale_etag_is_refused_and_changes_nothing(store):
    read = put(store, "p", "r", n=1)
    store.transact(Tx().replace(store.get("p", "r")))  # someone else writes first
    stale = new_row("p", "r", n=99)
    stale._metadata = read.metadata
    with pytest.raises(StaleWrite):
        store.transact(Tx().replace(stale))
    with pytest.raises(StaleWrite):
        store.transact(Tx().merge_if_unchanged(stale))
    with pytest.raises(StaleWrite):
        store.transact(Tx().delete_unchanged(stale))
    with pytest.raises(ResourceModifiedError) as err:
        store.table.update_entity(stale, etag=read.metadata["etag"], match_condition=MatchConditions.IfNotModified)
    assert err.value.status_code == 412
    with pytest.raises(ResourceModifiedError):
        store.table.delete_entity(stale, etag=read.metadata["etag"], match_condition=MatchConditions.IfNotModified)
    assert store.get("p", "r")["n"] == 1


def test_create_on_an_existing_key_conflicts(store):
    put(store, "p", "r", n=1)
    with pytest.raises(StaleWrite):
        store.transact(Tx().create(new_row("p", "r", n=2)))
    with pytest.raises(ResourceExistsError) as err:
        store.table.create_entity(new_row("p", "r", n=2))
    assert err.value.status_code == 409
    assert store.get("p", "r")["n"] == 1


def test_missing_rows(store):
    assert store.get("p", "none") is None
    with pytest.raises(ResourceNotFoundError):
        store.table.update_entity(new_row("p", "none", n=1))
    store.table.delete_entity("p", "none")  # deleting a missing row is no error
    with pytest.raises(TableTransactionError) as err:  # in a batch, a must-exist write of a missing row is a 404
        store.table.submit_transaction([("update", new_row("p", "none", n=1), {"mode": UpdateMode.MERGE})])
    assert err.value.status_code == 404
    with pytest.raises(StaleWrite):  # which `transact` takes for a lost race: the row vanished meanwhile
        store.transact(Tx().merge_existing(new_row("p", "none", n=1)))
    assert store.delete_unchanged([put(store, "p", "gone")]) == 1
    assert store.get("p", "gone") is None


def test_delete_unchanged_falls_back_to_row_by_row(store):
    rows = [put(store, "p", f"r{i}") for i in range(3)]
    store.upsert(new_row("p", "r0", n=1))  # changed since read: kept
    store.table.delete_entity("p", "r1")  # gone meanwhile: counted as deleted
    assert store.delete_unchanged(rows) == 2
    assert keys(store.query("PartitionKey eq @pk", {"pk": "p"})) == [("p", "r0")]


def test_a_transaction_is_all_or_nothing(store):
    read = put(store, "p", "r", n=1)
    store.transact(Tx().replace(store.get("p", "r")))
    with pytest.raises(TableTransactionError) as err:
        store.table.submit_transaction([("create", new_row("p", "a")), ("create", new_row("p", "b")),
                                        ("update", read, {"mode": UpdateMode.REPLACE, "etag": read.metadata["etag"],
                                                          "match_condition": MatchConditions.IfNotModified})])
    assert (err.value.status_code, err.value.index) == (412, 2)
    with pytest.raises(TableTransactionError) as err:
        store.table.submit_transaction([("create", new_row("p", "a")), ("create", new_row("p", "r"))])
    assert (err.value.status_code, err.value.index) == (409, 1)
    assert store.get("p", "a") is None and store.get("p", "b") is None


def test_a_transaction_takes_one_partition_and_at_most_100_rows(store):
    with pytest.raises(ValueError):
        store.table.submit_transaction([("create", new_row("p", "a")), ("create", new_row("q", "a"))])
    tx = Tx()
    for i in range(101):
        tx.create(new_row("p", f"r{i:03d}"))
    # Azure answers 400 (InvalidInput), as the fake does; Azurite answers a batch response the SDK cannot
    # parse. Either way nothing is written, and the code never sends more (UserRows splits, Tx.size).
    with pytest.raises((TableTransactionError, BadStatusLine)) as err:
        store.table.submit_transaction(tx.ops)
    assert isinstance(err.value, BadStatusLine) or err.value.status_code == 400
    assert list(store.query("PartitionKey eq @pk", {"pk": "p"})) == []
    store.transact(Tx(tx.ops[:100]))
    assert len(list(store.query("PartitionKey eq @pk", {"pk": "p"}))) == 100


def test_rows_come_ordered_by_partition_then_row(store):
    pairs = [(pk, rk) for pk in ("b", "a", "a|x", "c") for rk in ("2", "10", "1", "a")]
    random.Random(7).shuffle(pairs)
    for pk, rk in pairs:
        store.upsert(new_row(pk, rk))
    assert keys(store.query("PartitionKey ge @lo", {"lo": ""})) == sorted(pairs)


def test_the_filters_the_code_sends(store):
    for pk in ("u1", "u2", "u3"):
        put(store, pk, "profile", phone="e1:x")
        put(store, pk, "ch|0001", status="pending", purgeAfter=AT - timedelta(days=1))
        put(store, pk, "ch|0002", status="approved", purgeAfter=AT + timedelta(days=1))
        put(store, pk, "bp|0001", status="active")
        put(store, pk, "other")  # no status, no purgeAfter: never matches a comparison on them
    assert keys(store.get_many("u2", ["profile", "ch|0002", "missing"]).values()) == [
        ("u2", "ch|0002"), ("u2", "profile")]
    assert keys(store.query_prefix("u1", "ch|")) == [("u1", "ch|0001"), ("u1", "ch|0002")]
    assert keys(store.query_prefix("u1", "ch|", limit=1)) == [("u1", "ch|0001")]
    assert keys(store.query("PartitionKey gt @lo and PartitionKey le @hi", {"lo": "u1", "hi": "u2"})) == [
        ("u2", "bp|0001"), ("u2", "ch|0001"), ("u2", "ch|0002"), ("u2", "other"), ("u2", "profile")]
    assert keys(store.query("purgeAfter lt @now", {"now": AT})) == [(pk, "ch|0001") for pk in ("u1", "u2", "u3")]
    flt = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and ( status eq @a or status eq @b )"
    assert keys(store.query(flt, {"pk": "u3", "lo": "ch|", "hi": "ch}", "a": "approved", "b": "gone"})) == [
        ("u3", "ch|0002")]
    assert keys(store.query("status eq @s and not ( RowKey eq @rk )", {"s": "pending", "rk": "x"})) == [
        (pk, "ch|0001") for pk in ("u1", "u2", "u3")]
    rows, _ = store.page(ROW_FILTER, ROW_PARAMS, 100, None)
    assert keys(rows) == [(pk, rk) for pk in ("u1", "u2", "u3") for rk in ("ch|0001", "ch|0002", "profile")]


def test_a_quote_in_a_parameter_is_escaped(store):
    put(store, "o'hara", "r")
    assert keys(store.query("PartitionKey eq @pk", {"pk": "o'hara"})) == [("o'hara", "r")]


def test_a_filter_the_service_cannot_read_is_refused(store):
    put(store, "p", "r")
    with pytest.raises(KeyError):  # the SDK substitutes an @name only between spaces: "(@pk" is a key "pk)"
        store.query("( PartitionKey eq @pk)", {"pk": "p"})
    with pytest.raises(StorageUnavailable):  # the service answers 400
        store.query("PartitionKey eq", {})
    with pytest.raises(StorageUnavailable):
        store.query("PartitionKey eq 'p' and", {})


def test_select_returns_only_the_named_properties(store):
    put(store, "p", "r", a=1, b="x", at=AT)
    rows = list(store.query("PartitionKey eq @pk", {"pk": "p"}, select=["RowKey", "at"]))
    assert [dict(r) for r in rows] == [{"RowKey": "r", "at": AT}]


def test_pages_resume_from_the_continuation_token(store):
    pairs = [(f"u{p}", f"r{r}") for p in range(4) for r in range(3)]
    for pk, rk in pairs:
        store.upsert(new_row(pk, rk, purgeAfter=AT))
    seen, token, pages = [], None, 0
    while True:
        rows, token = store.page("purgeAfter lt @now", {"now": AT + timedelta(seconds=1)}, 5, token,
                                 select=["PartitionKey", "RowKey"])
        assert len(rows) <= 5
        seen += keys(rows)
        pages += 1
        if token is None:
            break
        assert set(token) == {"PartitionKey", "RowKey"}
    assert seen == pairs and pages >= 3


def test_a_missing_table_is_created_by_a_read_and_fails_a_transaction(store):
    put(store, "p", "r")
    store.table.delete_table()
    with pytest.raises(TableTransactionError) as err:  # a batch on a missing table is a failed batch (404)
        store.table.submit_transaction([("create", new_row("p", "r2"))])
    assert err.value.status_code == 404
    with pytest.raises(StorageUnavailable):  # so `transact` answers 503 rather than create the table
        store.transact(Tx().create(new_row("p", "r2")))
    assert store.get("p", "r") is None  # a read creates it afresh
    assert put(store, "p", "r2")["RowKey"] == "r2"


def test_hooks_see_a_transaction_s_audit_events_before_and_after_it_commits(store):
    before, after = [], []
    store.before_commit.append(lambda events: before.append(events) or [new_row("due", e.row_key) for e in events])
    store.after_commit.append(after.append)
    audit = audit_row("alice", AT, "mfa_skipped", "application", 30)
    store.transact(Tx().create(new_row("alice", "profile")).create(audit))
    assert [[e.event for e in batch] for batch in before] == [["mfa_skipped"]] == [
        [e.event for e in batch] for batch in after]
    assert store.get("due", audit["RowKey"]) is not None  # the hook's rows were written first
    read = store.get("alice", "profile")
    store.transact(Tx().replace(store.get("alice", "profile")))  # a competitor
    with pytest.raises(StaleWrite):
        store.transact(Tx().replace(read).create(audit_row("alice", AT, "fraud_reported", "user", 30)))
    assert len(after) == 2 and after[1] == []  # the competitor's commit carried no event; the loser none
