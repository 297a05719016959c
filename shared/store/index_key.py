"""The dedicated index key: one random 256-bit key that keys every lookup index and counter derived from
personal data (the per-phone SMS counter, the Idempotency-Key fingerprint).

Neither key ring rotation may change it, or rotating would reset every per-phone limit and orphan every
index row. So it is not a setting: it is generated once, stored sealed (AES-GCM under the encryption
ring, like any secret at rest) in the row `~keys`/`index`, and re-sealed by the re-encryption job like
every other sealed value. Reading it costs one point read per process. Creating it is create-if-absent:
two instances racing both end up with the winner's key.
"""
from __future__ import annotations

import os

from ..crypto.keys import Sealer
from ..kernel.errors import StorageUnavailable
from . import StaleWrite, Store, Tx, new_row

PARTITION = "~keys"  # no user id can name it (user ids never hold "~")
ROW = "index"
AAD = "twostep/index-key/~keys"
FIELD = "sealed"


def load_or_create(store: Store, sealer: Sealer) -> bytes:
    row = store.get(PARTITION, ROW)
    if row is None:
        entity = new_row(PARTITION, ROW, **{FIELD: sealer.seal(os.urandom(32), AAD)})
        try:
            store.transact(Tx().create(entity))
        except StaleWrite:  # another instance created it first: use theirs
            pass
        row = store.get(PARTITION, ROW)
        if row is None:  # created, then deleted before this read: fail closed, the next call retries
            raise StorageUnavailable()
    return sealer.open(row.get(FIELD), AAD, kind="index key")
