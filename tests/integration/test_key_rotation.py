"""The key-rotation runbook of docs/deploy.md, step by step, against Azurite: add the new keys
first, re-encrypt, watch the remaining count reach 0, remove the old encryption key, later the old HMAC
key; every flow keeps working, per-phone limits carry across the rotation, and the job is resumable,
bounded, audited and ETag-conditional."""
from __future__ import annotations

import base64
import hashlib
import json

import pytest

from shared.crypto.otp import totp
from shared.delivery.sender import deliver
from shared.flows import admin, enrolment, signin, verify
from shared.kernel.errors import InvalidRequest, KeyNotListed, RateLimited, crypto_problem
from shared.kernel.ids import PROFILE_RK
from shared.kernel.results import ChallengeStarted, SecretIssued
from shared.ops import reseal
from tests.helpers import secret_bytes, sms_code_for

PHONE = "+14255550133"


def key(label: str) -> str:
    return base64.b64encode(hashlib.sha256(label.encode()).digest()).decode()


OLD = {"MFA_HMAC_KEYS": f"h1:{key('h1')}", "MFA_ENCRYPTION_KEYS": f"e1:{key('e1')}",
       "MFA_SMS_PER_PHONE_PER_HOUR": "3"}
ROTATED = {**OLD, "MFA_HMAC_KEYS": f"h2:{key('h2')},h1:{key('h1')}",
           "MFA_ENCRYPTION_KEYS": f"e2:{key('e2')},e1:{key('e1')}"}
ENC_RETIRED = {**ROTATED, "MFA_ENCRYPTION_KEYS": f"e2:{key('e2')}"}
ALL_RETIRED = {**ENC_RETIRED, "MFA_HMAC_KEYS": f"h2:{key('h2')}"}


def sms_signin(d, user="sam", **context):
    result = signin.begin(d, {"userId": user, "method": "sms", "context": context})
    ch = result.view
    assert isinstance(result, ChallengeStarted)
    assert deliver(d, json.dumps({"v": 1, "challengeId": ch["challengeId"]}).encode()) == "already_sent"  # inline
    return verify.verify(d, ch["challengeId"], {"code": sms_code_for(d, ch["challengeId"]),
                                                    "rememberDevice": True})


def totp_signin(d, clock, secret, user="tina"):
    ch = signin.begin(d, {"userId": user, "method": "totp"}).view
    clock.advance(30)
    return verify.verify(d, ch["challengeId"], {"code": totp(secret, clock.now())})["status"]


def reseal_until_done(d, max_rows=500):
    runs = []
    while not runs or not runs[-1]["passComplete"]:
        runs.append(reseal.run(d, max_rows, "ops"))
        assert len(runs) < 50
    return runs


@pytest.fixture
def world(make_deps, clock):
    """Users enrolled under the old keys: an SMS user with a remembered device, a TOTP user, a pending
    TOTP enrolment (its sealed pending secret) answered again through an idempotency record."""
    old = make_deps(**OLD)
    table = old.settings.table_name
    admin.patch_policy(old, {"rememberDeviceDays": 30}, "ops")
    view = enrolment.enrol_phone(old, "sam", {"phoneNumber": PHONE}).view
    verify.verify(old, view["challengeId"], {"code": sms_code_for(old, view["challengeId"])})  # SMS 1
    device_token = sms_signin(old)["deviceToken"]  # SMS 2 to this phone this hour
    tview = enrolment.enrol_totp(old, "tina", {}).view
    secret = secret_bytes(tview["secret"])
    verify.verify(old, tview["challengeId"], {"code": totp(secret, clock.now())})
    # a sealed pending secret, and a record that points at it
    enrolment.enrol_totp(old, "pat", {}, idempotency_key="first-try")
    return {"table": table, "token": device_token, "secret": secret,
            "deps": lambda env: make_deps(MFA_TABLE_NAME=table, **env)}


