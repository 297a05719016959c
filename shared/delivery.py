"""The SMS sender's logic, run by the queue trigger.

It re-reads the challenge (the message only names it), sends nothing for one no longer pending,
re-derives the same code on every retry, and raises on any failure so the host retries; after the
host's maxDequeueCount the poison handler marks the delivery failed.
"""
from __future__ import annotations

import logging

from .audit import audit_row
from .challenges import phone_aad
from .crypto import derive_code
from .deps import Deps
from .errors import NotFound
from .ids import parse_challenge_id
from .models import Challenge
from .phone import mask
from .sms import message_text, parse_outbox_message
from .store import Tx

log = logging.getLogger("twostep.delivery")


def _load(d: Deps, body: bytes) -> Challenge | None:
    challenge_id = parse_outbox_message(body)
    if challenge_id is None:
        log.error("outbox message is malformed; dropped")
        return None
    try:
        user_id, row_key = parse_challenge_id(challenge_id)
    except NotFound:
        log.error("outbox message names no valid challenge; dropped")
        return None
    row = d.store.get(user_id, row_key)
    if row is None:
        log.info("challenge no longer exists; nothing sent")
        return None
    return Challenge.from_entity(row)


def deliver(d: Deps, body: bytes, dequeue_count: int = 1) -> str:
    """Send the SMS for the challenge named in `body`; returns what happened (for logs and tests)."""
    ch = _load(d, body)
    if ch is None:
        return "dropped"
    now = d.clock.now()
    if ch.method != "sms" or ch.effective_status(now) != "pending":
        log.info("challenge is %s; nothing sent", ch.effective_status(now))
        return "skipped"
    if ch.delivery == "sent" and dequeue_count > 1:
        return "already_sent"  # the send succeeded but deleting the message did not
    code = derive_code(d.hmac_keys.get(ch.key_id, "sms-code", "challenge"), ch.token, ch.digits)
    phone = d.sealer.open(ch.destination, phone_aad(ch.user_id), kind="challenge").decode()
    message_id = d.sms.send(phone, message_text(code, d.settings.otp_host), tag="twostep")
    log.info("sms accepted for %s (attempt %d)", mask(phone), dequeue_count)
    tx = Tx().merge_existing({"PartitionKey": ch.user_id, "RowKey": ch.row_key, "delivery": "sent"})
    tx.create(audit_row(ch.user_id, now, "sms_sent", "system", d.settings.audit_retention_days,
                        destination=ch.destination_masked, providerMessageId=message_id, attempt=dequeue_count))
    d.store.transact(tx)
    return "sent"


def mark_failed(d: Deps, body: bytes) -> str:
    """Poison handler: the host gave up on this message; record the delivery as failed."""
    ch = _load(d, body)
    if ch is None:
        return "dropped"
    now = d.clock.now()
    tx = Tx().merge_existing({"PartitionKey": ch.user_id, "RowKey": ch.row_key, "delivery": "failed"})
    tx.create(audit_row(ch.user_id, now, "sms_failed", "system", d.settings.audit_retention_days,
                        destination=ch.destination_masked))
    d.store.transact(tx)
    log.warning("sms delivery failed for good for %s", ch.destination_masked)
    return "failed"
