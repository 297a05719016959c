"""A unit of work over one user's partition: read the profile and the named rows in one query, let the
flow change typed models, then commit every change with its audit events in ONE ETag-conditional
entity-group transaction (and the after-commit hooks, as `Store.transact` runs them).

    def attempt(unit: UserRows) -> Result:       # a flow's decision, re-run on a lost race
        ch = unit.challenge(row_key)              # models as read (each carries its row's ETag)
        ch.status = "approved"
        unit.save(ch)                             # If-Match replace (create, for a model never read)
        unit.save(unit.profile)
        unit.audit(now, "verify_approved", "application", challengeId=cid)
        unit.commit()
        return ...
    d.in_unit(user_id, attempt, row_key)          # a fresh unit per attempt, inside retry_on_conflict

A write that loses a race raises `StaleWrite` from `commit`; `in_unit` then loads a new unit and the flow
decides again on what is there now. Nothing is written before `commit`.

Every write of a profile goes through `Profile.record_changes` against the profile as read, so no flow can
forget it: a change of factors raises `methods_version` by one and a factor held makes the account
`claimed` for good (E1, R7), under the same If-Match as the decision.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, TypeVar

from ..kernel.ids import AUDIT_PREFIX, BYPASS_PREFIX, CHALLENGE_PREFIX, PROFILE_RK
from ..model.records import Bypass, Challenge, Profile
from .mapping import Model, bypass_from, challenge_from, profile_from, to_entity
from .rows import audit_row
from .table import Entity, StaleWrite, Store, Tx, retry_on_conflict

T = TypeVar("T")
TX_MAX_OPS = 100  # an entity-group transaction's limit (Store.tx_room: less while a rebalance runs)


class UserRows:
    """One user's rows as read, and the changes a flow registered; `commit` writes them at once."""

    def __init__(self, store: Store, user_id: str, rows: dict[str, Entity], audit_retention_days: int) -> None:
        self.store, self.user_id = store, user_id
        self._rows = rows
        self._retention = audit_retention_days
        self._tx = Tx()
        self._overflow: list[Model] = []
        self.profile: Profile | None = profile_from(rows[PROFILE_RK]) if PROFILE_RK in rows else None

    @classmethod
    def load(cls, store: Store, user_id: str, row_keys: Iterable[str | None], audit_retention_days: int,
             with_profile: bool = True) -> UserRows:
        """The profile (unless `with_profile` is off) and the named rows: one point read when only one
        row is wanted, else one query."""
        keys = list(dict.fromkeys(([PROFILE_RK] if with_profile else []) + [k for k in row_keys if k]))
        if len(keys) == 1:
            row = store.get(user_id, keys[0])
            rows = {keys[0]: row} if row is not None else {}
        else:
            rows = store.get_many(user_id, keys) if keys else {}
        return cls(store, user_id, rows, audit_retention_days)

    # -- reading --------------------------------------------------------------------------------------
    def row(self, row_key: str) -> Entity | None:
        """A row as read, for rows with no model (an idempotency record)."""
        return self._rows.get(row_key)

    def read(self, row_key: str) -> Entity | None:
        """One more row of this partition, read now (a round trip of its own)."""
        if row_key not in self._rows:
            row = self.store.get(self.user_id, row_key)
            if row is None:
                return None
            self._rows[row_key] = row
        return self._rows[row_key]

    def challenge(self, row_key: str) -> Challenge | None:
        row = self._rows.get(row_key)
        return challenge_from(row) if row is not None else None

    def bypass(self, row_key: str) -> Bypass | None:
        row = self._rows.get(row_key)
        return bypass_from(row) if row is not None else None

    def bypasses(self) -> list[Bypass]:
        """Every bypass row of the user (one query)."""
        return [bypass_from(r) for r in self.store.query_prefix(self.user_id, BYPASS_PREFIX, limit=1000)]

    def pending_challenges(self, method: str, now: datetime) -> list[Challenge]:
        """The user's pending, unexpired challenges of one method (one query)."""
        flt = ("PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and status eq @status"
               " and method eq @method")
        params = {"pk": self.user_id, "lo": CHALLENGE_PREFIX,
                  "hi": CHALLENGE_PREFIX[:-1] + chr(ord(CHALLENGE_PREFIX[-1]) + 1), "status": "pending",
                  "method": method}
        return [challenge_from(r) for r in self.store.query(flt, params) if r["expiresAt"] > now]

    def audited_any(self, events: Iterable[str]) -> bool:
        """Whether the user's audit trail (as far as its retention keeps it) holds any of `events` (one query)."""
        names = list(events)
        ors = " or ".join(f"event eq @e{i}" for i in range(len(names)))
        flt = f"PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi and ( {ors} )"
        params = {"pk": self.user_id, "lo": AUDIT_PREFIX, "hi": AUDIT_PREFIX[:-1] + chr(ord(AUDIT_PREFIX[-1]) + 1),
                  **{f"e{i}": name for i, name in enumerate(names)}}
        return next(self.store.query(flt, params, select=["RowKey"]), None) is not None

    # -- registering changes ----------------------------------------------------------------------------
    @property
    def size(self) -> int:
        """How many rows the transaction writes so far (at most `TX_MAX_OPS`)."""
        return self._tx.size

    def add(self, model: Model) -> None:
        """A new row (the transaction fails if it exists by then)."""
        _record_changes(model)
        self._tx.create(to_entity(model))

    def save(self, model: Model) -> None:
        """Write a model back only if its row is unchanged since it was read (If-Match); a model never
        read is created."""
        if model.row is None:
            self.add(model)
        else:
            _record_changes(model)
            self._tx.replace(to_entity(model))

    def delete(self, model: Model) -> None:
        """Delete a model's row only if unchanged since it was read."""
        self._tx.delete_unchanged(model.row)

    def put(self, entity: Entity, read: Entity | None) -> None:
        """A row with no model: created when `read` was absent, else replaced If-Match on `read`."""
        self._tx.write_over(entity, read)

    def patch(self, row_key: str, **fields: Any) -> None:
        """Merge fields that decide nothing into a row that must exist (a bypass's `used` status: the
        profile's ETag already makes the decision safe)."""
        self._tx.merge_existing({"PartitionKey": self.user_id, "RowKey": row_key, **fields})

    def audit(self, now: datetime, event: str, actor: str, **detail: Any) -> None:
        """An audit event committed with the decision; the retention is the one the unit was given."""
        self._tx.create(audit_row(self.user_id, now, event, actor, self._retention, **detail))

    def save_later(self, models: Iterable[Model]) -> None:
        """Models to save with the decision as far as the transaction has room (E1: challenges voided
        by it); the rest follow in further batches after the commit, each skipped if it lost a race
        (a verify refuses a superseded challenge by itself)."""
        self._overflow.extend(models)

    # -- committing -------------------------------------------------------------------------------------
    def commit(self) -> None:
        """Write every registered change in one transaction (StaleWrite when a row changed since read)."""
        limit = self.store.tx_room
        room = max(limit - self._tx.size, 0)
        fits, rest = self._overflow[:room], self._overflow[room:]
        for model in fits:
            self.save(model)
        self.store.transact(self._tx)
        self._tx, self._overflow = Tx(), []
        for i in range(0, len(rest), limit):
            batch = Tx()
            for model in rest[i:i + limit]:
                batch.replace(to_entity(model))
            try:
                self.store.transact(batch)
            except StaleWrite:
                continue


def _record_changes(model: Model) -> None:
    """A profile's version and claimed flag, against the profile as it was read (see the module docstring)."""
    if isinstance(model, Profile):
        model.record_changes(profile_from(model.row) if model.row is not None else None)


def in_unit(store: Store, audit_retention_days: int, user_id: str, fn: Callable[[UserRows], T],
            *row_keys: str | None, with_profile: bool = True) -> T:
    """Run `fn` on a freshly loaded unit; a lost race loads a new one and runs `fn` again."""
    return retry_on_conflict(lambda: fn(UserRows.load(store, user_id, row_keys, audit_retention_days,
                                                      with_profile)))
