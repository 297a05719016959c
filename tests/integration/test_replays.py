"""Idempotent replays against Azurite with an injected clock: a repeat is answered from what the first
request created, as it is now (R1), and the record holds keyed indexes only (D6)."""
from __future__ import annotations

import hashlib
import json

import pytest
import requests

from shared.channels.sms import outbox_message
from shared.crypto.otp import totp
from shared.delivery.sender import deliver
from shared.flows import admin, challenge_rows, enrolment, signin, verify
from shared.kernel.errors import IdempotentResultGone, Locked, RiskBlocked, UserBlocked
from shared.kernel.ids import parse_challenge_id
from shared.kernel.results import ChallengeStarted, NotRequired, SecretIssued
from shared.store.idempotency import PREFIX
from tests.helpers import all_rows_text, other_code, secret_bytes, sms_code_for
from tests.integration.test_flows import approved_signin, enrol_app, enrol_sms
from tests.integration.test_policy_flows import HQ, outbox_count

PHONE = "+14255550161"


def begin(deps, key, user="alice", **body):
    return signin.begin(deps, {"userId": user, **body}, key)


def idempotency_rows(deps, user="alice"):
    return deps.store.query_prefix(user, PREFIX)


def block_medium_risk(deps):
    admin.patch_policy(deps, {"risk": {"none": "allow_skip", "low": "allow_skip", "medium": "block",
                                       "high": "block"}}, "ops")
    deps.policies._cached = None


