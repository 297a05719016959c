"""Security events (N1): every committed audit row of a security-relevant change becomes one CloudEvents 1.0
event (structured JSON) on the Storage queue `events`; functions/events.py delivers it to the webhook.

`EVENT_TYPES` maps audit event names to CloudEvent types, so a new audit event gets its event by one row.
A value is a type, or a function of the row's detail that picks the type (or None: not published).

Delivery guarantee (N1, N4): every committed security event reaches the queue at least once, with the
same id however often it goes out. Its audit row is committed in the decision's transaction; just before
that, a due marker is written for it (shared/channels/due.py, kind `evt`, the store's before-commit hook), and
right after the commit the event is enqueued and its marker deleted (the after-commit hook). If the
queue is unreachable then, the marker stays and a sweep publishes the event once the queue is back (it
rebuilds the event from the audit row, so the id, `evt_` + a hash of the audit row's key, is the same).
An event is never published for a decision that did not happen: a marker whose audit row never
committed is dropped. The webhook sender uses the event id as `webhook-id`, so a receiver drops repeats.

Refusals (`request_refused`, coalesced per minute) are not published: a flood of refused requests would
become a flood of webhook calls, and the lockout that matters is its own event (`user.locked`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent

from ..kernel.errors import StorageUnavailable
from ..model.lockout import LOCKED_FOR_GOOD
from ..store import AuditEvent, Entity, Store, audit_events
from . import due
from .queues import QueueGateway

log = logging.getLogger("twostep.events")
TYPE_PREFIX = "com.twostep."
EVENT_TTL_SECONDS = 7 * 24 * 3600  # the longest a Storage queue keeps a message
ENROL_PREFIX = "enrol_"  # an enrolment challenge's purpose (methods.base.enrol_purpose)
KIND = "evt"  # the due-item kind of an event not yet published (shared/channels/due.py)
REPUBLISH_AFTER = timedelta(seconds=10)  # a younger marker's own commit is still publishing it


def _verify_approved(detail: dict[str, Any]) -> str | None:
    if str(detail.get("purpose", "")).startswith(ENROL_PREFIX):  # an enrolment of any method
        return "method.added"
    if detail.get("activated"):
        return "method.activated"
    return None  # an ordinary sign-in changes nothing


def _user_locked(detail: dict[str, Any]) -> str:
    return "user.hardlocked" if detail.get("lockedUntil") == LOCKED_FOR_GOOD.isoformat().replace("+00:00", "Z") \
        else "user.locked"


# audit event name -> CloudEvent type (after TYPE_PREFIX), or a function of the detail choosing it.
EVENT_TYPES: dict[str, str | Callable[[dict[str, Any]], str | None]] = {
    "verify_approved": _verify_approved,
    "method_removed": "method.removed",
    "passkey_added": "passkey.added",
    "passkey_removed": "passkey.removed",
    "passkey_clone_suspected": "passkey.clone_suspected",
    "bypass_created": "bypass.created",
    "bypass_used": "bypass.used",
    "bypass_revoked": "bypass.revoked",
    "user_locked": _user_locked,
    "fraud_reported": "fraud.reported",
    "user_unblocked": "user.unblocked",
    "groups_changed": "user.groupschanged",
    "sessions_revoked": "user.sessionsrevoked",
    "policy_changed": "policy.changed",
    "keys_resealed": "keys.resealed",
    "oath_tokens_imported": "oathtokens.imported",
    "oath_tokens_import_reverted": "oathtokens.importreverted",
    # account recovery (temporary access passes, recovery codes, removal):
    "access_pass_issued": "accesspass.issued",
    "access_pass_used": "accesspass.used",
    "access_pass_revoked": "accesspass.revoked",
    "recovery_codes_generated": "recoverycodes.generated",
    "recovery_code_used": "recoverycodes.used",
}

# Detail keys never copied into an event, whatever an audit row holds (defence in depth: audit rows
# already hold no code, secret or full phone number), and a free-text value that looks like a phone number.
_DENIED_WORDS = ("code", "secret", "phone", "destination", "token", "password")
_DENIED_KEYS = frozenset({"pass", "accesspass", "key", "otp", "to"})
_ALLOWED_KEYS = frozenset({"accessPassId", "codesRemaining", "recoveryCodesRemaining"})
_PHONE_LIKE = re.compile(r"\+?\d[\d ().-]{5,}\d")
_lock = threading.Lock()
UNPUBLISHED = {"count": 0}  # events the queue refused right after their commit (a sweep publishes them)


def event_type(audit_event: str, detail: dict[str, Any]) -> str | None:
    rule = EVENT_TYPES.get(audit_event)
    chosen = rule(detail) if callable(rule) else rule
    return TYPE_PREFIX + chosen if chosen else None


def _safe(key: str, value: Any) -> bool:
    lower = key.lower()
    if key not in _ALLOWED_KEYS and (lower in _DENIED_KEYS or any(word in lower for word in _DENIED_WORDS)):
        return False
    free_text = isinstance(value, str) and not key.endswith(("Id", "At", "Until"))
    return not (free_text and _PHONE_LIKE.search(value))


def _event_data(audit: AuditEvent) -> dict[str, Any]:
    data = {k: v for k, v in audit.detail.items() if _safe(k, v)}
    return {"auditEvent": audit.event, "actor": audit.actor, **data}


def event_id(partition: str, row_key: str) -> str:
    """Stable for one audit row, so a republished event is recognisably the same one."""
    return "evt_" + hashlib.sha256(f"{partition}\n{row_key}".encode()).hexdigest()[:32]


def build_event(audit: AuditEvent, otp_host: str) -> CloudEvent | None:
    """The event of one committed audit event, or None when that audit event is not published."""
    kind = event_type(audit.event, audit.detail)
    if kind is None:
        return None
    attributes: dict[str, Any] = {
        "id": event_id(audit.user_id, audit.row_key), "source": f"/twostep/{otp_host}", "type": kind,
        "time": _utc(audit.at), "datacontenttype": "application/json",
    }
    if not audit.user_id.startswith("~"):  # system partitions (~policy, ~keys) are no user
        attributes["subject"] = audit.user_id
    return CloudEvent(attributes=attributes, data=_event_data(audit))


def _utc(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def to_json(event: CloudEvent) -> str:
    return JSONFormat().write(event).decode("utf-8")


def parse_event(body: bytes | str) -> dict[str, Any] | None:
    """A queued event as a dict (structured JSON), or None when it is not a CloudEvent of ours."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None
    ok = (isinstance(data, dict) and data.get("specversion") == "1.0" and isinstance(data.get("id"), str)
          and str(data.get("type", "")).startswith(TYPE_PREFIX))
    return data if ok else None


