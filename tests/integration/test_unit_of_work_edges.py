"""What mutation testing found unstated about the unit of work (shared/store/unit.py; docs/testing.md):
a row read later is read once and modelled, a bypass row becomes its model, a challenge at its expiry is
no longer pending, a full transaction still commits with models left over, and an overflow batch that
lost a race does not stop the batches after it."""
from __future__ import annotations

from datetime import timedelta

from shared.model.records import Bypass, Challenge
from shared.store import to_entity
from tests.integration.test_unit_of_work import USER, counting, seed


def pending(clock, n: int, prefix: str = "p") -> list[Challenge]:
    now = clock.now()
    return [Challenge(user_id=USER, row_key=f"ch|{prefix}{i:03d}", purpose="signin", method="sms", created_at=now,
                      expires_at=now + timedelta(minutes=5), max_attempts=5) for i in range(n)]


def store_all(deps, models) -> None:
    for i in range(0, len(models), 100):
        unit = deps.load_unit(USER, with_profile=False)
        for model in models[i:i + 100]:
            unit.add(model)
        unit.commit()


def test_a_row_read_later_is_read_once_and_a_missing_one_is_none(deps, clock, monkeypatch):
    seed(deps, clock)
    unit = deps.load_unit(USER)
    calls = counting(deps, monkeypatch)
    assert unit.challenge("ch|seed") is None  # not loaded yet
    assert unit.read("ch|seed")["RowKey"] == "ch|seed" and unit.read("ch|seed")["RowKey"] == "ch|seed"
    assert unit.challenge("ch|seed").row_key == "ch|seed"
    assert unit.read("ch|none") is None and unit.challenge("ch|none") is None
    assert calls == ["get", "get"]  # one read for each row, the first twice asked


def test_a_bypass_row_becomes_its_model(deps, clock):
    seed(deps, clock)
    now = clock.now()
    deps.store.table.create_entity(to_entity(Bypass(user_id=USER, row_key="bp|one", created_at=now,
                                                     expires_at=now + timedelta(hours=1), reason="travel",
                                                     created_by="ops")))
    unit = deps.load_unit(USER, "bp|one", "bp|none")
    bypass = unit.bypass("bp|one")
    assert (bypass.row_key, bypass.reason, bypass.created_by, bypass.status) == ("bp|one", "travel", "ops", "active")
    assert unit.bypass("bp|none") is None
    assert [b.row_key for b in unit.bypasses()] == ["bp|one"]


def test_a_challenge_at_its_expiry_is_no_longer_pending(deps, clock):
    seed(deps, clock)  # a TOTP challenge expiring 5 minutes from now
    assert [c.row_key for c in deps.load_unit(USER).pending_challenges("totp", clock.now() + timedelta(seconds=299))
            ] == ["ch|seed"]
    assert deps.load_unit(USER).pending_challenges("totp", clock.now() + timedelta(seconds=300)) == []


def test_a_full_transaction_commits_and_the_models_left_over_follow(deps, clock):
    seed(deps, clock)
    later = pending(clock, 3, "l")
    store_all(deps, later)
    unit = deps.load_unit(USER)
    for ch in pending(clock, 99, "n"):
        unit.add(ch)
    unit.save(unit.profile)  # 100 operations: the transaction is full
    found = unit.pending_challenges("sms", clock.now())
    for ch in found:
        ch.status = "canceled"
    unit.save_later(found)
    unit.commit()
    assert {deps.store.get(USER, ch.row_key)["status"] for ch in later} == {"canceled"}
    assert deps.store.get(USER, "ch|n098")["status"] == "pending"


def test_an_overflow_batch_that_lost_a_race_does_not_stop_the_next(deps, clock):
    seed(deps, clock)
    store_all(deps, pending(clock, 250))
    unit = deps.load_unit(USER)
    found = unit.pending_challenges("sms", clock.now())
    for ch in found:
        ch.status = "canceled"
    unit.save(unit.profile)
    unit.audit(clock.now(), "method_removed", "application")  # 2 operations: 98 models fit, 152 follow
    unit.save_later(found)
    deps.store.table.update_entity({"PartitionKey": USER, "RowKey": found[98].row_key, "attempts": 1})  # a race
    unit.commit()
    status = {r["RowKey"]: r["status"] for r in deps.store.query_prefix(USER, "ch|p", limit=300)}
    assert {status[ch.row_key] for ch in found[:98]} == {"canceled"}
    assert {status[ch.row_key] for ch in found[98:198]} == {"pending"}  # the batch that lost, skipped whole
    assert {status[ch.row_key] for ch in found[198:]} == {"canceled"}  # the next one still written
