"""Placement over several storage accounts and the rebalance's fence, on the in-memory table (the same
protocol runs against two Azurites in tests/integration/test_storage_accounts.py): the hash, the filters
that stay in one account, the settings, and the races a move must survive."""
from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime, timezone

import pytest

from shared.flows import enrolment, signin, verify
from shared.kernel.errors import ConfigError
from shared.ops import rebalance
from shared.settings import load_settings
from shared.store import StaleWrite, UserRows, in_unit, moves, new_row
from shared.store.memory import MemoryTable
from shared.store.placement import MOVE_RK, SYSTEM_PREFIX, Layout, filter_scope, home
from shared.wiring import build_deps
from tests.clocks import FixedClock
from tests.helpers import sms_code_for
from tests.memory_deps import ENV

ACCOUNT_1 = "http://127.0.0.1:9/devstoreaccount2"


def test_home_is_the_first_8_bytes_of_sha256_of_the_folded_id_mod_n():
    digest = int.from_bytes(hashlib.sha256(b"alice@contoso.com").digest()[:8], "big")
    assert home("alice@contoso.com", 3) == digest % 3 == home("Alice@Contoso.COM", 3)
    assert home("alice@contoso.com", 1) == 0 and home("~policy", 7) == 0 and home("~rl|x", 2) == 0
    spread = Counter(home(f"user{i}", 4) for i in range(4000))
    assert set(spread) == {0, 1, 2, 3} and min(spread.values()) > 900  # about a quarter each


def test_only_partitions_whose_home_changes_are_moving():
    layout = Layout(2, 1)
    assert layout.accounts == 2 and layout.moving("~keys") is None
    movers = [u for u in (f"u{i}" for i in range(50)) if layout.moving(u)]
    assert movers and all(layout.moving(u) == (0, 1) and home(u, 2) == 1 for u in movers)
    assert Layout(2).moving("u1") is None


@pytest.mark.parametrize(("flt", "scope"), [
    ("PartitionKey eq @pk", "alice"),
    ("PartitionKey eq @pk and ( RowKey eq @r0 or RowKey eq @r1 )", "alice"),
    ("PartitionKey eq @pk and RowKey ge @lo or RowKey eq @r0", None),  # `and` binds tighter: spans partitions
    ("PartitionKey gt @lo and PartitionKey le @hi", SYSTEM_PREFIX),
    ("PartitionKey gt @a and PartitionKey le @b", None),  # a range of user partitions
    ("purgeAfter lt @now", None),
])
def test_a_filter_stays_in_one_account_only_when_it_names_one_partition_or_bookkeeping(flt, scope):
    params = {"pk": "alice", "r0": "x", "r1": "y", "lo": "~due|1", "hi": "~due|2", "a": "a", "b": "b", "now": 1}
    assert filter_scope(flt, params) == scope


def test_settings_name_the_accounts_and_refuse_what_would_misplace_users():
    assert load_settings(ENV).table_account_count == 1 and load_settings(ENV).table_accounts == ()
    two = load_settings({**ENV, "MFA_TABLE_ACCOUNTS": "2", "MFA_TABLE_ACCOUNT_1": ACCOUNT_1,
                         "MFA_TABLE_ACCOUNTS_PREVIOUS": "1"})
    assert (two.table_account_count, two.table_accounts, two.table_accounts_previous) == (2, (ACCOUNT_1,), 1)
    for bad in ({"MFA_TABLE_ACCOUNTS": "2"},  # account 1 not named
                {"MFA_TABLE_ACCOUNTS": "0"}, {"MFA_TABLE_ACCOUNTS": "33"}, {"MFA_TABLE_ACCOUNTS": "2 "[:1] + "x"},
                {"MFA_TABLE_ACCOUNTS": "2", "MFA_TABLE_ACCOUNT_1": ACCOUNT_1, "MFA_TABLE_ACCOUNTS_PREVIOUS": "2"},
                {"MFA_TABLE_ACCOUNTS": "2", "MFA_TABLE_ACCOUNT_1": "http://storage.example.com"},
                {"MFA_TABLE_ACCOUNTS": "2", "MFA_TABLE_ACCOUNT_1": "AccountName=x;AccountKey=y"},
                {"MFA_TABLE_ACCOUNTS": "3", "MFA_TABLE_ACCOUNT_1": ACCOUNT_1, "MFA_TABLE_ACCOUNT_2": ACCOUNT_1}):
        with pytest.raises(ConfigError):
            load_settings({**ENV, **bad})
    with pytest.raises(ConfigError):  # in Azure an account is reached with the app's identity, never a key
        load_settings({**ENV, "WEBSITE_INSTANCE_ID": "x", "MFA_TABLE_ACCOUNTS": "2",
                       "MFA_TABLE_ACCOUNT_1": "DefaultEndpointsProtocol=https;TableEndpoint=https://x"})