def test_runbook_rotate_reencrypt_remove_old_keys(world, clock):
    # Step 1: add the new keys first (old ones listed after them).
    d = world["deps"](ROTATED)
    before = reseal.status(d)
    assert before["encryption"]["current"] == "e2" and before["encryption"]["remaining"]["e1"] >= 6
    assert before["scan"]["complete"] and before["hmac"] == {"current": "h2", "listed": ["h2", "h1"],
                                                             "openChallenges": {"h1": 0}}
    # Remembered devices keep working across the HMAC rotation while the old key is listed.
    assert signin.begin(d, {"userId": "sam", "context": {"deviceToken": world["token"]}}).view == {
        "status": "not_required", "reason": "remembered_device"}

    # Step 2: re-encrypt (bounded runs that resume from the cursor) until the remaining count is 0.
    runs = reseal_until_done(d, max_rows=2)
    assert len(runs) >= 3 and sum(r["valuesResealed"] for r in runs) == before["encryption"]["remaining"]["e1"]
    after = reseal.status(d)
    assert after["encryption"]["remaining"] == {"e1": 0} and after["encryption"]["unlisted"] == {}
    assert after["reseal"]["passInProgress"] is False and after["reseal"]["lastCompletedAt"]
    assert len(after["reseal"]["recentRuns"]) == len(runs) and after["reseal"]["recentRuns"][0]["actor"] == "ops"

    # Step 3: remove the old encryption key; SMS and TOTP sign-in still work.
    d = world["deps"](ENC_RETIRED)
    assert sms_signin(d)["status"] == "approved"  # SMS 3: the limit counted the 2 sent before rotation
    with pytest.raises(RateLimited):
        signin.begin(d, {"userId": "sam", "method": "sms"})
    assert totp_signin(d, clock, world["secret"]) == "approved"
    result = enrolment.enrol_totp(d, "pat", {}, idempotency_key="first-try")
    replay = result.view
    assert isinstance(result, SecretIssued) and replay["secret"]  # the replay re-opens the re-sealed pending secret

    # Step 4 (once no open challenge needs it): remove the old HMAC key. Device tokens it signed end.
    clock.advance(3600)
    assert reseal.status(d)["hmac"]["openChallenges"] == {"h1": 0}
    d = world["deps"](ALL_RETIRED)
    assert isinstance(signin.begin(d, {"userId": "sam", "context": {"deviceToken": world["token"]}}), ChallengeStarted)
    assert totp_signin(d, clock, world["secret"]) == "approved"


def test_per_phone_limit_is_keyed_with_the_index_key_not_the_hmac_key(world):
    d = world["deps"](ROTATED)
    row_keys = [r["RowKey"] for r in d.store.table.list_entities() if "|phone|" in r["RowKey"]]
    assert len(row_keys) == 1  # one counter for the number, under the index key, before and after
    sms_signin(d)
    assert [r["RowKey"] for r in d.store.table.list_entities() if "|phone|" in r["RowKey"]] == row_keys


def test_removing_the_encryption_key_before_reencrypting_fails_closed_and_loudly(world, caplog):
    d = world["deps"](ENC_RETIRED)
    with caplog.at_level("ERROR", logger="twostep.crypto"):
        with pytest.raises(KeyNotListed) as raised:
            signin.begin(d, {"userId": "sam", "method": "sms"})
    assert (crypto_problem(raised.value).status, crypto_problem(raised.value).code) == (503, "misconfigured")
    failure = next(r for r in caplog.records if getattr(r, "event", None) == "crypto_failure")
    assert (failure.keyId, failure.purpose, failure.rowKind) == ("e1", "phone", "profile")
    assert PHONE not in caplog.text and PHONE[1:] not in caplog.text


def test_reencryption_loses_no_concurrent_update(world, clock):
    d = world["deps"](ROTATED)
    row = d.store.get("tina", PROFILE_RK)  # the job read the row ...
    assert totp_signin(d, clock, world["secret"]) == "approved"  # ... a sign-in changes it (lastStep) ...
    assert reseal._reseal_row(d, row) == 1  # ... the ETag refuses the stale write; the job re-reads
    device = json.loads(d.store.get("tina", PROFILE_RK)["totp"])[0]
    assert device["secret"].startswith("e2:")
    assert device["lastStep"] > json.loads(row["totp"])[0]["lastStep"]  # the sign-in's update survived


