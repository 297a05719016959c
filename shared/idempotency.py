"""`Idempotency-Key` for the POSTs that create a challenge: a repeat within the code lifetime returns the
first response and sends no second SMS.

The record lives in the user's partition and is created in the same transaction as the challenge, so
two concurrent requests with one key cannot both create one: the loser's transaction fails, it re-reads,
and replays the winner's response. The stored response is sealed (the TOTP enrolment response carries
the secret). A repeat with a different body is refused rather than answered with the wrong response.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from azure.data.tables import TableEntity

from .crypto import Sealer
from .errors import InvalidRequest, TwostepError
from .store import Tx

PREFIX = "id|"
_KEY_RE = re.compile(r"[\x21-\x7e]{1,255}")


class IdempotencyKeyReused(TwostepError):
    status, code, title = 422, "idempotency_key_reused", "Idempotency key reused"
    detail = "This Idempotency-Key was used with a different request."


@dataclass
class Idempotency:
    """One request's key; `lapsed` holds a record past its lifetime, which the new one replaces."""

    row_key: str
    fingerprint: str
    lapsed: TableEntity | None = None

    @classmethod
    def from_request(cls, key: str | None, route: str, body: dict[str, Any]) -> Idempotency | None:
        if key is None:
            return None
        if not _KEY_RE.fullmatch(key):
            raise InvalidRequest("Idempotency-Key must be 1-255 visible ASCII characters.")
        digest = hashlib.sha256(f"{route}\x00{key}".encode()).digest()
        fingerprint = hashlib.sha256(f"{route}\x00{json.dumps(body, sort_keys=True)}".encode()).hexdigest()
        return cls(PREFIX + base64.urlsafe_b64encode(digest[:24]).decode(), fingerprint)

    def replay(self, row: TableEntity | None, sealer: Sealer, user_id: str, now: datetime) -> Any:
        """The stored outcome for a repeat, or None when this key is new (or its record has lapsed)."""
        self.lapsed = row if row is not None and now >= row["purgeAfter"] else None
        if row is None or self.lapsed is not None:
            return None
        if row["fingerprint"] != self.fingerprint:
            raise IdempotencyKeyReused()
        sealed = sealer.open(row["response"], _aad(user_id, self.row_key), kind="idempotency")
        status, body, headers = json.loads(sealed)
        return status, body, headers

    def add_record(self, tx: Tx, user_id: str, outcome: Any, sealer: Sealer, now: datetime, ttl_seconds: int) -> None:
        """Add the record to the transaction that creates the outcome: a create, or a conditional
        replace of a lapsed record, so two concurrent first requests cannot both succeed."""
        sealed = sealer.seal(json.dumps(list(outcome)).encode(), _aad(user_id, self.row_key))
        entity = TableEntity(PartitionKey=user_id, RowKey=self.row_key, fingerprint=self.fingerprint,
                             response=sealed, purgeAfter=now + timedelta(seconds=ttl_seconds))
        if self.lapsed is None:
            tx.create(entity)
        else:
            entity._metadata = self.lapsed.metadata
            tx.replace(entity)


def _aad(user_id: str, row_key: str) -> str:
    return f"twostep/idempotency/{user_id}/{row_key}"
