"""Webhook delivery of security events (N2): one signed POST per queued event, per Standard Webhooks.

The body is the event exactly as queued (CloudEvents structured JSON, `application/cloudevents+json`);
`webhook-id` is the event id (the same on every redelivery, so a receiver drops repeats),
`webhook-timestamp` the time of this try and `webhook-signature` the `standardwebhooks` library's v1
HMAC-SHA256 over `id.timestamp.body` with MFA_WEBHOOK_SECRET. Anything but a 2xx answer raises, so the
queue host retries the message and, after maxDequeueCount tries, parks it in `events-poison`.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Any

import requests
from standardwebhooks import Webhook

from .events import parse_event

log = logging.getLogger("twostep.webhook")
CONNECT_TIMEOUT, READ_TIMEOUT = 3.0, 10.0  # seconds; well inside the host's functionTimeout
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"


class WebhookFailed(Exception):
    """The receiver did not take the event; raised so the queue host retries it."""


def signed_headers(secret: str, event_id: str, body: str, now: float | None = None) -> dict[str, str]:
    moment = datetime.fromtimestamp(int(time.time() if now is None else now), tz=timezone.utc)
    return {
        "content-type": CONTENT_TYPE,
        "webhook-id": event_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, moment, body),
    }


def deliver_event(url: str | None, secret: str | None, body: bytes, session: Any = requests) -> str:
    """POST one queued event to the webhook; returns what happened (for the log), raises to be retried."""
    text = body.decode("utf-8", errors="replace")
    event = parse_event(text)
    if event is None:
        log.warning("queued message is not a twostep event: dropped")
        return "dropped"
    if not url or not secret:
        return "no webhook configured"
    try:
        response = session.post(url, data=text.encode("utf-8"),
                                headers=signed_headers(secret, event["id"], text),
                                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), allow_redirects=False)
    except requests.RequestException as exc:
        raise WebhookFailed(f"webhook unreachable: {type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        raise WebhookFailed(f"webhook answered HTTP {response.status_code}")
    return f"delivered {event['type']}"
