"""Test helpers for time: a clock the test sets or advances explicitly (never used by the service)."""
from __future__ import annotations

from datetime import datetime, timedelta


class FixedClock:
    """A clock for tests: set or advance it explicitly."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at = self.at + timedelta(seconds=seconds)