@pytest.fixture
def clock():
    return FixedClock(datetime(2026, 11, 27, 19, 30, tzinfo=timezone.utc))


def memory(clock, tables, **env: str):
    settings = load_settings({**ENV, "MFA_TABLE_NAME": "memory", **env})
    from shared.channels.memory import MemoryQueues

    return build_deps(settings, clock=clock, table=tables[0], more_tables=tables[1:],
                      queues=MemoryQueues(now=lambda: clock.now().timestamp()))


MOVING = {"MFA_TABLE_ACCOUNTS": "2", "MFA_TABLE_ACCOUNT_1": ACCOUNT_1, "MFA_TABLE_ACCOUNTS_PREVIOUS": "1"}
MOVER = next(u for u in (f"user{i}" for i in range(100)) if home(u, 2) == 1)


def enrolled(clock):
    """A user enrolled (a verified phone) while there was one account; the deps of the move that follows."""
    tables = [MemoryTable(), MemoryTable()]
    one = memory(clock, tables[:1])
    view = enrolment.enrol_phone(one, MOVER, {"phoneNumber": "+14255550100"}).view
    verify.verify(one, view["challengeId"], {"code": sms_code_for(one, view["challengeId"])})
    return tables, memory(clock, tables, **MOVING)


def rows(table, pk):
    return {r["RowKey"] for r in table.list_entities() if r["PartitionKey"] == pk}


def test_a_write_decided_before_the_switch_fails_its_fence_and_its_retry_lands_in_the_new_account(clock):
    tables, d = enrolled(clock)
    unit = UserRows.load(d.store, MOVER, [], 90)  # read in account 0, where the user still is
    assert moves.move(d.store, MOVER, 0, 1) == "moved"
    unit.profile.default_method = "sms"
    unit.save(unit.profile)
    with pytest.raises(StaleWrite):  # its ETag is account 0's: never sent to account 1
        unit.commit()
    attempts = []

    def touch(u: UserRows) -> None:
        attempts.append(u)
        u.audit(clock.now(), "test_event", "test")
        u.commit()
    in_unit(d.store, 90, MOVER, touch)
    assert len(attempts) == 1 and any(rk.startswith("au|") for rk in rows(tables[1], MOVER) - rows(tables[0], MOVER))


def test_a_write_during_the_copy_makes_the_switch_fail_and_the_copy_start_over(clock, monkeypatch):
    tables, d = enrolled(clock)
    copied = moves._rows
    started = []

    def copy_then_sign_in(store, account, pk):
        found = copied(store, account, pk)
        if account == 0 and not started:  # the first copy has read account 0: a sign-in commits there now
            started.append(signin.begin(d, {"userId": MOVER}).view["challengeId"])
        return found
    monkeypatch.setattr(moves, "_rows", copy_then_sign_in)
    assert moves.move(d.store, MOVER, 0, 1) == "moved"
    challenge_rk = "ch|" + started[0].split(".")[1]
    assert challenge_rk in rows(tables[1], MOVER)  # the sign-in's rows moved too: nothing lost
    assert sms_code_for(d, started[0])  # and the router finds the challenge in its new account


