"""Operational signals: the log records the alerts in infra/modules/alerts.bicep count.

Each is one log line whose message starts with a stable event name and a colon (`twostep.http.5xx: ...`),
and whose record carries the same name as the `event` attribute with a few plain fields. The Functions host
forwards only the message text to Application Insights (`traces.message`), so the alert queries match the
message prefix; a log pipeline that keeps record attributes (OpenTelemetry) gets `event` and the fields as
custom dimensions. A field is an id, a status, a count or a reason written by twostep itself: never a code,
secret, key or full phone number (tests/unit/test_signals.py). tests/infra/test_alert_signals.py runs the code
path behind each alert and matches its query against what was logged.
"""
from __future__ import annotations

import logging

HTTP_5XX = "twostep.http.5xx"  # an HTTP function answered 500/503 (Storage down, bad setting, a bug)
SMS_DELIVERY_FAILED = "twostep.sms.delivery_failed"  # a user got no code: retries spent or code expired
CRYPTO_FAILURE = "crypto_failure"  # stored data that does not open (documented name, docs/deploy.md)
WEBHOOK_FAILED = "twostep.webhook.failed"  # one delivery try of a security event failed (it is retried)
EVENTS_PARKED = "twostep.events.parked"  # the last try failed: the host parks the event in events-poison

ALL = (HTTP_5XX, SMS_DELIVERY_FAILED, CRYPTO_FAILURE, WEBHOOK_FAILED, EVENTS_PARKED)

# host.json extensions.queues.maxDequeueCount: the try after which the host moves a failing message to
# `<queue>-poison` (tests/infra/test_alert_signals.py keeps the two equal).
HOST_MAX_DEQUEUE_COUNT = 5

Field = str | int | bool | None


def emit(logger: logging.Logger, level: int, event: str, text: str, **fields: Field) -> None:
    """Log `<event>: <text> key=value ...` with `event` and the fields as record attributes."""
    details = " ".join(f"{key}={value}" for key, value in fields.items())
    message = f"{text} {details}" if details else text
    logger.log(level, "%s: %s", event, message, extra={"event": event, **fields})


def http_5xx(logger: logging.Logger, function: str, status: int, problem: str) -> None:
    emit(logger, logging.ERROR, HTTP_5XX, "answered a server error", function=function, status=status, problem=problem)


def queue_try_failed(logger: logging.Logger, dequeue_count: int | None, reason: str) -> None:
    """A security event's delivery try failed: always WEBHOOK_FAILED, and EVENTS_PARKED on the last try."""
    tries = dequeue_count or 1
    emit(logger, logging.WARNING, WEBHOOK_FAILED, "security event not delivered", reason=reason, attempt=tries,
         maxAttempts=HOST_MAX_DEQUEUE_COUNT)
    if tries >= HOST_MAX_DEQUEUE_COUNT:
        emit(logger, logging.ERROR, EVENTS_PARKED, "security event parked in the poison queue", reason=reason,
             attempt=tries)