class EventPublisher:
    """Marks each event due before its decision commits, puts it on the `events` queue right after, and
    settles the markers a sweep finds (the events whose publication failed)."""

    def __init__(self, queue: Any, otp_host: str, store: Store | None = None, sweeps: due.Sweeps | None = None) -> None:
        self.queue = queue  # the SDK client of the events queue
        self.otp_host = otp_host
        self.store, self.sweeps = store, sweeps

    def _events(self, audits: Iterable[AuditEvent]) -> list[tuple[AuditEvent, CloudEvent]]:
        out = []
        for audit in audits:
            try:
                event = build_event(audit, self.otp_host)
            except (ValueError, TypeError):
                log.exception("audit event %s has no valid security event", audit.event)
                continue
            if event is not None:
                out.append((audit, event))
        return out

    @staticmethod
    def _marker(audit: AuditEvent, event: CloudEvent) -> Entity:
        return due.marker(KIND, event.get_id(), audit.at, timedelta(seconds=EVENT_TTL_SECONDS),
                          user=audit.user_id, auditRk=audit.row_key)

    def due(self, audits: Iterable[AuditEvent]) -> list[Entity]:
        """The store's before-commit hook: a due marker for each event the transaction would publish."""
        return [self._marker(audit, event) for audit, event in self._events(audits)]

    def committed(self, audits: Iterable[AuditEvent]) -> None:
        """The store's after-commit hook: publish the transaction's events and forget the markers of
        those that went out (the others stay for the sweep)."""
        published = [self._marker(audit, event) for audit, event in self._events(audits) if self.publish(event)]
        if published and self.store is not None:
            try:
                due.forget(self.store, published)
            except StorageUnavailable:
                log.warning("event markers not deleted; a sweep finds them published again (same ids)")

    def publish(self, event: CloudEvent) -> bool:
        """Put one event on the queue; False (and a sweep owed) when the queue is unreachable."""
        try:
            QueueGateway(self.queue).send(to_json(event), EVENT_TTL_SECONDS)
        except StorageUnavailable:
            with _lock:
                UNPUBLISHED["count"] += 1
            log.error("security event %s (%s) not published now; a sweep publishes it once the queue is back",
                      event.get_id(), event.get_type())
            if self.sweeps is not None:
                self.sweeps.owe()
            return False
        if self.sweeps is not None:
            self.sweeps.queue_ok()
        return True

    def settle(self, d: Any, row: Entity, now: datetime) -> str:
        """A sweep found this event's marker: publish it again if its decision committed."""
        if now - row["createdAt"] < REPUBLISH_AFTER:
            return "wait"
        audit_row = d.store.get(row["user"], row["auditRk"])
        if audit_row is None:
            return "missing"  # the decision's transaction failed: there is no event
        found = self._events(audit_events([("create", audit_row)]))
        if not found:
            return "done"
        return "done" if self.publish(found[0][1]) else "wait"
