"""The lockout rule (L7), in one place: how many failures lock a user, for how long, how the lock grows,
where it stops, and the count that locks for good. Pure decisions about a user's state at an instant.

Two counts (NIST 800-63B-4 3.2.2). `failures` throttles: `threshold` failures within the reset window lock
the user for `lockMinutes`, doubled with each lock (at most `MAX_LOCK`). The consecutive count is what
bounds guessing: neither the window nor a lock clears it, only a success or an admin unblock, and at
`MAX_CONSECUTIVE_FAILURES` the user stays locked until an admin acts.

The three knobs live in the policy document (threshold, resetMinutes, lockMinutes); their defaults and
bounds are the settings' (settings.BOUNDS: MFA_LOCKOUT_THRESHOLD, MFA_LOCKOUT_RESET_MINUTES,
MFA_LOCKOUT_MINUTES), read here and nowhere else.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Protocol

from ..kernel.clock import retry_after
from ..kernel.errors import Locked
from ..settings import BOUNDS

if TYPE_CHECKING:
    from .records import Profile

KNOBS = {"threshold": "lockout_threshold", "resetMinutes": "lockout_reset_minutes", "lockMinutes": "lockout_minutes"}
DEFAULT_THRESHOLD, DEFAULT_RESET_MINUTES, DEFAULT_LOCK_MINUTES = (BOUNDS[attr][1] for attr in KNOBS.values())
MAX_CONSECUTIVE_FAILURES = 100  # past this, locked until an admin unblocks
LOCKED_FOR_GOOD = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)  # `lockedUntil` of that lock
MAX_LOCK = timedelta(hours=24)  # the doubling stops here; the consecutive cap ends it
MAX_DOUBLINGS = 16  # 2**16 lock periods: far past MAX_LOCK, and no overflow however many locks


class Knobs(Protocol):
    """The policy's three lockout knobs (model.policy.Policy)."""

    @property
    def lockout_threshold(self) -> int: ...
    @property
    def lockout_reset_minutes(self) -> int: ...
    @property
    def lockout_minutes(self) -> int: ...


def register_failure(profile: Profile, now: datetime, policy: Knobs) -> bool:
    """Count one failed verify across all of the user's challenges; True when it locks the user."""
    profile.consecutive_failures += 1
    if profile.consecutive_failures >= MAX_CONSECUTIVE_FAILURES:
        profile.locked_until = LOCKED_FOR_GOOD
        return True
    window = timedelta(minutes=policy.lockout_reset_minutes)
    if profile.failure_window_start is None or now - profile.failure_window_start >= window:
        profile.failures = 0
        profile.failure_window_start = now
    profile.failures += 1
    if profile.failures >= policy.lockout_threshold:
        period = timedelta(minutes=policy.lockout_minutes) * 2 ** min(profile.lock_count, MAX_DOUBLINGS)
        profile.locked_until = now + min(period, MAX_LOCK)
        profile.lock_count += 1
        profile.failures = 0
        profile.failure_window_start = None
        return True
    return False


def register_success(profile: Profile) -> None:
    clear_failures(profile)


def clear_failures(profile: Profile) -> None:
    """What a success or an admin unblock resets: every failure count and the lock doubling."""
    profile.failures = profile.consecutive_failures = profile.lock_count = 0
    profile.failure_window_start = None


def locked_error(profile: Profile, now: datetime) -> Locked:
    """429 `locked`; `Retry-After` only for a lock that ends by itself."""
    if profile.locked_until is None or profile.locked_until >= LOCKED_FOR_GOOD:
        return Locked("Too many failed attempts; the user is locked until an administrator unblocks them.")
    return Locked(retry_after=retry_after(profile.locked_until, now))
