"""L2 lockout windows and counting, with an injected clock (pure logic, no storage)."""
from datetime import datetime, timedelta, timezone

from shared.kernel.clock import retry_after
from shared.model.lockout import register_failure, register_success
from shared.model.policy import defaults
from shared.model.records import Bypass, Challenge, Profile
from shared.settings import load_settings
from tests.unit.test_config import GOOD

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
SETTINGS = defaults(load_settings(GOOD))


def test_lock_after_threshold_failures_within_window():
    p = Profile("alice", T0)
    for i in range(9):
        assert not register_failure(p, T0 + timedelta(seconds=i), SETTINGS)
    assert p.failures == 9
    assert register_failure(p, T0 + timedelta(seconds=9), SETTINGS)
    assert p.locked_until == T0 + timedelta(seconds=9, minutes=15)
    assert p.is_locked(T0 + timedelta(minutes=15, seconds=8))
    assert not p.is_locked(T0 + timedelta(minutes=15, seconds=9))  # lock ends exactly then


def test_failures_outside_the_reset_window_do_not_count():
    p = Profile("alice", T0)
    for _ in range(9):
        register_failure(p, T0, SETTINGS)
    assert not register_failure(p, T0 + timedelta(minutes=15), SETTINGS)
    assert p.failures == 1


def test_success_resets_the_count():
    p = Profile("alice", T0)
    for _ in range(5):
        register_failure(p, T0, SETTINGS)
    register_success(p)
    assert p.failures == 0


def test_retry_after_rounds_up_and_is_at_least_one_second():
    assert retry_after(T0 + timedelta(seconds=10, milliseconds=1), T0) == 11
    assert retry_after(T0, T0) == 1


def test_challenge_expires_at_its_lifetime_exactly():
    ch = Challenge("alice", "ch|x", "signin", "sms", T0, T0 + timedelta(seconds=300), 5)
    assert ch.effective_status(T0 + timedelta(seconds=299)) == "pending"
    assert ch.effective_status(T0 + timedelta(seconds=300)) == "expired"


def test_bypass_expires_at_its_seconds_exactly():
    b = Bypass("alice", "bp|x", T0, T0 + timedelta(seconds=60), "ticket", "admin-key")
    assert b.effective_status(T0 + timedelta(seconds=59)) == "active"
    assert b.effective_status(T0 + timedelta(seconds=60)) == "expired"
    b.status = "used"
    assert b.effective_status(T0 + timedelta(seconds=61)) == "used"
