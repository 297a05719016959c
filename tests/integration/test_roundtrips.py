"""Storage round trips per flow stay at their designed minimum (the SMS call itself is not storage)."""
import os

from shared.settings import load_settings
from tools.flows import counted_deps, measure

EXPECTED = {
    "sms.begin": 4,        # read profile; read + count the SMS limits (2); the SMS sent inline, then ONE transaction:
                           # the challenge already `sent` + its audit events (delivery/inline.py: no due marker,
                           # no write after the send, no enqueue)
    "sms.send": 0,         # the inline send itself: the provider's call only
    "sms.redelivered": 1,  # the queue sender, for a message whose SMS went out inline: read challenge, send nothing
    "sms.verify": 2,       # read challenge + profile (one query); update both + audit (one transaction)
    "totp.begin": 2,
    "totp.verify": 2,
}
# Sequential waits (concurrent calls count once): what a user waits for. The SMS sign-in (begin + send +
# verify) makes 6 calls in 6 waits; sending after the commit it made 8 in 7, before the inline send 10 in 10.
# With an Idempotency-Key the begin commits before it sends (8 in 7): test_round_trips_of_a_keyed_sms_begin.
EXPECTED_WAITS = EXPECTED


def test_round_trips_per_flow(base_env, clock):
    table = "rt" + os.urandom(5).hex()
    settings = load_settings({**base_env, "MFA_TABLE_NAME": table})
    deps, counter = counted_deps(settings, clock, queue=f"outbox-{table}")
    deps.store.ping()  # the table is created on first use; do not count that
    waits: dict[str, int] = {}
    counts = measure(deps, counter, "roundtrip", "+14255550177", waits)
    assert counts == EXPECTED, counter.calls[-12:]
    assert waits == EXPECTED_WAITS, counter.calls[-12:]
    assert sum(counts[s] for s in ("sms.begin", "sms.send", "sms.verify")) == 6
    deps.store.table.delete_table()


def test_round_trips_of_a_keyed_sms_begin(base_env, clock):
    """With an Idempotency-Key the begin commits first, so that twenty concurrent duplicates send one SMS
    (the one idempotency record decides which): read profile; read + count the limits, its due marker
    beside them (3 calls, 2 waits); the challenge + audit + the key's record; after the send, `sent` + audit."""
    from shared.flows import signin

    table = "rt" + os.urandom(5).hex()
    settings = load_settings({**base_env, "MFA_TABLE_NAME": table})
    deps, counter = counted_deps(settings, clock, queue=f"outbox-{table}")
    deps.store.ping()
    measure(deps, counter, "roundtrip-key", "+14255550176")  # enrols the user, warms the instance
    before = len(counter.calls)
    view = signin.begin(deps, {"userId": "roundtrip-key", "method": "sms"}, idempotency_key="k-1").view
    assert (len(counter.calls) - before, counter.waits(before)) == (6, 5), counter.calls[-8:]
    from shared.flows import challenge_rows
    assert challenge_rows.get(deps, view["challengeId"])["delivery"] == "sent"  # sent after its commit
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


def test_round_trips_of_passkey_registration_and_sign_in(base_env, clock):
    """A passkey sign-in costs what a TOTP one does. A registration's verify publishes events (N4: due
    markers, two events: method.added, passkey.added) and adds the credential-id index (W4: one read, one
    create-only write). Counted on a warm instance: a first user's run creates the index key and queues."""
    from shared.flows import verify
    from tests import webauthn_soft as soft
    from tests.integration.test_passkeys import begin, start_registration, unb64

    table = "rt" + os.urandom(5).hex()
    settings = load_settings({**base_env, "MFA_TABLE_NAME": table})
    deps, counter = counted_deps(settings, clock, queue=f"outbox-{table}")
    deps.store.ping()

    def run(user: str) -> dict[str, int]:
        counts: dict[str, int] = {}

        def step(name, fn):
            before = len(counter.calls)
            result = fn()
            counts[name] = len(counter.calls) - before
            return result

        reg = step("passkey.register.begin", lambda: start_registration(deps, user=user))
        cred = soft.SoftCredential(user_handle=unb64(reg["publicKey"]["user"]["id"]))
        step("passkey.register.verify", lambda: verify.verify(deps, reg["challengeId"], {
            "credential": soft.register(cred, unb64(reg["publicKey"]["challenge"]))}))
        ch = step("passkey.begin", lambda: begin(deps, user=user))
        assert step("passkey.verify", lambda: verify.verify(deps, ch["challengeId"], {"credential": soft.authenticate(
            cred, unb64(ch["publicKey"]["challenge"]))}))["status"] == "approved"
        return counts

    run("roundtrip-pk0")
    assert run("roundtrip-pk1") == EXPECTED_PASSKEY, counter.calls[-20:]
    deps.store.table.delete_table()


