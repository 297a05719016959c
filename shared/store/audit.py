"""Audit events: one row per decision, written in the same transaction as the decision itself (same
partition), so a decision is never recorded without its event or the reverse. Events never hold a
code, a secret or a full phone number.

Refusals (D7: blocked, risk-blocked, locked, rate-limited, step-up refused) change no state, so they
have no transaction to join, and a flood of them must not grow a partition without bound: they are
coalesced into one `request_refused` row per user, action and problem code per minute, whose count an
ETag-conditional write raises.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from ..kernel.clock import iso
from ..kernel.errors import TwostepError
from ..kernel.ids import AUDIT_PREFIX, PROFILE_RK
from . import Entity, StaleWrite, Store, Tx, inverted, new_row

log = logging.getLogger("twostep.audit")
REFUSAL_WRITE_TRIES = 3


def audit_view(row: Entity) -> dict[str, Any]:
    return {"at": iso(row["at"]), "event": row["event"], "actor": row["actor"],
            **json.loads(row.get("detail") or "{}")}


def record_refusal(store: Store, user_id: str, now: datetime, action: str, code: str, retention_days: int) -> None:
    """Count one refused request of an existing user in this minute's row for (action, code).

    One read (the profile and the row together) and one conditional write. Best effort: the refusal
    stands whatever happens here, so a Storage failure or a lost race after a few tries is logged, not
    raised. A user id with no profile gets no row (anyone could name unlimited such ids).
    """
    minute = now.replace(second=0, microsecond=0)
    row_key = f"{AUDIT_PREFIX}{inverted(minute)}|refused|{action}|{code}"
    for _ in range(REFUSAL_WRITE_TRIES):
        try:
            rows = store.get_many(user_id, [PROFILE_RK, row_key])
            if PROFILE_RK not in rows:
                return
            row = rows.get(row_key)
            if row is None:
                detail = {"action": action, "code": code, "count": 1, "lastAt": iso(now)}
                store.transact(Tx().create(new_row(
                    user_id, row_key, at=now, event="request_refused", actor="system",
                    detail=json.dumps(detail, sort_keys=True), purgeAfter=now + timedelta(days=retention_days))))
            else:
                detail = json.loads(row["detail"])
                detail.update(count=detail["count"] + 1, lastAt=iso(now))
                row["detail"] = json.dumps(detail, sort_keys=True)
                store.transact(Tx().replace(row))
            return
        except StaleWrite:
            continue
        except TwostepError as exc:
            log.warning("refusal not audited (%s): %s", code, exc.code)
            return
    log.warning("refusal not audited (%s): lost %d races", code, REFUSAL_WRITE_TRIES)
