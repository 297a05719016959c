"""The unit of work of one user's partition (shared/store/unit.py) against real Azurite: one read for
the profile and the named rows, nothing written before `commit`, every change and its audit event in one
If-Match transaction (all or nothing), and `Deps.in_unit` deciding again on a lost race."""
from datetime import timedelta

import pytest

from shared.kernel.ids import AUDIT_PREFIX, PROFILE_RK
from shared.model.records import Challenge, Profile
from shared.store import StaleWrite, to_entity

USER = "unit-user"


def seed(deps, clock) -> Challenge:
    deps.store.ping()  # the table is created on first use
    now = clock.now()
    ch = Challenge(user_id=USER, row_key="ch|seed", purpose="signin", method="totp", created_at=now,
                   expires_at=now + timedelta(minutes=5), max_attempts=5)
    deps.store.table.create_entity(to_entity(Profile(user_id=USER, created_at=now)))
    deps.store.table.create_entity(to_entity(ch))
    return ch


def audit_rows(deps) -> list:
    return deps.store.query_prefix(USER, AUDIT_PREFIX)


def counting(deps, monkeypatch) -> list:
    calls: list = []
    for name in ("get", "get_many", "query", "transact"):
        real = getattr(deps.store, name)
        monkeypatch.setattr(deps.store, name, lambda *a, _real=real, _name=name, **k: (calls.append(_name),
                                                                                     _real(*a, **k))[1])
    return calls


def test_loads_the_profile_and_named_rows_in_one_read(deps, clock, monkeypatch):
    seed(deps, clock)
    calls = counting(deps, monkeypatch)
    unit = deps.load_unit(USER, "ch|seed", None, "id|absent")
    assert calls == ["get_many"]
    assert unit.profile.user_id == USER and unit.challenge("ch|seed").status == "pending"
    assert unit.row("id|absent") is None and unit.challenge("ch|other") is None
    calls.clear()
    assert deps.load_unit(USER).profile is not None and calls == ["get"]  # the profile alone: a point read
    calls.clear()
    assert deps.load_unit(USER, with_profile=False).profile is None and calls == []


def test_nothing_is_written_before_commit_then_all_at_once(deps, clock):
    seed(deps, clock)
    unit = deps.load_unit(USER, "ch|seed")
    ch = unit.challenge("ch|seed")
    ch.status = "approved"
    unit.profile.failures = 3
    unit.save(ch)
    unit.save(unit.profile)
    unit.audit(clock.now(), "verify_approved", "application", challengeId="x")
    assert deps.store.get(USER, "ch|seed")["status"] == "pending" and audit_rows(deps) == []
    unit.commit()
    assert deps.store.get(USER, "ch|seed")["status"] == "approved"
    assert deps.store.get(USER, PROFILE_RK)["failures"] == 3
    [event] = audit_rows(deps)
    assert event["event"] == "verify_approved"
    assert event["purgeAfter"] == clock.now() + timedelta(days=deps.settings.audit_retention_days)


def test_a_change_made_meanwhile_fails_the_whole_commit(deps, clock):
    seed(deps, clock)
    unit = deps.load_unit(USER, "ch|seed")
    other = deps.load_unit(USER)
    other.profile.failures = 1
    other.save(other.profile)
    other.commit()  # the profile changed after `unit` read it
    ch = unit.challenge("ch|seed")
    ch.status = "approved"
    unit.save(ch)
    unit.save(unit.profile)
    unit.audit(clock.now(), "verify_approved", "application")
    with pytest.raises(StaleWrite):
        unit.commit()
    assert deps.store.get(USER, "ch|seed")["status"] == "pending" and audit_rows(deps) == []  # all or nothing


def test_in_unit_reads_again_and_decides_on_what_is_there_now(deps, clock):
    seed(deps, clock)
    seen = []

    def decide(unit):
        seen.append(unit.profile.failures)
        if len(seen) == 1:  # a concurrent writer gets in between this read and the commit
            rival = deps.load_unit(USER)
            rival.profile.failures = 7
            rival.save(rival.profile)
            rival.commit()
        unit.profile.failures += 1
        unit.save(unit.profile)
        unit.commit()
        return unit.profile.failures

    assert deps.in_unit(USER, decide) == 8 and seen == [0, 7]
    assert deps.store.get(USER, PROFILE_RK)["failures"] == 8


def test_a_model_never_read_is_created_and_a_read_one_deleted_only_unchanged(deps, clock):
    unit = deps.load_unit(USER)
    assert unit.profile is None
    unit.save(Profile(user_id=USER, created_at=clock.now()))  # no row read: a create
    unit.commit()
    profile = deps.load_unit(USER).profile
    assert profile is not None
    deps.store.table.update_entity({"PartitionKey": USER, "RowKey": PROFILE_RK, "failures": 2})
    stale = deps.load_unit(USER)
    stale.profile = profile  # the version read before the update
    stale.delete(profile)
    with pytest.raises(StaleWrite):
        stale.commit()
    fresh = deps.load_unit(USER)
    fresh.delete(fresh.profile)
    fresh.commit()
    assert deps.store.get(USER, PROFILE_RK) is None


def test_changes_past_the_transaction_limit_follow_in_batches(deps, clock):
    seed(deps, clock)
    now = clock.now()
    pending = [Challenge(user_id=USER, row_key=f"ch|p{i:03d}", purpose="signin", method="sms", created_at=now,
                         expires_at=now + timedelta(minutes=5), max_attempts=5) for i in range(120)]
    for i in range(0, 120, 100):
        batch = deps.load_unit(USER, with_profile=False)
        for ch in pending[i:i + 100]:
            batch.add(ch)
        batch.commit()
    unit = deps.load_unit(USER)
    found = unit.pending_challenges("sms", now)
    assert len(found) == 120
    for ch in found:
        ch.status = "canceled"
    unit.save(unit.profile)
    unit.audit(now, "method_removed", "application")
    unit.save_later(found)
    unit.commit()
    assert deps.load_unit(USER).pending_challenges("sms", now) == []
