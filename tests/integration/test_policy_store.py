"""The policy document over as many rows as it needs, against a real Azurite (P2): chunk rows of a version
written first, one ETag-conditional pointer flip, readers that see the old or the new version and never a
mix, clean-up of replaced and orphaned chunks, and the earlier one-row format still read."""
from __future__ import annotations

import json
import random
from datetime import timedelta

import pytest
from azure.data.tables import TableEntity

from shared.flows import admin
from shared.store import policy_store
from shared.store.policy_store import CHUNK_PREFIX, POLICY_PK, POLICY_RK, PolicyStore


def networks(sites: int, ranges: int = 250) -> dict:
    """Hosts drawn at random (seeded): a document that compresses about as badly as a real one."""
    def cidrs(site: int) -> list[str]:
        hosts = random.Random(site * 1000 + ranges).sample(range(1 << 24), ranges)
        return [f"{11 + site}.{h >> 16}.{(h >> 8) & 255}.{h & 255}/32" for h in hosts]
    return {"trustedNetworks": [{"name": f"site{s}", "cidrs": cidrs(s)} for s in range(sites)]}


def chunk_rows(deps) -> list[TableEntity]:
    return deps.store.query_prefix(POLICY_PK, CHUNK_PREFIX, limit=1000)


def another_instance(deps) -> PolicyStore:
    return PolicyStore(deps.store, deps.settings)


@pytest.fixture
def small_rows(monkeypatch):
    """Rows of 2 KB, so that a document of a few sites spans many rows."""
    monkeypatch.setattr(policy_store, "PART_BYTES", 1000)
    monkeypatch.setattr(policy_store, "PARTS_PER_ROW", 2)


def test_a_document_is_stored_over_several_rows_and_read_back_whole(deps, small_rows):
    admin.patch_policy(deps, networks(6), "ops")
    pointer = deps.store.get(POLICY_PK, POLICY_RK)
    rows = chunk_rows(deps)
    assert pointer["chunks"] == len(rows) > 3 and {r["RowKey"].split("|")[1] for r in rows} == {pointer["version"]}
    got = another_instance(deps).current().to_doc()["trustedNetworks"]
    assert got == networks(6)["trustedNetworks"]


def test_a_change_removes_the_chunks_it_replaced(deps, small_rows):
    admin.patch_policy(deps, networks(6), "ops")
    admin.patch_policy(deps, networks(2), "ops")
    pointer = deps.store.get(POLICY_PK, POLICY_RK)
    assert {r["RowKey"].split("|")[1] for r in chunk_rows(deps)} == {pointer["version"]}
    assert another_instance(deps).current().to_doc()["trustedNetworks"] == networks(2)["trustedNetworks"]


def test_a_reader_overtaken_by_a_change_reads_the_new_version_not_a_mix(deps, small_rows, monkeypatch):
    admin.patch_policy(deps, networks(6), "ops")
    reader = another_instance(deps)
    real = deps.store.query_prefix
    raced = []

    def query_prefix(pk, prefix, limit=100):
        if prefix.startswith(CHUNK_PREFIX) and not raced:  # the pointer is read: now a change lands
            raced.append(1)
            admin.patch_policy(deps, networks(3, ranges=200), "ops2")
        return real(pk, prefix, limit)
    monkeypatch.setattr(deps.store, "query_prefix", query_prefix)
    assert reader.current().to_doc()["trustedNetworks"] == networks(3, ranges=200)["trustedNetworks"]
    assert raced


def test_chunks_written_before_a_flip_are_invisible_until_it(deps, small_rows, monkeypatch):
    """While a change writes its chunk rows, readers still get the version in force, whole."""
    admin.patch_policy(deps, networks(2), "ops")
    real = deps.store.transact
    seen = []

    def transact(tx):
        real(tx)
        if tx.ops[0][1]["RowKey"].startswith(CHUNK_PREFIX) and not seen:  # the new version's first chunk
            seen.append(another_instance(deps).current().to_doc()["trustedNetworks"])
    monkeypatch.setattr(deps.store, "transact", transact)
    admin.patch_policy(deps, networks(5), "ops")
    assert seen == [networks(2)["trustedNetworks"]]


def test_a_change_that_loses_the_race_removes_its_chunks_and_decides_again(deps, small_rows, monkeypatch):
    admin.patch_policy(deps, networks(2), "ops")
    real = deps.store.transact
    raced = []

    def transact(tx):
        if any(op[1]["RowKey"] == POLICY_RK for op in tx.ops) and not raced:
            raced.append(1)  # another admin's change flips the pointer first
            monkeypatch.setattr(deps.store, "transact", real)
            admin.patch_policy(deps, {"maxAttempts": 3}, "other")
            monkeypatch.setattr(deps.store, "transact", transact)
        return real(tx)
    monkeypatch.setattr(deps.store, "transact", transact)
    admin.patch_policy(deps, networks(4), "ops")
    doc = another_instance(deps).current().to_doc()
    assert raced and doc["maxAttempts"] == 3 and doc["trustedNetworks"] == networks(4)["trustedNetworks"]
    pointer = deps.store.get(POLICY_PK, POLICY_RK)
    assert {r["RowKey"].split("|")[1] for r in chunk_rows(deps)} == {pointer["version"]}


def test_orphaned_chunks_of_a_crashed_change_go_with_a_later_change(deps, clock):
    deps.store.ping()  # creates the table
    deps.store.table.create_entity(TableEntity(PartitionKey=POLICY_PK, RowKey=f"{CHUNK_PREFIX}crashed|0000",
                                               createdAt=clock.now(), p00=b"half a document"))
    admin.patch_policy(deps, {"maxAttempts": 4}, "ops")
    assert len(chunk_rows(deps)) == 2  # too young: its writer might still be running
    clock.advance(int((policy_store.ORPHAN_AGE + timedelta(minutes=1)).total_seconds()))
    admin.patch_policy(deps, {"maxAttempts": 3}, "ops")
    assert [r["RowKey"].split("|")[1] for r in chunk_rows(deps)] == [deps.store.get(POLICY_PK, POLICY_RK)["version"]]


def test_the_earlier_one_row_format_is_read_and_replaced_by_the_next_change(deps):
    deps.store.ping()  # creates the table
    text = json.dumps({**admin.get_policy(deps), **networks(1, ranges=3), "maxAttempts": 4})
    deps.store.table.create_entity(TableEntity(PartitionKey=POLICY_PK, RowKey=POLICY_RK, doc0=text[:100],
                                               doc1=text[100:]))
    assert another_instance(deps).current().to_doc()["maxAttempts"] == 4
    admin.patch_policy(deps, {"maxAttempts": 3}, "ops")
    pointer = deps.store.get(POLICY_PK, POLICY_RK)
    assert "doc0" not in pointer and pointer["chunks"] == 1
    doc = another_instance(deps).current().to_doc()
    assert doc["maxAttempts"] == 3 and doc["trustedNetworks"] == networks(1, ranges=3)["trustedNetworks"]