def lock(deps, user="alice"):
    for _ in range(deps.policy().lockout_threshold // 5 + 1):
        ch = signin.begin(deps, {"userId": user, "method": "sms"}).view
        code = other_code(sms_code_for(deps, ch["challengeId"]))
        for _ in range(5):
            try:
                verify.verify(deps, ch["challengeId"], {"code": code})
            except Locked:
                return
            except Exception:  # noqa: BLE001 - incorrect_code / max attempts until the lock
                pass
    raise AssertionError("not locked")


class TestChallengeReplays:
    def test_replay_for_a_user_blocked_since_is_refused(self, deps):
        enrol_sms(deps, phone=PHONE)
        assert isinstance(begin(deps, "k1", method="sms"), ChallengeStarted)
        other = signin.begin(deps, {"userId": "alice"}).view
        verify.report_fraud(deps, other["challengeId"])
        with pytest.raises(UserBlocked):
            begin(deps, "k1", method="sms")

    def test_replay_for_a_user_locked_since_is_refused(self, deps):
        enrol_sms(deps, phone=PHONE)
        begin(deps, "k1", method="sms")
        lock(deps)
        with pytest.raises(Locked):
            begin(deps, "k1", method="sms")

    def test_replay_reflects_the_present_and_is_gone_once_used(self, deps):
        enrol_sms(deps, phone=PHONE)
        first = begin(deps, "k1", method="sms").view
        code = sms_code_for(deps, first["challengeId"])
        with pytest.raises(Exception):  # noqa: B017 - incorrect_code
            verify.verify(deps, first["challengeId"], {"code": other_code(code)})
        result = begin(deps, "k1", method="sms")
        again = result.view
        assert isinstance(result, ChallengeStarted) and again["challengeId"] == first["challengeId"]
        assert again["attemptsRemaining"] == first["attemptsRemaining"] - 1  # rebuilt, not stored
        verify.verify(deps, first["challengeId"], {"code": code})
        with pytest.raises(IdempotentResultGone) as err:
            begin(deps, "k1", method="sms")
        assert err.value.status == 409 and err.value.code == "idempotency_result_gone"

    def test_replay_for_a_risk_level_blocked_since_is_refused(self, deps):
        enrol_sms(deps, phone=PHONE)
        assert isinstance(begin(deps, "k1", context={"riskLevel": "medium"}), ChallengeStarted)
        block_medium_risk(deps)
        with pytest.raises(RiskBlocked):
            begin(deps, "k1", context={"riskLevel": "medium"})

    def test_replay_whose_challenge_is_gone_is_a_problem(self, deps):
        enrol_sms(deps, phone=PHONE)
        first = begin(deps, "k1", method="sms").view
        user, row_key = parse_challenge_id(first["challengeId"])
        deps.store.table.delete_entity(user, row_key)
        with pytest.raises(IdempotentResultGone):
            begin(deps, "k1", method="sms")

    def test_replayed_sms_begin_enqueues_again_only_while_queued(self, deps, emulator, clock, queue_path):
        requests.delete(f"{emulator.url}/messages", timeout=5)
        enrol_sms(deps, phone=PHONE)
        before = outbox_count(deps)
        first = begin(deps, "k1", method="sms").view
        clock.advance(challenge_rows.REQUEUE_AFTER.total_seconds() - 1)
        begin(deps, "k1", method="sms")
        assert outbox_count(deps) == before + 1  # too early: the first message is most likely on its way
        clock.advance(1)
        begin(deps, "k1", method="sms")
        assert outbox_count(deps) == before + 2  # the first enqueue may have been lost: queue it again
        assert deliver(deps, outbox_message(first["challengeId"]).encode()) == "sent"
        sent = requests.get(f"{emulator.url}/messages", params={"to": PHONE}, timeout=5).json()
        assert len(sent) == 1
        begin(deps, "k1", method="sms")
        assert outbox_count(deps) == before + 2  # delivery `sent`: nothing more to queue


class TestBypassReplays:
    def test_the_spent_bypass_replays_until_the_user_is_blocked(self, deps):
        enrol_sms(deps, phone=PHONE)
        admin.create_bypass(deps, "alice", {"seconds": 300, "reason": "ticket 1"}, "ops")
        bypass = NotRequired("bypass")
        assert begin(deps, "k1") == bypass
        assert begin(deps, "k1") == bypass  # the very bypass that request spent
        assert isinstance(begin(deps, "k2"), ChallengeStarted)  # a new request: no bypass left
        other = signin.begin(deps, {"userId": "alice"}).view
        verify.report_fraud(deps, other["challengeId"])
        with pytest.raises(UserBlocked):
            begin(deps, "k1")

    def test_spent_bypass_is_not_replayed_for_a_locked_user_or_a_blocked_risk(self, deps):
        enrol_sms(deps, phone=PHONE)
        admin.create_bypass(deps, "alice", {"seconds": 300, "reason": "ticket 1"}, "ops")
        assert begin(deps, "k1", context={"riskLevel": "medium"}).view["reason"] == "bypass"
        block_medium_risk(deps)
        with pytest.raises(RiskBlocked):
            begin(deps, "k1", context={"riskLevel": "medium"})
        assert isinstance(begin(deps, "k2"), ChallengeStarted)
        lock(deps)
        with pytest.raises(Locked):
            begin(deps, "k2")

    def test_a_skip_whose_reason_no_longer_holds_is_decided_again(self, deps):
        enrol_sms(deps, phone=PHONE)
        admin.patch_policy(deps, HQ, "ops")
        deps.policies._cached = None
        assert begin(deps, "k1", context={"ip": "203.0.113.7"}).view["reason"] == "trusted_network"
        admin.patch_policy(deps, {"trustedNetworks": []}, "ops")
        deps.policies._cached = None
        assert isinstance(begin(deps, "k1", context={"ip": "203.0.113.7"}), ChallengeStarted)


class TestEnrolmentReplays:
    def test_no_secret_once_the_authenticator_is_active(self, deps, clock):
        result = enrolment.enrol_totp(deps, "carol", {}, "e1")
        first = result.view
        assert enrolment.enrol_totp(deps, "carol", {}, "e1") == result  # pending: the same answer
        verify.verify(deps, first["challengeId"], {"code": totp(secret_bytes(first["secret"]), clock.now())})
        with pytest.raises(IdempotentResultGone):
            enrolment.enrol_totp(deps, "carol", {}, "e1")

    def test_no_secret_after_a_later_enrolment_change(self, deps, clock):
        enrolment.enrol_totp(deps, "carol", {}, "e1")
        enrol_sms(deps, "carol", PHONE)  # carol gains a method while the app enrolment is pending
        with pytest.raises(IdempotentResultGone):
            enrolment.enrol_totp(deps, "carol", {}, "e1")

    def test_phone_enrolment_replay_is_rebuilt(self, deps, clock):
        first = enrolment.enrol_phone(deps, "dave", {"phoneNumber": PHONE}, "p1")
        assert enrolment.enrol_phone(deps, "dave", {"phoneNumber": PHONE}, "p1") == first
        secret, _ = enrol_app(deps, clock, "dave")
        with pytest.raises(IdempotentResultGone):  # dave's methods changed: that enrolment is void
            enrolment.enrol_phone(deps, "dave", {"phoneNumber": PHONE}, "p1")


class TestKeyedRecord:
    def test_record_holds_a_reference_and_keyed_indexes_only(self, deps, make_deps):  # D6
        body = {"phoneNumber": PHONE}
        enrolment.enrol_phone(deps, "dave", body, "p1")
        (record,) = idempotency_rows(deps, "dave")
        assert set(record) >= {"fingerprint", "kind", "ref"} and "response" not in record
        unkeyed = hashlib.sha256(f"phone/dave\x00{json.dumps(body, sort_keys=True)}".encode()).hexdigest()
        assert unkeyed not in all_rows_text(deps)
        other = make_deps()  # a table of its own, so an index key of its own
        assert other.index_key != deps.index_key
        enrolment.enrol_phone(other, "dave", body, "p1")
        (again,) = idempotency_rows(other, "dave")
        assert again["RowKey"] != record["RowKey"] and again["fingerprint"] != record["fingerprint"]

    def test_signin_proof_still_usable(self, deps, clock):  # the replay path keeps step-up working
        enrol_sms(deps, phone=PHONE)
        proof = approved_signin(deps)
        assert isinstance(enrolment.enrol_totp(deps, "alice", {"proofChallengeId": proof}, "e1"), SecretIssued)
