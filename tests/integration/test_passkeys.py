"""The passkey method through the real flows against Azurite (W1-W5, W7), with the software authenticator
of tests/webauthn_soft.py: registration, sign-in, the counter, another user's credential, profiles."""
from __future__ import annotations

import base64

import pytest

from shared.flows import admin, enrolment, passkeys, signin, verify
from shared.kernel.errors import (
    Canceled,
    Conflict,
    IncorrectCode,
    InvalidRequest,
    NotEnrolled,
    NotFound,
    PasskeyNotAllowed,
    StepUpRequired,
)
from shared.kernel.ids import PROFILE_RK
from tests import webauthn_soft as soft


def unb64(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))


def start_registration(d, user="pat", name="laptop", proof=None):
    body = {"name": name, **({"proofChallengeId": proof} if proof else {})}
    return enrolment.enrol(d, "passkey", user, body).view


def register(d, user="pat", name="laptop", proof=None, cred=None, **wrong):
    view = start_registration(d, user, name, proof)
    options = view["publicKey"]
    cred = cred or soft.SoftCredential(user_handle=unb64(options["user"]["id"]))
    result = verify.verify(d, view["challengeId"],
                           {"credential": soft.register(cred, unb64(options["challenge"]), **wrong)})
    return cred, result


def begin(d, user="pat"):
    return signin.begin(d, {"userId": user, "method": "passkey"}).view


def sign_in(d, cred, user="pat", **wrong):
    view = begin(d, user)
    return verify.verify(d, view["challengeId"],
                         {"credential": soft.authenticate(cred, unb64(view["publicKey"]["challenge"]), **wrong)})


def proof(d, cred, user="pat"):
    view = begin(d, user)
    verify.verify(d, view["challengeId"],
                  {"credential": soft.authenticate(cred, unb64(view["publicKey"]["challenge"]))})
    return view["challengeId"]


def audit(d, user="pat"):
    return [e["event"] for e in admin.audit_events(d, user)["events"]]


def test_register_sign_in_list_rename_remove(deps):
    view = start_registration(deps)
    options = view["publicKey"]
    assert options["rp"] == {"id": "localhost", "name": "twostep-test"}
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    handle = unb64(options["user"]["id"])
    assert len(handle) == 32 and b"pat" not in handle and options["excludeCredentials"] == []
    cred = soft.SoftCredential(user_handle=handle)
    result = verify.verify(deps, view["challengeId"],
                           {"credential": soft.register(cred, unb64(options["challenge"]))})
    assert result["status"] == "approved" and result["method"] == "passkey"

    user = enrolment.get_user(deps, "pat")
    assert user["defaultMethod"] == "passkey"
    [entry] = user["methods"]
    assert entry["type"] == "passkey" and entry["name"] == "laptop" and entry["backedUp"] is False
    assert sign_in(deps, cred)["status"] == "approved"

    listed = passkeys.list_passkeys(deps, "pat")["passkeys"]
    assert [p["name"] for p in listed] == ["laptop"] and listed[0]["lastUsedAt"] is not None
    pid = listed[0]["passkeyId"]
    passkeys.rename(deps, "pat", pid, {"name": "work laptop"})
    assert passkeys.list_passkeys(deps, "pat")["passkeys"][0]["name"] == "work laptop"

    # a second registration excludes the first credential, and needs a step-up
    with pytest.raises(StepUpRequired):
        start_registration(deps, name="phone")
    again = start_registration(deps, name="phone", proof=proof(deps, cred))
    assert [c["id"] for c in again["publicKey"]["excludeCredentials"]] == [soft.b64url(cred.credential_id)]

    pending = begin(deps)
    with pytest.raises(StepUpRequired):
        passkeys.remove(deps, "pat", pid, {})
    step = proof(deps, cred)
    passkeys.remove(deps, "pat", pid, {"proofChallengeId": step})
    assert passkeys.list_passkeys(deps, "pat")["passkeys"] == []
    with pytest.raises(Canceled):  # the pending sign-in died with the credential (410)
        verify.verify(deps, pending["challengeId"], {"credential": soft.authenticate(
            cred, unb64(pending["publicKey"]["challenge"]))})
    with pytest.raises(NotEnrolled):
        begin(deps)
    assert {"passkey_added", "passkey_renamed", "passkey_removed"} <= set(audit(deps))


@pytest.mark.parametrize("wrong", [{"origin": "https://evil.example"}, {"rp_id": "evil.example"}, {"uv": False},
                                   {"up": False}, {"bad_signature": True}, {"kind": "webauthn.create"},
                                   {"user_handle": b"\x01" * 32}])
