"""SMS send limits (L5): per user, per phone number, per source IP, per number prefix, and a global daily
budget (which numbers are accepted at all is model/phone.py's to say). Over any limit: 429 `rate_limited`
with Retry-After, nothing sent.

All counters of a day live in one partition (`~rl|YYYYMMDD`, which no user id can name), so one query
reads every counter an SMS touches and one ETag-conditional transaction counts it: two round trips, and
two concurrent sends can never both take the last unit of a limit. The price is one hot row (the daily
budget) that every SMS updates; a lost race re-reads and tries again, which holds up to tens of SMS per
second. Counters are fixed windows: clock hours, and the UTC day for the budget.
"""
from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers

from ..kernel import telemetry
from ..kernel.clock import retry_after
from ..kernel.errors import RateLimited
from ..model.phone import region
from ..ports import Counting, KeysAndSettings
from ..store import Tx, new_row, retry_on_conflict

log = logging.getLogger("twostep.limits")
PARTITION_PREFIX = "~rl|"


@dataclass(frozen=True)
class Counter:
    scope: str
    row_key: str
    limit: int
    window_end: datetime


def _ip_key(ip: str) -> str:
    """An IPv4 address, or the /64 of an IPv6 one (a single host usually holds a whole /64); written
    without `/`, which a row key may not hold."""
    address = ipaddress.ip_address(ip)
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address) + "_64"
    return str(address)


def counters(d: KeysAndSettings, now: datetime, user_id: str, e164: str, ip: str | None) -> list[Counter]:
    s = d.settings
    hour = now.replace(minute=0, second=0, microsecond=0)
    hour_end = hour + timedelta(hours=1)
    day_end = now.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    number = phonenumbers.parse(e164)
    prefix = f"+{number.country_code}{str(number.national_number)[:3]}"
    h = f"{hour:%H}"
    out = [
        Counter("user", f"{h}|user|{user_id}", s.sms_per_user_per_hour, hour_end),
        Counter("phone", f"{h}|phone|{d.index('phone', e164)}", s.sms_per_phone_per_hour,
                hour_end),
        Counter("prefix", f"{h}|prefix|{prefix}", s.sms_per_prefix_per_hour, hour_end),
        Counter("budget", "day|budget", s.sms_daily_budget, day_end),
    ]
    if ip:
        out.append(Counter("ip", f"{h}|ip|{_ip_key(ip)}", s.sms_per_ip_per_hour, hour_end))
    return out


def consume_sms(d: Counting, user_id: str, e164: str, ip: str | None) -> None:
    """Count one SMS against every limit it falls under, or refuse it (counting nothing). Whether the number
    is accepted at all is model/phone.py's to say, before."""

    def attempt() -> None:
        now = d.clock.now()
        partition = f"{PARTITION_PREFIX}{now:%Y%m%d}"
        wanted = counters(d, now, user_id, e164, ip)
        rows = d.store.get_many(partition, [c.row_key for c in wanted])
        over = [c for c in wanted if rows.get(c.row_key, {}).get("count", 0) >= c.limit]
        if over:
            log.warning("sms refused: %s limit reached", ", ".join(c.scope for c in over))
            for c in over:
                telemetry.SMS_RATE_LIMITED.decision(country=region(e164), limit=c.scope)
            raise RateLimited(retry_after=max(retry_after(c.window_end, now) for c in over))
        tx = Tx()
        for c in wanted:
            row = rows.get(c.row_key)
            if row is None:
                tx.create(new_row(partition, c.row_key, count=1,
                                      purgeAfter=c.window_end + timedelta(days=1)))
            else:
                row["count"] += 1
                tx.replace(row)
        d.store.transact(tx)

    retry_on_conflict(attempt)
