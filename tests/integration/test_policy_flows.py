"""The sign-in policy against Azurite with an injected clock: each rule, remembered devices and their
revocation, live limits, the audit of policy changes, and Idempotency-Key."""
from __future__ import annotations

import json

import pytest
import requests
from azure.core.exceptions import ResourceNotFoundError

from shared.flows import admin, enrolment, signin, verify
from shared.kernel.errors import IdempotencyKeyReused, InvalidRequest, NotEnrolled, RiskBlocked, UserBlocked
from shared.kernel.results import ChallengeStarted, NotRequired
from shared.store.policy_store import POLICY_PK
from tests.helpers import sms_code_for
from tests.integration.test_flows import enrol_sms

HQ = {"trustedNetworks": [{"name": "hq", "cidrs": ["203.0.113.0/24", "2001:db8::/48"]}]}


def begin(deps, user="alice", **body):
    return signin.begin(deps, {"userId": user, **body})


def approve(deps, user="alice", **verify_body):
    ch = begin(deps, user).view
    return verify.verify(deps, ch["challengeId"], {"code": sms_code_for(deps, ch["challengeId"]), **verify_body})


def outbox_count(deps) -> int:
    try:
        return deps.outbox.queue.get_queue_properties().approximate_message_count
    except ResourceNotFoundError:  # created on the first enqueue: none yet
        return 0


def sms_out(deps) -> int:
    """SMS sent inline (at the emulator) plus SMS queued."""
    return len(requests.get(f"{deps.settings.acs_endpoint}/messages", timeout=5).json()) + outbox_count(deps)


class TestRules:
    def test_trusted_network(self, deps):
        enrol_sms(deps)
        admin.patch_policy(deps, HQ, "ops")
        assert begin(deps, context={"ip": "203.0.113.7"}) == NotRequired("trusted_network")
        assert begin(deps, context={"ip": "2001:db8::1"}).view["reason"] == "trusted_network"
        assert isinstance(begin(deps, context={"ip": "198.51.100.7"}), ChallengeStarted)
        skipped = [e for e in admin.audit_events(deps, "alice")["events"] if e["event"] == "mfa_skipped"]
        assert sorted((e["reason"], e["ip"]) for e in skipped) == [("trusted_network", "2001:db8::1"),
                                                                  ("trusted_network", "203.0.113.7")]  # D5

    def test_excluded_group_even_without_enrolment(self, deps):
        admin.patch_policy(deps, {"excludedGroups": ["break-glass"]}, "ops")
        with pytest.raises(NotEnrolled):
            begin(deps, "glass")
        assert admin.set_groups(deps, "glass", {"groups": ["break-glass"]}, "ops") == {"userId": "glass",
                                                                                        "groups": ["break-glass"]}
        assert begin(deps, "glass").view == {"status": "not_required", "reason": "excluded_group"}
        admin.set_groups(deps, "glass", {"groups": []}, "ops")
        with pytest.raises(NotEnrolled):
            begin(deps, "glass")

    def test_risk_levels_default_actions(self, deps):
        enrol_sms(deps)
        admin.patch_policy(deps, HQ, "ops")
        trusted = {"ip": "203.0.113.7"}
        assert begin(deps, context={**trusted, "riskLevel": "low"}).view["reason"] == "trusted_network"
        assert isinstance(begin(deps, context={**trusted, "riskLevel": "medium"}), ChallengeStarted)
        with pytest.raises(RiskBlocked):
            begin(deps, context={**trusted, "riskLevel": "high"})

    def test_blocked_user_beats_everything(self, deps):
        enrol_sms(deps)
        admin.patch_policy(deps, HQ, "ops")
        ch = begin(deps).view
        verify.report_fraud(deps, ch["challengeId"])
        with pytest.raises(UserBlocked):
            begin(deps, context={"ip": "203.0.113.7"})


class TestRememberedDevice:
    def test_token_skips_mfa_until_revoked(self, deps, clock):
        enrol_sms(deps)
        assert "deviceToken" not in approve(deps, rememberDevice=True)  # off by default (0 days)
        admin.patch_policy(deps, {"rememberDeviceDays": 7}, "ops")
        clock.advance(1)
        out = approve(deps, rememberDevice=True)
        assert out["deviceTokenExpiresAt"] == "2026-12-04T19:30:01Z"
        token = out["deviceToken"]
        clock.advance(60)
        assert begin(deps, context={"deviceToken": token}).view == {"status": "not_required",
                                                                  "reason": "remembered_device"}
        assert isinstance(begin(deps, context={"deviceToken": token, "riskLevel": "medium"}), ChallengeStarted)
        enrol_sms(deps, "bob", "+14255550124")
        assert isinstance(begin(deps, "bob", context={"deviceToken": token}), ChallengeStarted)  # bound to alice
        admin.revoke_sessions(deps, "alice", "ops")
        assert isinstance(begin(deps, context={"deviceToken": token}), ChallengeStarted)  # issued before the revocation
        clock.advance(1)
        fresh = approve(deps, rememberDevice=True)["deviceToken"]
        assert begin(deps, context={"deviceToken": fresh}).view["reason"] == "remembered_device"

    def test_expired_and_forged_tokens(self, deps, clock):
        enrol_sms(deps)
        admin.patch_policy(deps, {"rememberDeviceDays": 1}, "ops")
        token = approve(deps, rememberDevice=True)["deviceToken"]
        forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
        assert isinstance(begin(deps, context={"deviceToken": forged}), ChallengeStarted)
        clock.advance(86400)
        assert isinstance(begin(deps, context={"deviceToken": token}), ChallengeStarted)

    def test_revocation_is_audited(self, deps, clock):
        enrol_sms(deps)
        clock.advance(1)
        admin.revoke_sessions(deps, "alice", "ops@contoso")
        events = admin.audit_events(deps, "alice")["events"]
        assert events[0]["event"] == "sessions_revoked" and events[0]["actor"] == "ops@contoso"


