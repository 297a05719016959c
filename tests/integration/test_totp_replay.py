"""TOTP replay per user (C11), against Azurite with an injected clock: one code value at one time step
signs a user in at most once whichever device shares it, and an import of a token whose secret the
user already holds is refused."""
from __future__ import annotations

import base64

import pytest

from shared.crypto.otp import totp
from shared.flows import signin
from shared.flows import verify as verify_flow
from shared.kernel.errors import IncorrectCode
from shared.kernel.ids import PROFILE_RK
from shared.model.records import TotpDevice
from shared.store import profile_from, to_entity
from tests.integration.test_flows import enrol_app
from tests.integration.test_oath import bad_import, do_import, row


def share_secret(deps, user: str, period: int = 30) -> None:
    """Give the user a second device holding the first device's secret (as two enrolments of one QR
    code, or a hardware token and an app seeded alike, would)."""
    profile = profile_from(deps.store.get(user, PROFILE_RK))
    first = profile.totp[0]
    profile.totp.append(TotpDevice(id="twin", secret=first.secret, period=period))
    deps.store.table.update_entity(to_entity(profile))


def verify(deps, user, code):
    ch = signin.begin(deps, {"userId": user, "method": "totp"}).view
    return verify_flow.verify(deps, ch["challengeId"], {"code": code})


def test_a_code_shared_by_two_devices_signs_in_once(deps, clock):
    secret, _ = enrol_app(deps, clock)
    share_secret(deps, "alice")
    code = totp(secret, clock.now())
    assert verify(deps, "alice", code)["status"] == "approved"
    with pytest.raises(IncorrectCode):
        verify(deps, "alice", code)  # the twin device would match the same step
    clock.advance(30)
    assert verify(deps, "alice", totp(secret, clock.now()))["status"] == "approved"


def test_a_step_older_than_the_users_last_is_refused_on_any_device(deps, clock):
    secret, _ = enrol_app(deps, clock)
    share_secret(deps, "alice")
    earlier = totp(secret, clock.now())
    clock.advance(30)
    assert verify(deps, "alice", totp(secret, clock.now()))["status"] == "approved"
    with pytest.raises(IncorrectCode):
        verify(deps, "alice", earlier)  # one step back is in the window, but older than the last sign-in


def test_the_enrolment_code_cannot_sign_in(deps, clock):
    from shared.flows import enrolment
    from tests.helpers import secret_bytes

    app = enrolment.enrol_totp(deps, "carol", {}).view
    code = totp(secret_bytes(app["secret"]), clock.now())
    verify_flow.verify(deps, app["challengeId"], {"code": code})
    share_secret(deps, "carol")
    with pytest.raises(IncorrectCode):
        verify(deps, "carol", code)


def test_import_of_a_secret_the_user_holds_is_refused(deps, clock):
    secret, _ = enrol_app(deps, clock)
    b32 = base64.b32encode(secret).decode().rstrip("=")
    errors = bad_import(deps, row("alice", "HW-1", b32, 30))
    assert errors == [{"row": 1, "field": "secret key", "detail": "the user already holds a token with this secret"}]
    assert b32 not in str(errors)


def test_import_of_one_secret_twice_for_a_user_is_refused(deps):
    shared = base64.b32encode(b"s" * 20).decode().rstrip("=")
    errors = bad_import(deps, row("bob", "HW-2", shared), row("bob", "HW-3", shared))
    assert [(e["row"], e["field"]) for e in errors] == [(2, "secret key")]
    do_import(deps, row("bob", "HW-4", shared), row("carl", "HW-5", shared))  # per user: two users may
