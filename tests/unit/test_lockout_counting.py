"""L2 counting as behaviour, whatever the lock periods are: a lock starts a fresh count, a success clears
it, and the threshold-th failure (not one before) locks. Written against register_failure/register_success
and Profile only, so it holds across changes to how long a lock lasts."""
from datetime import datetime, timedelta, timezone

from shared.model.lockout import register_failure, register_success
from shared.model.policy import defaults
from shared.model.records import Profile
from shared.settings import load_settings
from tests.unit.test_config import GOOD

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
POLICY = defaults(load_settings(GOOD))  # threshold 10 within 15 minutes


def fail(profile: Profile, times: int, at: datetime) -> list[bool]:
    return [register_failure(profile, at + timedelta(seconds=i), POLICY) for i in range(times)]


def test_a_lock_starts_a_fresh_count():
    p = Profile("alice", T0)
    assert fail(p, 10, T0) == [False] * 9 + [True]
    assert p.failures == 0  # what the stored profile shows while locked: no failures pending
    after = p.locked_until + timedelta(seconds=1)
    assert fail(p, 10, after) == [False] * 9 + [True]  # nine after the lock do not lock again; the tenth does


def test_a_success_clears_the_count_and_its_window():
    p = Profile("alice", T0)
    fail(p, 9, T0)
    register_success(p)
    assert fail(p, 10, T0 + timedelta(minutes=1)) == [False] * 9 + [True]


def test_the_reset_window_counts_from_the_first_failure_up_to_its_last_instant():
    p = Profile("alice", T0)
    assert fail(p, 9, T0) == [False] * 9
    assert register_failure(p, T0 + timedelta(minutes=15) - timedelta(microseconds=1), POLICY)
