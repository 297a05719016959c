"""The SMS pipeline's pieces: the outbox message (names a challenge, never a code), the message text,
and the gateway that sends through azure-communication-sms and checks each recipient's result."""
from __future__ import annotations

import contextlib
import json
import logging
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from .errors import StorageUnavailable
from .store import StaleWrite, _storage_call

log = logging.getLogger("twostep.sms")
OUTBOX_VERSION = 1


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


class Outbox:
    def __init__(self, queue: Any) -> None:
        self.queue = queue

    def put(self, challenge_id: str, ttl_seconds: int) -> None:
        def send() -> None:
            try:
                self.queue.send_message(outbox_message(challenge_id), time_to_live=ttl_seconds)
            except ResourceNotFoundError:  # locally the queue is created on first use
                with contextlib.suppress(ResourceExistsError):  # created by a concurrent caller
                    self.queue.create_queue()
                self.queue.send_message(outbox_message(challenge_id), time_to_live=ttl_seconds)
        try:
            _storage_call(send)
        except StaleWrite:
            raise StorageUnavailable() from None


class SmsGateway:
    def __init__(self, client: Any, sender: str) -> None:
        self.client = client
        self.sender = sender

    def send(self, to: str, text: str, tag: str) -> str:
        results = self.client.send(from_=self.sender, to=[to], message=text, enable_delivery_report=True,
                                   tag=tag)
        result = results[0]
        if not result.successful:
            raise DeliveryFailed(f"provider refused the recipient (HTTP {result.http_status_code})")
        return result.message_id
