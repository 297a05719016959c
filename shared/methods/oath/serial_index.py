"""The serial index of imported hardware OATH tokens: one row per serial in the partition `~oath`, so that
no serial is assigned to two users (the import saga that uses it is in oath.py).

No personal data in plain text (D6): the RowKey is `sn|` + the serial's keyed index (`ports.Keys.index`, under the
dedicated index key, so no key rotation moves it), and the owner's user id, which the import must read
back to look at that user's profile, is sealed (AES-GCM, bound to the row key, re-sealed by the
re-encryption job like every sealed value). The row also holds the import id, when it was reserved and
its state (`reserved` / `assigned`), and the token's manufacturer and model.

Rows of the earlier format (RowKey `serial|<SERIAL>` with `upn` and `serial` in plain text) are migrated,
not read: `migrate` replaces each with its keyed row in one transaction (create the keyed row, delete the
old one only if unchanged), so a serial is never in both forms or in neither. Every import migrates
before it reads the index (and answers 503 until no old row remains, so its checks see every serial),
and the hourly maintenance timer migrates too, so old rows lose their plain text without an import.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from ...ports import KeyedStore, Keys
from ...store import Entity, StaleWrite, Tx, new_row

INDEX_PK = "~oath"
PREFIX = "sn|"
LEGACY_PREFIX = "serial|"
OWNER = "owner"
KEYS_PER_QUERY = 14  # Table Storage allows 15 comparisons per filter; one is the PartitionKey
PAIRS_PER_TX = 50  # a migration writes two rows per serial; a transaction holds 100
PAGE = 1000


@dataclass(frozen=True)
class Entry:
    owner: str  # the user id the serial was reserved for or assigned to (opened)
    row: Entity  # the row as read: state, reservedAt, importId, and its ETag for a take-over


def owner_aad(row_key: str) -> str:
    return f"twostep/oath-owner/{row_key}"


def row_key(d: Keys, serial_key: str) -> str:
    return PREFIX + d.index("oath-serial", serial_key)


def entity(d: Keys, serial_key: str, owner: str, **fields: object) -> Entity:
    """A new index row for a serial (already folded to its key), its owner sealed."""
    rk = row_key(d, serial_key)
    return new_row(INDEX_PK, rk, **{OWNER: d.sealer.seal(owner.encode(), owner_aad(rk))}, **fields)


def read(d: KeyedStore, keys: list[str], parallel: Callable[..., list]) -> dict[str, Entry]:
    """The index entries of these serial keys (several per round trip), by serial key."""
    by_rk = {row_key(d, key): key for key in keys}
    rks = list(by_rk)
    found: dict[str, Entry] = {}
    for rows in parallel(lambda chunk: d.store.get_many(INDEX_PK, chunk),
                         [rks[i:i + KEYS_PER_QUERY] for i in range(0, len(rks), KEYS_PER_QUERY)]):
        for rk, row in rows.items():
            owner = d.sealer.open(row.get(OWNER), owner_aad(rk), kind="oath index").decode()
            found[by_rk[rk]] = Entry(owner=owner, row=row)
    return found


def _keyed(d: Keys, legacy: Entity) -> Entity:
    serial_key = legacy["RowKey"][len(LEGACY_PREFIX):]
    fields = {k: legacy[k] for k in ("importId", "reservedAt", "state", "manufacturer", "model") if k in legacy}
    return entity(d, serial_key, legacy["upn"], **fields)


def _migrate_one(d: KeyedStore, legacy: Entity) -> None:
    """One old row, after its batch met a concurrent writer: gone means another instance moved it; a keyed
    row already there was written by an import that had checked the profiles, so it stands."""
    for _ in range(3):
        try:
            d.store.transact(Tx().create(_keyed(d, legacy)).delete_unchanged(legacy))
            return
        except StaleWrite:
            fresh = d.store.get(INDEX_PK, legacy["RowKey"])
            if fresh is None:
                return
            if d.store.get(INDEX_PK, row_key(d, fresh["RowKey"][len(LEGACY_PREFIX):])) is not None:
                d.store.delete_unchanged([fresh])
                return
            legacy = fresh


def migrate(d: KeyedStore, budget_seconds: float, monotonic: Callable[[], float] = time.monotonic) -> bool:
    """Replace rows of the earlier plain-text format with keyed ones until none is left (True) or the
    budget is spent (False)."""
    deadline = monotonic() + budget_seconds
    while True:
        legacy = d.store.query_prefix(INDEX_PK, LEGACY_PREFIX, limit=PAGE)
        if not legacy:
            return True
        for i in range(0, len(legacy), PAIRS_PER_TX):
            if monotonic() >= deadline:
                return False
            batch = legacy[i:i + PAIRS_PER_TX]
            tx = Tx()
            for row in batch:
                tx.create(_keyed(d, row)).delete_unchanged(row)
            try:
                d.store.transact(tx)
            except StaleWrite:
                for row in batch:
                    _migrate_one(d, row)