def test_a_wrong_assertion_is_a_counted_failure(deps, wrong):  # W2, W4
    cred, _ = register(deps)
    with pytest.raises(IncorrectCode) as refused:
        sign_in(deps, cred, **wrong)
    assert refused.value.extra["attemptsRemaining"] == 4
    assert deps.store.get("pat", PROFILE_RK)["failures"] == 1
    assert sign_in(deps, cred)["status"] == "approved"  # the credential itself still works


@pytest.mark.parametrize("wrong", [{"origin": "http://localhost:7072"}, {"rp_id": "example.com"}, {"uv": False},
                                   {"kind": "webauthn.get"}])
def test_a_wrong_registration_is_refused_and_binds_nothing(deps, wrong):  # W1, W5
    with pytest.raises(IncorrectCode):
        register(deps, **wrong)
    assert enrolment.get_user(deps, "pat")["methods"] == []


def test_a_challenge_is_single_use(deps):  # W3
    cred, _ = register(deps)
    view = begin(deps)
    challenge = unb64(view["publicKey"]["challenge"])
    verify.verify(deps, view["challengeId"], {"credential": soft.authenticate(cred, challenge)})
    from shared.kernel.errors import AlreadyUsed
    with pytest.raises(AlreadyUsed):
        verify.verify(deps, view["challengeId"], {"credential": soft.authenticate(cred, challenge)})
    fresh = begin(deps)  # the old challenge's signature answers no other challenge
    with pytest.raises(IncorrectCode):
        verify.verify(deps, fresh["challengeId"], {"credential": soft.authenticate(cred, challenge)})


def test_a_counter_that_did_not_grow_is_refused_audited_and_announced(deps):  # W2 (clone)
    cred, _ = register(deps)
    sign_in(deps, cred, sign_count=5)
    with pytest.raises(IncorrectCode):
        sign_in(deps, cred, sign_count=5)
    with pytest.raises(IncorrectCode):
        sign_in(deps, cred, sign_count=3)
    assert audit(deps).count("passkey_clone_suspected") == 2
    assert passkeys.list_passkeys(deps, "pat")["passkeys"][0]["passkeyId"]
    assert sign_in(deps, cred, sign_count=6)["status"] == "approved"


def test_zero_after_zero_is_allowed(deps):  # synced passkeys send no counter
    cred, _ = register(deps)
    assert sign_in(deps, cred, sign_count=0)["status"] == "approved"
    assert sign_in(deps, cred, sign_count=0)["status"] == "approved"


def test_another_users_credential_is_refused(deps):  # W4
    mine, _ = register(deps, user="pat")
    theirs, _ = register(deps, user="quinn")
    with pytest.raises(IncorrectCode):  # quinn's key, even with pat's handle claimed
        sign_in(deps, soft.SoftCredential(user_handle=mine.user_handle, credential_id=theirs.credential_id,
                                          key=theirs.key, sign_count=5), user="pat")
    with pytest.raises(IncorrectCode):
        sign_in(deps, theirs, user="pat")


def test_a_credential_id_is_unique_across_users(deps):  # W4
    mine, _ = register(deps, user="pat")
    view = start_registration(deps, user="quinn")
    copy = soft.SoftCredential(user_handle=unb64(view["publicKey"]["user"]["id"]), credential_id=mine.credential_id)
    with pytest.raises(Conflict):
        verify.verify(deps, view["challengeId"],
                      {"credential": soft.register(copy, unb64(view["publicKey"]["challenge"]))})
    assert deps.store.get("quinn", PROFILE_RK) is None  # nothing bound


def test_a_malformed_credential_or_the_wrong_member_is_400_and_uses_no_attempt(deps):
    cred, _ = register(deps)
    view = begin(deps)
    for body in ({"credential": {"id": "***"}}, {"code": "123456"}, {"credential": "x"},
                 {"code": "123456", "credential": {}}):
        with pytest.raises(InvalidRequest):
            verify.verify(deps, view["challengeId"], body)
    assert verify.verify(deps, view["challengeId"], {"credential": soft.authenticate(
        cred, unb64(view["publicKey"]["challenge"]))})["status"] == "approved"


