"""Storage round trips per flow stay at their designed minimum (the SMS call itself is not storage)."""
import os

from shared.settings import load_settings
from tools.flows import counted_deps, measure

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


# A decision that publishes security events pays two round trips for N4 (its due markers written before
# the transaction, deleted after the enqueue) on top of the event's enqueue: 3 before N4, 5 now. Sign-ins
# publish nothing and keep their counts above.
EXPECTED_WITH_EVENTS = {
    "bypass.create": 5,  # read profile; due marker; profile + bypass + audit (one transaction); enqueue; forget
    "bypass.use": 5,     # read profile; due marker; profile + bypass + audit (one transaction); enqueue; forget
}


def test_round_trips_of_decisions_that_publish_events(base_env, clock):
    from shared.flows import admin, signin

    table = "rt" + os.urandom(5).hex()
    settings = load_settings({**base_env, "MFA_TABLE_NAME": table})
    deps, counter = counted_deps(settings, clock, queue=f"outbox-{table}")
    deps.store.ping()
    measure(deps, counter, "roundtrip-ev", "+14255550178")  # enrols the user
    counts = {}
    for name, step in (("bypass.create", lambda: admin.create_bypass(deps, "roundtrip-ev", {"seconds": 60,
                                                                                            "reason": "rt"}, "admin")),
                       ("bypass.use", lambda: signin.begin(deps, {"userId": "roundtrip-ev", "method": "sms"}))):
        before = len(counter.calls)
        step()
        counts[name] = len(counter.calls) - before
    assert counts == EXPECTED_WITH_EVENTS, counter.calls[-12:]
    deps.store.table.delete_table()
