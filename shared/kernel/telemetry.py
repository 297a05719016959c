"""The service's own metrics (`twostep.*`), through the OpenTelemetry API only.

Without an SDK configured the API's instruments are no-ops, so the domain calls them at each decision
point unconditionally and cheaply; functions/telemetry.py decides whether anything is exported. No
attribute ever holds a code, a secret or a phone number: a country is the number's region code only.
"""
from __future__ import annotations

from opentelemetry import metrics

METER = "twostep"
_meter = metrics.get_meter(METER)

CHALLENGES_BEGUN = _meter.create_counter("twostep.challenges.begun", description="challenges begun, by method")
VERIFY_APPROVED = _meter.create_counter("twostep.verify.approved", description="approved answers, by method")
VERIFY_FAILED = _meter.create_counter("twostep.verify.failed", description="wrong answers, by method")
USERS_LOCKED = _meter.create_counter("twostep.users.locked", description="lockouts after repeated failures")
SMS_SENT = _meter.create_counter("twostep.sms.sent", description="SMS accepted by the provider, by country")
SMS_FAILED = _meter.create_counter("twostep.sms.failed", description="SMS refused by the provider, by country")
SMS_RATE_LIMITED = _meter.create_counter("twostep.sms.rate_limited",
                                         description="SMS refused by a send limit, by country and limit")
SMS_SEGMENTS = _meter.create_counter("twostep.sms.segments", description="SMS segments sent (what is billed)")
WEBHOOK_DELIVERIES = _meter.create_counter("twostep.webhook.deliveries",
                                           description="webhook deliveries, by outcome")

NAMES = ("twostep.challenges.begun", "twostep.verify.approved", "twostep.verify.failed", "twostep.users.locked",
         "twostep.sms.sent", "twostep.sms.failed", "twostep.sms.rate_limited", "twostep.sms.segments",
         "twostep.webhook.deliveries")


def segments(text: str) -> int:
    """SMS segments of a message: GSM-7 fits 160 characters (153 per part), anything else 70 (67)."""
    single, part = (160, 153) if text.isascii() else (70, 67)
    return 1 if len(text) <= single else -(-len(text) // part)
