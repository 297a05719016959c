"""Timer triggers: NCRONTAB (six fields) schedules in WEBSITE_TIME_ZONE or UTC, runOnStartup, one thread per
timer."""

from __future__ import annotations

import os
import threading
from datetime import datetime, timedelta, timezone, tzinfo

from azure.functions.timer import TimerRequest

from .config import LOG, DevHostError, parse_timespan, resolve_setting_refs
from .functions import FunctionInfo, Invoker, Worker, timed_call

# --------------------------------------------------------------------------- timers


def ncrontab_to_croniter(schedule: str) -> str:
    """NCRONTAB puts seconds first ("sec min hour day month dow"); croniter wants them last."""
    fields = schedule.split()
    if len(fields) == 6:
        return " ".join(fields[1:] + fields[:1])
    if len(fields) == 5:
        return schedule
    raise DevHostError(f"timer schedule needs 6 NCRONTAB fields (sec min hour day month dow): {schedule!r}")


def schedule_timezone() -> tzinfo:
    """UTC, or WEBSITE_TIME_ZONE (IANA name) as on Linux plans."""
    name = os.environ.get("WEBSITE_TIME_ZONE")
    if not name:
        return timezone.utc
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise DevHostError(f"WEBSITE_TIME_ZONE={name!r} is not an IANA time zone") from exc


class Schedule:
    """Next occurrence of an NCRONTAB expression, or of a TimeSpan interval ("hh:mm:ss")."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self._interval: float | None = None
        self._cron: str | None = None
        if ":" in expression and len(expression.split()) == 1:
            self._interval = parse_timespan(expression, 0.0)
            if self._interval <= 0:
                raise DevHostError(f"timer interval must be positive: {expression!r}")
        else:
            from croniter import croniter

            self._cron = ncrontab_to_croniter(expression)
            if not croniter.is_valid(self._cron):
                raise DevHostError(f"invalid timer schedule: {expression!r}")

    def next_after(self, moment: datetime) -> datetime:
        if self._interval is not None:
            return moment + timedelta(seconds=self._interval)
        from croniter import croniter

        return croniter(self._cron, moment).get_next(datetime)


class TimerRunner(Worker):
    """One thread per timer trigger; runs never overlap and missed occurrences are not replayed."""

    PAST_DUE_AFTER = timedelta(seconds=1)

    def __init__(self, info: FunctionInfo, invoker: Invoker, stop_event: threading.Event) -> None:
        self.info = info
        self.schedule = Schedule(resolve_setting_refs(str(info.binding["schedule"])))
        self.run_on_startup = bool(info.binding.get("runOnStartup"))
        self._tz = schedule_timezone()
        self._invoker = invoker
        self._stop = stop_event
        self._last: datetime | None = None
        self._thread = threading.Thread(target=self.run, name=f"devhost-timer-{info.name}", daemon=True)

    def run(self) -> None:
        if self.run_on_startup:
            self.fire(datetime.now(self._tz), reason="RunOnStartup")
        while not self._stop.is_set():
            due = self.schedule.next_after(datetime.now(self._tz))
            if not self._sleep_until(due):
                return
            self.fire(due, reason="Timer fired")

    def _sleep_until(self, due: datetime) -> bool:
        """False when stopped first."""
        while not self._stop.is_set():
            remaining = (due - datetime.now(self._tz)).total_seconds()
            if remaining <= 0:
                return True
            self._stop.wait(min(remaining, 60))
        return False

    def fire(self, due: datetime, reason: str) -> None:
        now = datetime.now(self._tz)
        request = TimerRequest(
            past_due=now - due > self.PAST_DUE_AFTER,
            schedule_status={
                "Last": self._last.isoformat() if self._last else None,
                "Next": self.schedule.next_after(now).isoformat(),
                "LastUpdated": now.isoformat(),
            },
            schedule={"AdjustForDST": True},
        )
        self._last = now
        try:
            timed_call(self._invoker, self.info, request, reason)
        except Exception:  # noqa: BLE001 - the timer keeps running
            LOG.debug("timer %s failed; already logged", self.info.name)
