"""The SMS pipeline's pieces: the outbox message (names a challenge, never a code), the message text,
and the gateway that sends through azure-communication-sms and checks each recipient's result.

Every send carries the repeatability pair ACS uses to drop a repeated request (`repeatabilityRequestId`,
a UUID, and `repeatabilityFirstSent`, the RFC 1123 time of the first try). SmsClient.send in
azure-communication-sms 1.1.0 draws a fresh uuid4 and the current time on every call, so a retry would
look new and be sent (and billed) again; the gateway therefore builds the request itself with a stable
pair and hands it to the client's generated operation (pinned SDK; the emulator test sees the ids).
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

from azure.core.tracing.decorator import distributed_trace

from ..clients import OUTBOX_PUT_TIMEOUTS
from .queues import QueueGateway

log = logging.getLogger("twostep.sms")
OUTBOX_VERSION = 1
_UTC = timezone.utc


class DeliveryFailed(Exception):
    """The provider did not accept the message; raised so the queue host retries it."""


def message_text(code: str, otp_host: str) -> str:
    """One GSM-7 segment, no link, no personal data; the last line is the origin-bound autofill format."""
    return f"Your sign-in code is {code}. Don't share it.\n\n@{otp_host} #{code}"


def outbox_message(challenge_id: str) -> str:
    return json.dumps({"v": OUTBOX_VERSION, "challengeId": challenge_id})


def parse_outbox_message(body: bytes) -> str | None:
    try:
        data = json.loads(body.decode("utf-8"))
        challenge_id = data["challengeId"]
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        return None
    return challenge_id if isinstance(challenge_id, str) and len(challenge_id) <= 256 else None


class Outbox(QueueGateway):
    """The SMS outbox: one message per send, naming the challenge; no retry (the sweeper re-drives)."""

    def __init__(self, queue: Any) -> None:
        super().__init__(queue, **OUTBOX_PUT_TIMEOUTS)

    def put(self, challenge_id: str, ttl_seconds: int) -> None:
        self.send(outbox_message(challenge_id), ttl_seconds)


def first_sent_header(moment: datetime) -> str:
    """`repeatabilityFirstSent` in the RFC 1123 form ACS expects ('Tue, 01 Dec 2026 21:30:00 GMT')."""
    return format_datetime(moment.astimezone(_UTC), usegmt=True)


class SmsGateway:
    def __init__(self, client: Any, sender: str) -> None:
        self.client = client
        self.sender = sender

    @distributed_trace  # the SDK call's span, as SmsClient.send has one: its HTTP request is traced once, under it
    def send(self, to: str, text: str, tag: str, request_id: str, first_sent: datetime, **timeouts: float) -> str:
        """Send one SMS; a repeat with the same `request_id`/`first_sent` is dropped by the provider.
        `timeouts` (`connection_timeout`, `read_timeout`) tighten the client's own for this one call."""
        from azure.communication.sms._generated.models import SendMessageRequest, SmsRecipient, SmsSendOptions

        request = SendMessageRequest(
            from_property=self.sender,
            sms_recipients=[SmsRecipient(to=to, repeatability_request_id=request_id,
                                         repeatability_first_sent=first_sent_header(first_sent))],
            message=text, sms_send_options=SmsSendOptions(enable_delivery_report=True, tag=tag))
        response = self.client._sms_service_client.sms.send(request, **timeouts)  # noqa: SLF001 - see the module doc
        result = response.value[0]
        if not result.successful:
            raise DeliveryFailed(f"provider refused the recipient (HTTP {result.http_status_code})")
        return result.message_id