def test_each_run_is_audited_and_bounded(world):
    d = world["deps"](ROTATED)
    first = reseal.run_request(d, {"maxRows": 1}, "ops")
    assert first["rowsScanned"] == 1 and not first["passComplete"]
    events = [r for r in d.store.query_prefix("~keys", "au|")]
    assert [e["event"] for e in events] == ["keys_resealed"] and events[0]["actor"] == "ops"
    assert json.loads(events[0]["detail"])["rowsScanned"] == 1


def test_unreadable_values_are_counted_logged_and_skipped_not_a_crash(world, caplog):
    d = world["deps"](ROTATED)
    d.store.table.update_entity({"PartitionKey": "tina", "RowKey": PROFILE_RK, "totp": "{not json"}, mode="merge")
    d.store.table.update_entity({"PartitionKey": "sam", "RowKey": PROFILE_RK, "phone": "e1:trunc"}, mode="merge")
    with caplog.at_level("ERROR", logger="twostep.crypto"):
        runs = reseal_until_done(d)
    assert sum(r["rowsUnreadable"] for r in runs) == 2
    assert {(r.purpose, r.rowKind) for r in caplog.records if getattr(r, "event", None) == "crypto_failure"} == {
        ("totp", "profile"), ("phone", "profile")}
    after = reseal.status(d)["encryption"]
    assert after["malformed"] == 2 and after["remaining"] == {"e1": 0}


def test_a_run_out_of_time_stays_on_its_page_and_the_next_run_goes_on(world):
    d = world["deps"](ROTATED)
    remaining = reseal.status(d)["encryption"]["remaining"]["e1"]
    first = reseal.run(d, 500, "ops", budget_seconds=0)
    assert first["valuesResealed"] >= 1 and first["rowsScanned"] < 8 and not first["passComplete"]
    runs = [first]
    while not runs[-1]["passComplete"]:
        runs.append(reseal.run(d, 500, "ops", budget_seconds=0))
        assert len(runs) < 20
    assert sum(r["valuesResealed"] for r in runs) == remaining
    assert reseal.status(d)["encryption"]["remaining"] == {"e1": 0}


def test_open_sms_challenges_under_the_old_hmac_key_are_counted_until_they_expire(world, clock):
    old = world["deps"](OLD)
    view = enrolment.enrol_phone(old, "olly", {"phoneNumber": "+14255550134"}).view  # pending, under h1
    d = world["deps"](ROTATED)
    assert reseal.status(d)["hmac"]["openChallenges"] == {"h1": 1}
    verify.verify(d, view["challengeId"], {"code": sms_code_for(d, view["challengeId"])})  # h1 still listed
    assert reseal.status(d)["hmac"]["openChallenges"] == {"h1": 0}
    enrolment.enrol_phone(old, "olga", {"phoneNumber": "+14255550135"})
    clock.advance(300)
    assert reseal.status(d)["hmac"]["openChallenges"] == {"h1": 0}  # expired: its code is no longer needed


def test_the_oath_index_owner_is_resealed_and_still_decides(make_deps, clock):
    """The serial index seals its owner (D6): re-encryption moves it off the old key, and once that key is
    gone the import still finds the serial assigned."""
    from shared.methods.oath import importer as oath

    upload = b"upn,serial number,secret key,time interval,manufacturer,model\r\n" \
             b"olga,ROT-1,JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP,30,Contoso,Key\r\n"
    old = make_deps(**OLD)
    oath.import_tokens(old, upload, "ops")
    d = make_deps(MFA_TABLE_NAME=old.settings.table_name, **ROTATED)
    # the device's secret, the index row's owner and the index key itself
    assert reseal.status(d)["encryption"]["remaining"]["e1"] == 3
    reseal_until_done(d)
    assert reseal.status(d)["encryption"]["remaining"] == {"e1": 0}
    d = make_deps(MFA_TABLE_NAME=old.settings.table_name, **ENC_RETIRED)
    with pytest.raises(InvalidRequest) as refused:
        oath.import_tokens(d, upload.replace(b"olga", b"pia"), "ops")
    assert refused.value.problem()["errors"][0]["detail"] == "is already assigned to a user"
