"""`Idempotency-Key` for the POSTs that create a challenge: a repeat within the code lifetime answers
from what the first request created, as it is now, and sends no second SMS.

The record lives in the user's partition and is created in the same transaction as the challenge, so
two concurrent requests with one key cannot both create one: the loser's transaction fails, it re-reads,
and replays the winner's. The record stores a reference to what was created (a challenge or the bypass
spent), never the response: a replay rebuilds the answer from current state (R1), so it cannot hand out
a secret of an authenticator that is active by now, or a `not_required` the present would not give.
Row key and fingerprint are keyed indexes (D6): the body of a phone enrolment holds a phone number.
A repeat with a different body is refused rather than answered with the wrong response.
"""
from __future__ import annotations

import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from ..kernel.errors import IdempotencyKeyReused, IdempotentResultGone, InvalidRequest
from . import Entity, UserRows, new_row

PREFIX = "id|"
_KEY_RE = re.compile(r"[\x21-\x7e]{1,255}")
CHALLENGE, BYPASS = "challenge", "bypass"  # what a record can point to
CODES = "recovery_codes"  # a set of recovery codes: shown once, so a repeat is always 409 (recovery_codes.py)


@dataclass(frozen=True)
class Replay:
    """What the first request with this key created: `kind` (CHALLENGE, BYPASS or CODES) and its row key."""

    kind: str
    ref: str


@dataclass
class Idempotency:
    """One request's key; `lapsed` holds a record past its lifetime, which the new one replaces."""

    row_key: str
    fingerprint: str
    lapsed: Entity | None = None

    @classmethod
    def from_request(cls, index: Callable[[str, str], str], key: str | None, route: str,
                     body: dict[str, Any]) -> Idempotency | None:
        """`index` is the service's keyed index (`Deps.index`)."""
        if key is None:
            return None
        if not _KEY_RE.fullmatch(key):
            raise InvalidRequest("Idempotency-Key must be 1-255 visible ASCII characters.")
        return cls(PREFIX + index("idempotency-key", f"{route}\x00{key}"),
                   index("idempotency-request", f"{route}\x00{json.dumps(body, sort_keys=True)}"))

    def replay(self, row: Entity | None, now: datetime) -> Replay | None:
        """What the first request created, or None when this key is new (or its record has lapsed)."""
        self.lapsed = row if row is not None and now >= row["purgeAfter"] else None
        if row is None or self.lapsed is not None:
            return None
        if not hmac.compare_digest(row["fingerprint"], self.fingerprint):
            raise IdempotencyKeyReused()
        if row.get("kind") not in (CHALLENGE, BYPASS, CODES):  # a record of the earlier sealed-response format
            raise IdempotentResultGone()
        return Replay(row["kind"], row["ref"])

    def add_record(self, unit: UserRows, created: Replay, now: datetime, ttl_seconds: int) -> None:
        """Add the record to the unit that creates `created`: a create, or a conditional replace of a
        lapsed record, so two concurrent first requests cannot both succeed."""
        unit.put(new_row(unit.user_id, self.row_key, fingerprint=self.fingerprint, kind=created.kind,
                         ref=created.ref, purgeAfter=now + timedelta(seconds=ttl_seconds)), self.lapsed)
