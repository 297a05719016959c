"""Re-encryption edges that mutation testing found unstated (docs/testing.md): where a pass in progress
keeps its cursor (the next deployment resumes from it), the bounds and default of `maxRows`, and a TOTP list
that holds no devices counted unreadable and logged."""
from __future__ import annotations

import pytest

from shared.kernel.errors import InvalidRequest
from shared.kernel.ids import PROFILE_RK
from shared.ops import reseal
from shared.store import Tx
from tests.integration.test_key_rotation import ROTATED, world  # noqa: F401 - the fixture


def test_a_pass_in_progress_keeps_its_cursor_in_keys_reseal(world):  # noqa: F811
    d = world["deps"](ROTATED)
    assert not reseal.run(d, 1, "ops")["passComplete"]
    cursor = d.store.get("~keys", "reseal")
    assert cursor is not None and cursor["nextPartitionKey"]


def test_max_rows_is_1_to_1000_and_200_by_default(world):  # noqa: F811
    d = world["deps"](ROTATED)
    for bad in (0, 1001):
        with pytest.raises(InvalidRequest):
            reseal.run_request(d, {"maxRows": bad}, "ops")
    for i in range(0, 300, 100):  # rows the job reads (challenge rows), enough for two pages
        tx = Tx()
        for n in range(i, i + 100):
            tx.create({"PartitionKey": "zed", "RowKey": f"ch|filler{n:03d}"})
        d.store.transact(tx)
    assert reseal.run_request(d, {}, "ops")["rowsScanned"] == 200
    assert reseal.run_request(d, {"maxRows": 1000}, "ops")["passComplete"]


def test_a_totp_list_of_non_devices_is_counted_unreadable_and_logged(world, caplog):  # noqa: F811
    d = world["deps"](ROTATED)
    d.store.table.update_entity({"PartitionKey": "tina", "RowKey": PROFILE_RK, "totp": "[1, 2]"}, mode="merge")
    with caplog.at_level("ERROR", logger="twostep.crypto"):
        runs = [reseal.run(d, 1000, "ops")]
    assert runs[0]["rowsUnreadable"] == 1
    (failure,) = [r for r in caplog.records if getattr(r, "event", None) == "crypto_failure"]
    assert (failure.reason, failure.purpose, failure.rowKind) == ("malformed device list", "totp", "profile")