def test_passkey_profiles_refuse_what_they_do_not_allow(deps):  # W7
    admin.patch_policy(deps, {"passkeyProfiles": {
        "default": {"passkeyTypes": ["deviceBound"]},
        "groups": {"contractors": {"passkeyTypes": ["deviceBound", "synced"],
                                   "aaguidBlock": [soft.CHROMIUM_AAGUID]}}}}, "ops")
    with pytest.raises(PasskeyNotAllowed):
        register(deps, be=True)  # synced under deviceBound-only
    cred, result = register(deps)  # device-bound: allowed
    assert result["status"] == "approved"
    admin.set_groups(deps, "quinn", {"groups": ["contractors"]}, "ops")
    with pytest.raises(PasskeyNotAllowed):
        register(deps, user="quinn", be=True)  # the group's block list
    other = "00000000-0000-0000-0000-000000000001"
    assert register(deps, user="quinn", be=True, aaguid=other)[1]["status"] == "approved"
    assert "passkey_not_allowed" in str(admin.audit_events(deps, "quinn"))


def test_at_most_ten_passkeys(deps):
    cred, _ = register(deps)
    for n in range(9):
        register(deps, name=f"key {n}", proof=proof(deps, cred))
    with pytest.raises(Conflict):
        start_registration(deps, name="eleventh", proof=proof(deps, cred))


def test_admin_removes_one_with_a_reason(deps):
    cred, _ = register(deps)
    pid = passkeys.list_passkeys(deps, "pat")["passkeys"][0]["passkeyId"]
    with pytest.raises(InvalidRequest):
        passkeys.admin_remove(deps, "pat", pid, {}, "ops")
    passkeys.admin_remove(deps, "pat", pid, {"reason": "lost laptop"}, "ops")
    with pytest.raises(NotFound):
        passkeys.admin_remove(deps, "pat", pid, {"reason": "again"}, "ops")
    [removed] = [e for e in admin.audit_events(deps, "pat")["events"] if e["event"] == "passkey_removed"]
    assert removed["actor"] == "ops" and removed["reason"] == "lost laptop", removed


def test_failed_assertions_count_toward_lockout_and_a_locked_user_registers_nothing(deps):
    from shared.kernel.errors import Locked
    cred, _ = register(deps)
    admin.patch_policy(deps, {"lockout": {"threshold": 2, "resetMinutes": 15, "lockMinutes": 15}}, "ops")
    with pytest.raises(IncorrectCode):
        sign_in(deps, cred, uv=False)
    with pytest.raises(Locked):
        sign_in(deps, cred, bad_signature=True)
    assert "user_locked" in audit(deps)
    with pytest.raises(Locked):
        start_registration(deps, name="phone")
    with pytest.raises(Locked):
        begin(deps)


def test_a_blocked_user_registers_nothing(deps):
    from shared.kernel.errors import UserBlocked
    cred, _ = register(deps)
    verify.report_fraud(deps, begin(deps)["challengeId"])
    with pytest.raises(UserBlocked):
        start_registration(deps, name="phone", proof=None)


def test_a_pending_registration_dies_when_another_one_binds(deps):  # E1
    cred, _ = register(deps)
    first = start_registration(deps, name="a", proof=proof(deps, cred))
    register(deps, name="b", proof=proof(deps, cred))
    other = soft.SoftCredential(user_handle=cred.user_handle)
    with pytest.raises(Canceled):
        verify.verify(deps, first["challengeId"], {"credential": soft.register(
            other, unb64(first["publicKey"]["challenge"]))})


def test_reseal_covers_the_passkey_state(make_deps):
    from shared.crypto.keys import sealed_key_id
    from shared.ops import reseal
    from tests.integration.test_key_rotation import ENC_RETIRED, OLD, ROTATED
    d = make_deps(**OLD)
    cred, _ = register(d)
    row = d.store.get("pat", PROFILE_RK)
    assert sealed_key_id(row["passkeyHandle"]) == "e1"
    assert "credentialId" not in row["passkeys"] and soft.b64url(cred.credential_id) not in row["passkeys"]
    rotated = make_deps(MFA_TABLE_NAME=d.settings.table_name, **ROTATED)
    reseal.run(rotated, 500, "ops")
    row = rotated.store.get("pat", PROFILE_RK)
    assert sealed_key_id(row["passkeyHandle"]) == "e2"
    import json
    assert {sealed_key_id(c["secret"]) for c in json.loads(row["passkeys"])} == {"e2"}
    retired = make_deps(MFA_TABLE_NAME=d.settings.table_name, **ENC_RETIRED)  # e1 gone: only e2 opens them
    assert sign_in(retired, cred)["status"] == "approved"
