"""The dedicated index key's stored form (docs/testing.md, mutation survivors): a key written by an earlier
deployment must be found and opened by the next, so its location, field, AAD and size are stated here
with literal values, not the module's constants; and a stored key that does not open fails closed with a
log line that names it."""
from __future__ import annotations

import os

import pytest

from shared.kernel.errors import KeyNotListed
from shared.store import Tx, new_row
from tests.integration.test_key_rotation import OLD, ROTATED


def test_a_key_stored_by_an_earlier_deployment_is_the_key_in_use(make_deps):
    earlier = make_deps()
    known = os.urandom(32)
    earlier.store.table.create_table()
    earlier.store.transact(Tx().create(new_row("~keys", "index", sealed=earlier.sealer.seal(
        known, "twostep/index-key/~keys"))))
    cold = make_deps(MFA_TABLE_NAME=earlier.settings.table_name)
    assert cold.index_key == known


def test_a_new_key_is_256_random_bits_stored_sealed_where_the_next_deployment_looks(make_deps):
    d = make_deps()
    key = d.index_key
    assert len(key) == 32
    stored = d.store.get("~keys", "index")["sealed"]
    assert key.hex() not in stored and d.sealer.open(stored, "twostep/index-key/~keys") == key


def test_a_stored_key_that_does_not_open_fails_closed_and_names_the_index_key(make_deps, caplog):
    rotated = make_deps(**ROTATED)  # seals under e2 ...
    assert rotated.index_key
    old = make_deps(MFA_TABLE_NAME=rotated.settings.table_name, **OLD)  # ... which this instance lacks
    with caplog.at_level("ERROR", logger="twostep.crypto"), pytest.raises(KeyNotListed):
        _ = old.index_key
    failure = next(r for r in caplog.records if getattr(r, "event", None) == "crypto_failure")
    assert (failure.keyId, failure.rowKind) == ("e2", "index key")
