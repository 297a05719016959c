"""Time is injected: logic takes a Clock, so tests pin the instant and the server clock alone decides."""
from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from .environment import AZURE_MARKERS, running_in_azure


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FileClock:
    """Test-only (the dev host's DEVHOST_CLOCK_FILE): the instant written in a file as Unix seconds, re-read
    on every call, so a test pins the host's clock and moves it step by step; an empty file means real time."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def now(self) -> datetime:
        text = self.path.read_text().strip()
        if not text:
            return datetime.now(timezone.utc)
        return datetime.fromtimestamp(float(text), tz=timezone.utc)


_test_clock: Clock | None = None


def install_test_clock(clock: Clock, environ: Mapping[str, str] = os.environ) -> None:
    """Make `clock` the process's clock (tools/devhost/ only). Refused in Azure: there, time is the
    system clock and nothing a deployment sets can change it."""
    global _test_clock
    if running_in_azure(environ):
        raise RuntimeError(f"a test clock is refused when running in Azure ({'/'.join(AZURE_MARKERS)})")
    _test_clock = clock


def process_clock(environ: Mapping[str, str] = os.environ) -> Clock:
    """The clock the service runs on: the system clock, or a test clock the dev host installed (ignored
    should the process turn out to run in Azure)."""
    if _test_clock is not None and not running_in_azure(environ):
        return _test_clock
    return SystemClock()


def iso(dt: datetime | None) -> str | None:
    """ISO 8601 UTC with a Z, to the second: the API's timestamp format."""
    if dt is None:
        return None
    return dt.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def retry_after(until: datetime, now: datetime) -> int:
    """Whole seconds from `now` until `until`, at least 1: a Retry-After."""
    return max(int((until - now).total_seconds() + 0.999), 1)