EXPECTED_PASSKEY = {
    "passkey.register.begin": 2,   # read profile (+ idempotency record); insert challenge + audit
    "passkey.register.verify": 8,  # read challenge + profile; index read; index create; due markers;
                                   # profile + challenge + audits (one transaction); enqueue 2 events; forget
    "passkey.begin": 2,            # read profile; insert challenge + audit
    "passkey.verify": 2,           # read challenge + profile; update both (the counter) + audit
}


def test_round_trips_of_recovery_and_enrolment(base_env, clock):
    """A recovery-code or access-pass sign-in spends a factor, which publishes an event (N4: due marker
    before, enqueue and marker delete after); an SMS enrolment sends inline as a sign-in does; the verify
    of an enrolment publishes `method.added`."""
    from shared.flows import access_pass, enrolment, recovery_codes, signin, verify
    from tools.flows import _code

    table = "rt" + os.urandom(5).hex()
    settings = load_settings({**base_env, "MFA_TABLE_NAME": table})
    deps, counter = counted_deps(settings, clock, queue=f"outbox-{table}")
    deps.store.ping()
    measure(deps, counter, "roundtrip-rc0", "+14255550179")  # a warm instance: index key, queues exist
    counts: dict[str, int] = {}
    waits: dict[str, int] = {}

    def step(name, fn):
        before = len(counter.calls)
        result = fn()
        counts[name], waits[name] = len(counter.calls) - before, counter.waits(before)
        return result

    user = "roundtrip-rc"
    view = step("sms.enrol.begin", lambda: enrolment.enrol_phone(deps, user, {"phoneNumber": "+14255550180"}).view)
    step("sms.enrol.verify", lambda: verify.verify(deps, view["challengeId"], {"code": _code(deps, view["challengeId"])}))
    ch = signin.begin(deps, {"userId": user, "method": "sms"}).view
    verify.verify(deps, ch["challengeId"], {"code": _code(deps, ch["challengeId"])})
    codes = recovery_codes.generate(deps, user, {"proofChallengeId": ch["challengeId"]}).view["codes"]
    rc = step("recovery.begin", lambda: signin.begin(deps, {"userId": user, "method": "recovery_code"}).view)
    step("recovery.verify", lambda: verify.verify(deps, rc["challengeId"], {"code": codes[0]}))
    issued = access_pass.issue(deps, user, {"lifetimeMinutes": 60, "reason": "rt"}, "admin")
    ap = step("access_pass.begin", lambda: signin.begin(deps, {"userId": user, "method": "access_pass"}).view)
    step("access_pass.verify", lambda: verify.verify(deps, ap["challengeId"], {"code": issued["accessPass"]}))
    assert counts == EXPECTED_RECOVERY_AND_ENROLMENT, counter.calls[-14:]
    assert waits == {**EXPECTED_RECOVERY_AND_ENROLMENT, "sms.enrol.begin": EXPECTED_RECOVERY_AND_ENROLMENT[
        "sms.enrol.begin"] - 1}  # its marker beside the limits
    deps.store.table.delete_table()


EXPECTED_RECOVERY_AND_ENROLMENT = {
    "sms.enrol.begin": 6,     # read profile; read + count the SMS limits (2); due marker (beside them); insert
                              # challenge + audit; inline send: record delivery + audit
    "sms.enrol.verify": 6,    # read the challenge; read it + the profile; due marker; profile + challenge + audit
                              # (one transaction); enqueue `method.added`; delete the marker
    "recovery.begin": 2,      # read profile; insert challenge + audit
    "recovery.verify": 5,     # read challenge + profile; due marker; update + audit (one transaction); enqueue
                              # `recoverycodes.used`; delete the marker
    "access_pass.begin": 2,   # read profile; insert challenge + audit
    "access_pass.verify": 5,  # as a recovery code (`accesspass.used`)
}
