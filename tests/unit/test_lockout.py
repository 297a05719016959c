"""L7 lockout (NIST SP 800-63B-4 3.2.2) with an injected clock: a consecutive-failure count that neither
the reset window nor a lock clears, lock periods that double, and a hard stop at 100 failures."""
from datetime import timedelta

from shared.model.lockout import (
    LOCKED_FOR_GOOD,
    MAX_CONSECUTIVE_FAILURES,
    MAX_LOCK,
    clear_failures,
    locked_error,
    register_failure,
    register_success,
)
from shared.model.policy import apply_patch
from shared.model.records import Profile
from tests.clocks import FixedClock
from tests.unit.test_policy import SETTINGS, T0


def fail_until_locked(p: Profile, clock: FixedClock) -> timedelta:
    """Wrong codes one second apart until one locks; the lock's length."""
    while True:
        clock.advance(1)
        if register_failure(p, clock.now(), SETTINGS):
            return p.locked_until - clock.now()


def test_lock_periods_double_with_each_lock():
    p, clock = Profile("alice", T0), FixedClock(T0)
    periods = []
    for _ in range(4):
        periods.append(fail_until_locked(p, clock))
        clock.at = p.locked_until  # wait the lock out, then guess again
    assert periods == [timedelta(minutes=15 * 2 ** i) for i in range(4)]
    assert p.consecutive_failures == 40 and p.lock_count == 4


def test_doubling_stops_at_the_maximum_lock():
    p, clock = Profile("alice", T0), FixedClock(T0)
    for _ in range(9):
        period = fail_until_locked(p, clock)
        clock.at = p.locked_until
    assert period == MAX_LOCK


def test_hundred_failures_spread_over_days_lock_until_unblocked():
    """A guesser who paces guesses to stay under the window's threshold is still stopped at 100."""
    p, clock = Profile("alice", T0), FixedClock(T0)
    for i in range(MAX_CONSECUTIVE_FAILURES - 1):
        clock.advance(47 * 60)  # one guess every 47 minutes: the reset window never fills, over 3 days
        assert not register_failure(p, clock.now(), SETTINGS), i
        assert not p.is_locked(clock.now())
    assert clock.now() - T0 > timedelta(days=3)
    clock.advance(47 * 60)
    assert register_failure(p, clock.now(), SETTINGS)
    assert p.locked_until == LOCKED_FOR_GOOD
    assert p.is_locked(clock.now() + timedelta(days=3650))
    error = locked_error(p, clock.now())
    assert error.status == 429 and error.retry_after is None  # no time at which it ends by itself
    clear_failures(p)  # what an admin unblock does (with locked_until = None)
    assert p.consecutive_failures == p.lock_count == p.failures == 0


def test_locks_and_windows_do_not_reset_the_consecutive_count():
    p, clock = Profile("alice", T0), FixedClock(T0)
    for _ in range(9):  # nine locks of ten failures, each waited out
        fail_until_locked(p, clock)
        clock.at = p.locked_until + timedelta(days=1)
    assert p.consecutive_failures == 90
    for _ in range(9):
        clock.advance(1)
        register_failure(p, clock.now(), SETTINGS)
    assert p.consecutive_failures == 99 and p.locked_until < LOCKED_FOR_GOOD
    clock.advance(1)
    assert register_failure(p, clock.now(), SETTINGS) and p.locked_until == LOCKED_FOR_GOOD


def test_only_a_success_clears_the_consecutive_count_and_the_doubling():
    p, clock = Profile("alice", T0), FixedClock(T0)
    fail_until_locked(p, clock)
    clock.at = p.locked_until
    for _ in range(3):
        clock.advance(3600)  # failures far apart: the window resets, the consecutive count does not
        register_failure(p, clock.now(), SETTINGS)
    assert p.consecutive_failures == 13 and p.failures == 1
    register_success(p)
    assert p.consecutive_failures == p.lock_count == p.failures == 0
    assert fail_until_locked(p, clock) == timedelta(minutes=15)  # back to the first period


def test_timed_lock_answers_retry_after():
    p, clock = Profile("alice", T0), FixedClock(T0)
    fail_until_locked(p, clock)
    assert locked_error(p, clock.now()).retry_after == 15 * 60


def test_every_lock_up_to_the_hundredth_failure_stays_within_the_maximum():
    """The strictest policy (every failure locks, the longest lock) runs the doubling 99 times: no lock
    outgrows `MAX_LOCK` (or overflows a timedelta, a 500), and the 100th failure still locks for good."""
    strict = apply_patch(SETTINGS, {"lockout": {"threshold": 1, "resetMinutes": 15, "lockMinutes": 1440}})
    p, clock = Profile("alice", T0), FixedClock(T0)
    for _ in range(MAX_CONSECUTIVE_FAILURES - 1):
        clock.advance(1)
        assert register_failure(p, clock.now(), strict)
        assert p.locked_until - clock.now() == MAX_LOCK
        clock.at = p.locked_until
    assert p.lock_count == MAX_CONSECUTIVE_FAILURES - 1
    clock.advance(1)
    assert register_failure(p, clock.now(), strict) and p.locked_until == LOCKED_FOR_GOOD
