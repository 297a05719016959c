"""Storage round trips per flow stay at their designed minimum (the SMS call itself is not storage)."""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))

from flows import counted_deps, measure  # noqa: E402

from shared.config import load_settings  # noqa: E402

EXPECTED = {
    "sms.begin": 6,    # read profile; read + count the SMS limits (2); due marker (Q5); insert challenge + audit
                       # (1); enqueue
    "sms.send": 2,     # read challenge; record delivery + audit (one transaction)
    "sms.verify": 2,   # read challenge + profile (one query); update both + audit (one transaction)
    "totp.begin": 2,
    "totp.verify": 2,
}


def test_round_trips_per_flow(base_env, clock):
    table = "rt" + os.urandom(5).hex()
    settings = load_settings({**base_env, "MFA_TABLE_NAME": table})
    deps, counter = counted_deps(settings, clock, queue=f"outbox-{table}")
    deps.store.ping()  # the table is created on first use; do not count that
    counts = measure(deps, counter, "roundtrip", "+14255550177")
    assert counts == EXPECTED, counter.calls[-12:]
    deps.store.table.delete_table()
