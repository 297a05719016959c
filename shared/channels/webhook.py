"""Webhook delivery of security events (N2): one signed POST per queued event, per Standard Webhooks.

The body is the event exactly as queued (CloudEvents structured JSON, `application/cloudevents+json`);
`webhook-id` is the event id (the same on every redelivery, so a receiver drops repeats),
`webhook-timestamp` the time of this try and `webhook-signature` the `standardwebhooks` library's v1
HMAC-SHA256 over `id.timestamp.body` with MFA_WEBHOOK_SECRET. Anything but a 2xx answer raises, so the
queue host retries the message and, after maxDequeueCount tries, parks it in `events-poison`.

The receiver is not trusted to behave (N4): one delivery ends within `DELIVERY_DEADLINE` whatever it does
(connect, send and read together; a trickling answer has its socket shut down), reads at most
`MAX_ANSWER_BYTES` of the answer (streamed, then the connection is closed), follows no redirect (a 3xx
is a failure), and in Azure posts to nothing but an https URL.
"""
from __future__ import annotations

import logging
import os
import time
from datetime import datetime, timezone
from urllib.parse import urlparse

import requests
import urllib3
from standardwebhooks import Webhook

from ..clients import deadline_session, exchange_deadline
from ..kernel import telemetry
from ..kernel.environment import running_in_azure
from .events import parse_event

log = logging.getLogger("twostep.webhook")
CONNECT_TIMEOUT, READ_TIMEOUT = 3.0, 5.0  # seconds: a dead host; silence while waiting for bytes
DELIVERY_DEADLINE = 12.0  # seconds for the whole delivery; host.json functionTimeout is 30 s
MAX_ANSWER_BYTES = 4096  # of the receiver's answer body; only its status matters
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


def deliver_event(url: str | None, secret: str | None, body: bytes, deadline: float = DELIVERY_DEADLINE) -> str:
    """POST one queued event to the webhook; returns what happened (for the log), raises to be retried."""
    try:
        outcome = _deliver(url, secret, body, deadline)
    except Exception:
        telemetry.WEBHOOK_DELIVERIES.decision(outcome="failed")
        raise
    label = {"dropped": "dropped", "no webhook configured": "unconfigured"}.get(outcome, "delivered")
    telemetry.WEBHOOK_DELIVERIES.decision(outcome=label)
    return outcome


def _deliver(url: str | None, secret: str | None, body: bytes, deadline: float) -> str:
    text = body.decode("utf-8", errors="replace")
    event = parse_event(text)
    if event is None:
        log.warning("queued message is not a twostep event: dropped")
        return "dropped"
    if not url or not secret:
        return "no webhook configured"
    if urlparse(url).scheme != "https" and running_in_azure(os.environ):
        raise WebhookFailed("the webhook URL is not https; nothing is sent from Azure to it")
    status = _post(url, text.encode("utf-8"), signed_headers(secret, event["id"], text), deadline)
    if not 200 <= status < 300:
        raise WebhookFailed(f"webhook answered HTTP {status}")
    return f"delivered {event['type']}"


def _post(url: str, data: bytes, headers: dict[str, str], deadline: float) -> int:
    """One bounded POST; returns the answer's status once at most MAX_ANSWER_BYTES of its body were read."""
    session = deadline_session()
    try:
        with exchange_deadline(deadline) as fired:
            try:
                with session.post(url, data=data, headers=headers, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                                  allow_redirects=False, stream=True) as response:
                    response.raw.read(MAX_ANSWER_BYTES, decode_content=False)
                    status = response.status_code
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                if fired.is_set():
                    raise WebhookFailed(f"webhook did not answer within {deadline:.0f} s") from None
                raise WebhookFailed(f"webhook unreachable: {type(exc).__name__}") from None
        if fired.is_set():
            raise WebhookFailed(f"webhook did not answer within {deadline:.0f} s")
        return status
    finally:
        session.close()
