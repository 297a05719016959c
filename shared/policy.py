"""Pure decisions about a user's state at an instant: failure counting and lockout."""
from __future__ import annotations

from datetime import datetime, timedelta

from .config import Settings
from .models import Profile


def register_failure(profile: Profile, now: datetime, settings: Settings) -> bool:
    """Count one failed verify across all of the user's challenges; True when it locks the user.

    Failures older than the reset window no longer count. Reaching the threshold locks the user for
    the lock period and starts a fresh count for after it.
    """
    window = timedelta(minutes=settings.lockout_reset_minutes)
    if profile.failure_window_start is None or now - profile.failure_window_start >= window:
        profile.failures = 0
        profile.failure_window_start = now
    profile.failures += 1
    if profile.failures >= settings.lockout_threshold:
        profile.locked_until = now + timedelta(minutes=settings.lockout_minutes)
        profile.failures = 0
        profile.failure_window_start = None
        return True
    return False


def register_success(profile: Profile) -> None:
    profile.failures = 0
    profile.failure_window_start = None


def retry_after(until: datetime, now: datetime) -> int:
    return max(int((until - now).total_seconds() + 0.999), 1)
