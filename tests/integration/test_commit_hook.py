"""The store's one after-commit point: hooks receive the audit events a transaction committed, only once
it has committed, and a failing hook cannot undo or fail a decision that is already stored."""
from __future__ import annotations

import pytest

from shared.kernel.ids import PROFILE_RK
from shared.store import StaleWrite, Tx, audit_row
from tests.integration.test_flows import enrol_sms, events


def test_hooks_get_exactly_the_audit_events_that_were_committed(deps):
    seen = []
    deps.store.after_commit.append(seen.append)
    enrol_sms(deps)
    committed = [e for batch in seen for e in batch]
    assert sorted(e.event for e in committed) == sorted(events(deps))
    assert "verify_approved" in [e.event for e in committed]
    assert {e.user_id for e in committed} == {"alice"}
    assert all(e.at == deps.clock.now() and e.actor for e in committed)


def test_a_lost_race_publishes_nothing(deps):
    enrol_sms(deps)
    stale = deps.store.get("alice", PROFILE_RK)
    deps.store.transact(Tx().replace(deps.store.get("alice", PROFILE_RK)))  # someone else writes first
    seen = []
    deps.store.after_commit.append(seen.append)
    with pytest.raises(StaleWrite):
        deps.store.transact(Tx().replace(stale).create(
            audit_row("alice", deps.clock.now(), "fraud_reported", "user", 30)))
    assert seen == []


def test_a_failing_hook_is_logged_and_the_commit_stands(deps, caplog):
    def broken(batch):
        raise RuntimeError("publisher down")

    enrol_sms(deps)
    deps.store.after_commit.append(broken)
    with caplog.at_level("ERROR", logger="twostep.store"):
        deps.store.transact(Tx().create(audit_row("alice", deps.clock.now(), "mfa_skipped", "application", 30)))
    assert "mfa_skipped" in events(deps)
    assert any(getattr(r, "event", None) == "after_commit_failed" for r in caplog.records)
