"""The service's own metrics (`twostep.*`), through the OpenTelemetry API only.

Without an SDK configured the API's instruments are no-ops, so the domain calls them at each decision
point unconditionally and cheaply; functions/telemetry.py decides whether anything is exported. No
attribute ever holds a code, a secret or a phone number: a country is the number's region code only.

`Metric.decision` pairs a count with one structured log line (shared/kernel/signals.py's form): the event
name is the metric's name, and the record carries it as `event` with the challenge id and the same
attributes, so a log exporter that keeps record attributes (OpenTelemetry) finds every decision about one
challenge. The challenge id stays out of the metric: one series per challenge would be unbounded.
"""
from __future__ import annotations

import logging

from opentelemetry import metrics

from . import signals

METER = "twostep"
_meter = metrics.get_meter(METER)
log = logging.getLogger("twostep.decisions")


class Metric:
    """One `twostep.*` counter and the decision log line that goes with it."""

    def __init__(self, name: str, description: str) -> None:
        self.name = name
        self.counter = _meter.create_counter(name, description=description)

    def add(self, amount: int, attributes: dict[str, str] | None = None) -> None:
        """Count without a log line (a second counter of one decision, such as SMS segments)."""
        self.counter.add(amount, attributes)

    def decision(self, challenge_id: str | None = None, amount: int = 1, **attributes: str) -> None:
        """Count one decision by `attributes` and log it under this metric's name with the challenge id."""
        self.counter.add(amount, attributes)
        fields = {"challengeId": challenge_id, **attributes} if challenge_id else attributes
        signals.emit(log, logging.INFO, self.name, "decision", **fields)


CHALLENGES_BEGUN = Metric("twostep.challenges.begun", "challenges begun, by method")
VERIFY_APPROVED = Metric("twostep.verify.approved", "approved answers, by method")
VERIFY_FAILED = Metric("twostep.verify.failed", "wrong answers, by method")
USERS_LOCKED = Metric("twostep.users.locked", "lockouts after repeated failures")
SMS_SENT = Metric("twostep.sms.sent", "SMS accepted by the provider, by country")
SMS_FAILED = Metric("twostep.sms.failed", "SMS refused by the provider, by country")
SMS_RATE_LIMITED = Metric("twostep.sms.rate_limited", "SMS refused by a send limit, by country and limit")
SMS_SEGMENTS = Metric("twostep.sms.segments", "SMS segments sent (what is billed)")
WEBHOOK_DELIVERIES = Metric("twostep.webhook.deliveries", "webhook deliveries, by outcome")

ALL = (CHALLENGES_BEGUN, VERIFY_APPROVED, VERIFY_FAILED, USERS_LOCKED, SMS_SENT, SMS_FAILED, SMS_RATE_LIMITED,
       SMS_SEGMENTS, WEBHOOK_DELIVERIES)
NAMES = tuple(m.name for m in ALL)


def segments(text: str) -> int:
    """SMS segments of a message: GSM-7 fits 160 characters (153 per part), anything else 70 (67)."""
    single, part = (160, 153) if text.isascii() else (70, 67)
    return 1 if len(text) <= single else -(-len(text) // part)