def test_a_user_who_arrives_during_a_move_goes_straight_to_the_new_account(clock):
    tables, d = enrolled(clock)
    newcomer = next(u for u in (f"new{i}" for i in range(100)) if home(u, 2) == 1)
    enrolment.enrol_phone(d, newcomer, {"phoneNumber": "+14255550101"})
    assert rows(tables[1], newcomer) and not rows(tables[0], newcomer)
    signin.begin(d, {"userId": MOVER})  # a user not moved yet is written where it is, with its fence
    assert MOVE_RK in rows(tables[0], MOVER) and not rows(tables[1], MOVER)


def test_shrinking_two_accounts_to_one_moves_every_user_home(clock):
    """N -> M in general: from two accounts back to one, every user of account 1 ends in account 0."""
    tables = [MemoryTable(), MemoryTable()]
    two = memory(clock, tables, MFA_TABLE_ACCOUNTS="2", MFA_TABLE_ACCOUNT_1=ACCOUNT_1)
    users = [f"user{i}" for i in range(12)]
    for i, user in enumerate(users):
        enrolment.enrol_phone(two, user, {"phoneNumber": f"+1425555{100 + i:04d}"})
    assert {home(u, 2) for u in users} == {0, 1}
    one = memory(clock, tables, MFA_TABLE_ACCOUNTS="1", MFA_TABLE_ACCOUNT_1=ACCOUNT_1, MFA_TABLE_ACCOUNTS_PREVIOUS="2")
    report = rebalance.run(one.store, clock.now, grace_seconds=0)
    while report["phase"] != "done":
        report = rebalance.run(one.store, clock.now, grace_seconds=0)
    assert report["moved"] == sum(home(u, 2) == 1 for u in users)
    assert all(rows(tables[0], u) for u in users)
    assert {r["RowKey"] for r in tables[1].list_entities()} == {MOVE_RK}  # only tombstones left behind


def test_a_second_job_running_at_once_loses_the_checkpoint_and_stops(clock, monkeypatch):
    tables, d = enrolled(clock)
    real_move = moves.move

    def meanwhile(store, pk, old, new):  # another job writes the checkpoint while this one moves
        store.upsert(new_row(*rebalance.CHECKPOINT, layout="1>2", phase="copy", account=0))
        return real_move(store, pk, old, new)
    monkeypatch.setattr(moves, "move", meanwhile)
    rebalance.run(d.store, clock.now, stop_after_moves=0)  # writes the first checkpoint, moves nothing
    with pytest.raises(StaleWrite):
        rebalance.run(d.store, clock.now)


def test_a_full_transaction_leaves_room_for_the_fence_while_a_rebalance_runs(clock):
    """save_later fills a transaction to the brim; with the fence it must still fit in 100 operations."""
    from datetime import timedelta

    from shared.model.records import Challenge

    tables, d = enrolled(clock)
    assert d.store.tx_room == 99 and memory(clock, [MemoryTable()]).store.tx_room == 100
    now = clock.now()
    models = [Challenge(user_id=MOVER, row_key=f"ch|x{i:03d}", purpose="signin", method="sms", created_at=now,
                        expires_at=now + timedelta(minutes=5), max_attempts=5) for i in range(150)]
    for i in range(0, 150, 50):
        unit = UserRows.load(d.store, MOVER, [], 90)
        for model in models[i:i + 50]:
            unit.add(model)
        unit.commit()
    unit = UserRows.load(d.store, MOVER, [], 90)
    found = unit.pending_challenges("sms", now)
    for ch in found:
        ch.status = "canceled"
    unit.audit(now, "test_event", "test")
    unit.save_later(found)
    unit.commit()  # 98 models + the audit row + the fence, then the rest + the fence
    assert len(found) >= 150
    assert {r["status"] for r in tables[0].list_entities() if r["RowKey"].startswith("ch|x")} == {"canceled"}
