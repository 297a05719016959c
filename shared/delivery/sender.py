"""The SMS sender's logic, run by the queue trigger.

It re-reads the challenge (the message only names it), sends nothing for one no longer pending or whose
delivery is already settled (`sent`/`failed`: a duplicate message from a replay or the sweeper is a
no-op), re-derives the same code on every retry, and raises on any failure so the host retries; after
the host's maxDequeueCount the poison handler marks the delivery failed.

At most one SMS per challenge per send attempt the provider accepted: every send of attempt n carries the
same repeatability pair (a UUID keyed from the challenge and n, and the time attempt n began), so when a
send succeeded but recording `sent` failed, the retry is dropped by ACS (and by the emulator). Only a
provider refusal (`successful: false`) starts a new attempt, recorded on the challenge before raising.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import uuid
from datetime import datetime

from ..channels.sms import DeliveryFailed, message_text, parse_outbox_message
from ..crypto.keys import derive_code
from ..kernel import signals, telemetry
from ..kernel.errors import NotFound
from ..kernel.ids import challenge_id_for, parse_challenge_id
from ..methods.registry import delivers
from ..methods.sms import phone_aad
from ..model.phone import mask, region
from ..model.records import Challenge
from ..ports import Deciding, Sending, Units
from ..store import StaleWrite, UserRows

log = logging.getLogger("twostep.delivery")
_REPEAT_LABEL = b"twostep/sms-repeatability\x00"
SETTLED = ("sent", "failed")


def repeatability_id(key: bytes, ch: Challenge, attempt: int) -> str:
    """A UUID stable for (challenge, attempt), keyed so it reveals nothing about the user."""
    mac = hmac.new(key, _REPEAT_LABEL + f"{ch.token}|{attempt}".encode(), hashlib.sha256).digest()
    return str(uuid.UUID(bytes=mac[:16], version=4))


def send_attempt(ch: Challenge) -> tuple[int, datetime]:
    """The current send attempt of a challenge and when it began (attempt 0 begins at creation)."""
    return ch.sms_attempt, ch.sms_attempt_at or ch.created_at


def _load(d: Units, body: bytes) -> tuple[UserRows, Challenge] | None:
    challenge_id = parse_outbox_message(body)
    if challenge_id is None:
        log.error("outbox message is malformed; dropped")
        return None
    try:
        user_id, row_key = parse_challenge_id(challenge_id)
    except NotFound:
        log.error("outbox message names no valid challenge; dropped")
        return None
    unit = d.load_unit(user_id, row_key, with_profile=False)  # the challenge alone: one point read
    ch = unit.challenge(row_key)
    if ch is None:
        log.info("challenge no longer exists; nothing sent")
        return None
    return unit, ch


def deliver(d: Sending, body: bytes, dequeue_count: int = 1) -> str:
    """Send the SMS for the challenge named in `body`; returns what happened (for logs and tests). A
    failure raises (the host retries) and leaves a sweep owed: if the queue is down as well, the host
    cannot hand the message back, and it would stay hidden past the code's lifetime."""
    try:
        return _deliver(d, body, dequeue_count)
    except Exception:
        if d.sweeps is not None:
            d.sweeps.owe()
        raise


def _deliver(d: Sending, body: bytes, dequeue_count: int) -> str:
    loaded = _load(d, body)
    if loaded is None:
        return "dropped"
    unit, ch = loaded
    now = d.clock.now()
    if not delivers(ch.method) or ch.effective_status(now) != "pending":
        log.info("challenge is %s; nothing sent", ch.effective_status(now))
        return "skipped"
    if ch.delivery in SETTLED:
        log.info("delivery already %s; nothing sent", ch.delivery)
        return "already_" + ch.delivery  # a repeated message, or the send succeeded but deleting it did not
    try:
        return send_and_record(d, unit, ch, now, dequeue_count)
    except DeliveryFailed:
        _next_attempt(unit, ch, send_attempt(ch)[0], now)
        raise


def send_and_record(d: Sending, unit: UserRows, ch: Challenge, now: datetime, tries: int, **timeouts: float) -> str:
    """Send the challenge's code (its current attempt's repeatability pair) and record `sent` with its
    audit event in one transaction; raises DeliveryFailed when the provider refused the recipient."""
    message_id = send_code(d, ch, tries, **timeouts)
    unit.patch(ch.row_key, delivery="sent")  # bookkeeping: decides nothing, so no If-Match on the challenge
    audit_sent(unit, ch, now, message_id, tries)
    unit.commit()
    return "sent"


def send_code(d: Sending, ch: Challenge, tries: int, **timeouts: float) -> str:
    """Send the challenge's code with its current attempt's repeatability pair; the provider's message id.
    Raises DeliveryFailed when the provider refused the recipient (and whatever the transport raises)."""
    key = d.hmac_keys.get(ch.key_id, "sms-code", "challenge")
    code = derive_code(key, ch.token, ch.digits)
    phone = d.sealer.open(ch.destination, phone_aad(ch.user_id), kind="challenge").decode()
    attempt, began = send_attempt(ch)
    text = message_text(code, d.settings.otp_host)
    try:
        message_id = d.sms.send(phone, text, tag="twostep", request_id=repeatability_id(key, ch, attempt),
                                first_sent=began, **timeouts)
    except DeliveryFailed:
        telemetry.SMS_FAILED.decision(challenge_id_for(ch.user_id, ch.row_key), country=region(phone))
        raise
    telemetry.SMS_SENT.decision(challenge_id_for(ch.user_id, ch.row_key), country=region(phone))
    telemetry.SMS_SEGMENTS.add(telemetry.segments(text), {"country": region(phone)})
    log.info("sms accepted for %s (attempt %d, try %d)", mask(phone), attempt, tries)
    return message_id


def audit_sent(unit: UserRows, ch: Challenge, now: datetime, message_id: str, tries: int) -> None:
    unit.audit(now, "sms_sent", "system", destination=ch.destination_masked, providerMessageId=message_id,
               attempt=tries)


def _next_attempt(unit: UserRows, ch: Challenge, attempt: int, now: datetime) -> None:
    """The provider refused this attempt: the next try is a new request (a repeat would get the refusal)."""
    ch.sms_attempt, ch.sms_attempt_at = attempt + 1, now
    unit.save(ch)
    try:
        unit.commit()
    except StaleWrite:
        pass  # changed meanwhile (e.g. sent by a duplicate message): the next try re-reads it


def mark_failed(d: Deciding, body: bytes) -> str:
    """Poison handler: the host gave up on this message; record the delivery as failed."""
    loaded = _load(d, body)
    if loaded is None:
        return "dropped"
    unit, ch = loaded
    now = d.clock.now()
    if ch.delivery in SETTLED:  # a duplicate message failed after another one was delivered
        return "already_" + ch.delivery
    ch.delivery = "failed"
    unit.save(ch)  # ETag: a send recorded meanwhile is not overwritten
    unit.audit(now, "sms_failed", "system", destination=ch.destination_masked)
    unit.commit()
    signals.emit(log, logging.ERROR, signals.SMS_DELIVERY_FAILED, "no code delivered, retries spent",
                 reason="poison", destination=ch.destination_masked)
    return "failed"