class TestLiveLimits:
    def test_code_lifetime_attempts_and_bypass_maximum_follow_the_policy(self, deps, clock):
        enrol_sms(deps)
        admin.patch_policy(deps, {"codeTtlSeconds": 60, "maxAttempts": 2, "bypassMaxSeconds": 120}, "ops")
        ch = begin(deps).view
        assert ch["attemptsRemaining"] == 2 and ch["expiresAt"] == "2026-11-27T19:31:00Z"
        with pytest.raises(InvalidRequest):
            admin.create_bypass(deps, "alice", {"seconds": 121, "reason": "x"}, "ops")
        assert admin.create_bypass(deps, "alice", {"reason": "x"}, "ops")["expiresAt"] == "2026-11-27T19:32:00Z"

    def test_lockout_threshold_follows_the_policy(self, deps):
        enrol_sms(deps)
        admin.patch_policy(deps, {"lockout": {"threshold": 2, "resetMinutes": 5, "lockMinutes": 1}}, "ops")
        ch = begin(deps).view
        code = sms_code_for(deps, ch["challengeId"])
        wrong = str((int(code) + 1) % 10**6).zfill(6)
        from shared.kernel.errors import IncorrectCode, Locked
        with pytest.raises(IncorrectCode):
            verify.verify(deps, ch["challengeId"], {"code": wrong})
        with pytest.raises(Locked) as err:
            verify.verify(deps, ch["challengeId"], {"code": wrong})
        assert err.value.retry_after == 60


class TestPolicyAdmin:
    def test_change_is_audited_with_old_and_new_values(self, deps):
        admin.patch_policy(deps, {"maxAttempts": 3, "excludedGroups": ["a"]}, "ops@contoso")
        rows = deps.store.query_prefix(POLICY_PK, "au|")
        detail = json.loads(rows[0]["detail"])
        assert rows[0]["event"] == "policy_changed" and rows[0]["actor"] == "ops@contoso"
        assert detail["old"] == {"excludedGroups": [], "maxAttempts": 5}
        assert detail["new"] == {"excludedGroups": ["a"], "maxAttempts": 3}

    def test_invalid_document_changes_nothing(self, deps):
        admin.patch_policy(deps, HQ, "ops")
        before = admin.get_policy(deps)
        with pytest.raises(InvalidRequest) as err:
            admin.patch_policy(deps, {"maxAttempts": 3, "risk": {"none": "maybe"}}, "ops")
        assert err.value.extra["field"] == "risk"
        assert admin.get_policy(deps) == before

    def test_large_network_lists_are_stored(self, deps):
        cidrs = [f"10.{i // 256}.{i % 256}.0/24" for i in range(2000)]
        admin.patch_policy(deps, {"trustedNetworks": [{"name": f"site{j}", "cidrs": cidrs} for j in range(3)]}, "ops")
        got = admin.get_policy(deps)["trustedNetworks"]
        assert len(got) == 3 and got[2]["cidrs"][-1] == "10.7.207.0/24"
        deps.policies._cached = None
        enrol_sms(deps)
        assert begin(deps, context={"ip": "10.3.4.5"}).view["reason"] == "trusted_network"


class TestIdempotency:
    def test_repeat_returns_first_response_and_sends_no_second_sms(self, deps):
        enrol_sms(deps)
        out = sms_out(deps)
        first = signin.begin(deps, {"userId": "alice", "method": "sms"}, "key-1")
        again = signin.begin(deps, {"userId": "alice", "method": "sms"}, "key-1")
        assert first == again and isinstance(first, ChallengeStarted)
        assert sms_out(deps) == out + 1
        other = signin.begin(deps, {"userId": "alice", "method": "sms"}, "key-2")
        assert other.view["challengeId"] != first.view["challengeId"]

    def test_same_key_different_body_is_refused(self, deps):
        enrol_sms(deps)
        signin.begin(deps, {"userId": "alice"}, "key-1")
        with pytest.raises(IdempotencyKeyReused):
            signin.begin(deps, {"userId": "alice", "method": "sms"}, "key-1")

    def test_enrolment_repeat_returns_the_same_secret_until_the_lifetime_ends(self, deps, clock):
        first = enrolment.enrol_totp(deps, "carol", {}, "enrol-1")
        assert enrolment.enrol_totp(deps, "carol", {}, "enrol-1") == first
        clock.advance(deps.policy().code_ttl_seconds)
        assert enrolment.enrol_totp(deps, "carol", {}, "enrol-1").view["secret"] != first.view["secret"]
        assert first.view["secret"] not in json.dumps([dict(r) for r in deps.store.table.list_entities()], default=str)

    def test_bad_keys_are_refused(self, deps):
        for key in ("", "x" * 256, "has space", "tab\t"):
            with pytest.raises(InvalidRequest):
                signin.begin(deps, {"userId": "alice"}, key)
