"""Security events (N1, N2): which audit rows become which CloudEvent, what an event may hold, and that a
webhook signature made here verifies with the standardwebhooks library's own verifier."""
import json
from datetime import datetime, timezone

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from shared.channels.events import EVENT_TYPES, TYPE_PREFIX, build_event, event_type, parse_event, to_json
from shared.channels.webhook import signed_headers
from shared.kernel.clock import iso
from shared.model.lockout import LOCKED_FOR_GOOD
from shared.store import audit_events, audit_row
from tests.clocks import FixedClock

CLOCK = FixedClock(datetime(2026, 11, 27, 19, 30, 0, tzinfo=timezone.utc))
HOST = "login.example.test"
SECRET = "whsec_" + "2vgMWgk1grFoTuhpw1iVF70IyCVMRIJq9Q5OlP4hr3Q="  # base64 of sha256("twostep-test-webhook")


def committed(entity):
    """The audit event a commit of `entity` hands the store's after-commit hooks."""
    (audit,) = audit_events([("create", entity)])
    return audit


def row(event: str, user: str = "alice@contoso.com", actor: str = "application", **detail):
    return committed(audit_row(user, CLOCK.now(), event, actor, 90, **detail))


@pytest.mark.parametrize("event,detail,expected", [
    ("verify_approved", {"purpose": "enrol_sms", "method": "sms"}, "method.added"),
    ("verify_approved", {"purpose": "enrol_totp", "method": "totp"}, "method.added"),
    ("verify_approved", {"purpose": "signin", "method": "totp", "activated": True}, "method.activated"),
    ("verify_approved", {"purpose": "signin", "method": "sms"}, None),
    ("method_removed", {"method": "sms"}, "method.removed"),
    ("bypass_created", {}, "bypass.created"),
    ("bypass_used", {}, "bypass.used"),
    ("bypass_revoked", {}, "bypass.revoked"),
    ("user_locked", {"lockedUntil": "2026-11-27T19:45:00Z"}, "user.locked"),
    ("user_locked", {"lockedUntil": iso(LOCKED_FOR_GOOD)}, "user.hardlocked"),
    ("fraud_reported", {}, "fraud.reported"),
    ("user_unblocked", {}, "user.unblocked"),
    ("policy_changed", {}, "policy.changed"),
    ("keys_resealed", {}, "keys.resealed"),
    ("access_pass_issued", {}, "accesspass.issued"),
    ("recovery_codes_generated", {}, "recoverycodes.generated"),
    ("request_refused", {}, None),
    ("verify_failed", {}, None),
    ("sms_sent", {}, None),
])
def test_event_types(event, detail, expected):
    assert event_type(event, detail) == (TYPE_PREFIX + expected if expected else None)


def test_every_type_is_noun_dot_verb():
    for name, rule in EVENT_TYPES.items():
        if isinstance(rule, str):
            noun, _, verb = rule.partition(".")
            # the passkey contract names one verb phrase with an underscore: passkey.clone_suspected
            assert noun.isalpha() and verb.replace("_", "").isalpha() and noun.islower() and verb.islower(), name


def test_event_of_an_audit_row_is_a_cloudevent():
    event = build_event(row("bypass_created", actor="admin:ops@contoso.com", bypassId="b1",
                            expiresAt="2026-11-27T19:35:00Z", reason="lost phone"), HOST)
    doc = json.loads(to_json(event))
    assert doc["specversion"] == "1.0"
    assert doc["type"] == "com.twostep.bypass.created"
    assert doc["source"] == "/twostep/login.example.test"
    assert doc["subject"] == "alice@contoso.com"
    assert doc["time"].startswith("2026-11-27T19:30:00")
    assert doc["datacontenttype"] == "application/json"
    assert doc["id"].startswith("evt_")
    assert doc["data"] == {"auditEvent": "bypass_created", "actor": "admin:ops@contoso.com", "bypassId": "b1",
                           "expiresAt": "2026-11-27T19:35:00Z", "reason": "lost phone"}
    assert parse_event(to_json(event)) == doc


def test_event_id_is_stable_per_audit_row():
    audit = row("bypass_used")
    assert build_event(audit, HOST).get_id() == build_event(audit, HOST).get_id()
    assert build_event(row("bypass_used"), HOST).get_id() != build_event(audit, HOST).get_id()


def test_system_partitions_have_no_subject():
    event = build_event(committed(audit_row("~policy", CLOCK.now(), "policy_changed", "admin:x", 90,
                                            changed=["a"])), HOST)
    assert event.get_subject() is None
    assert event.get_type() == "com.twostep.policy.changed"


def test_rows_that_are_not_audit_rows_make_no_event():
    assert audit_events([("create", {"PartitionKey": "u", "RowKey": "profile", "event": "bypass_used"})]) == []
    assert build_event(row("sms_sent"), HOST) is None


def test_no_code_secret_or_phone_number_reaches_an_event():
    event = build_event(row("method_removed", method="sms", code="123456", secret="JBSWY3DPEHPK3PXP",
                            phoneNumber="+14255550100", destination="+14255550100", deviceToken="dt.x",
                            accessPass="ABCD-EFGH", reason="call +1 425 555 0100 back", challengesCanceled=2,
                            accessPassId="ap1", codesRemaining=9), HOST)
    text = to_json(event)
    for leaked in ("123456", "JBSWY3DPEHPK3PXP", "4255550100", "425 555 0100", "dt.x", "ABCD-EFGH"):
        assert leaked not in text
    assert event.get_data() == {"auditEvent": "method_removed", "actor": "application", "method": "sms",
                                "challengesCanceled": 2, "accessPassId": "ap1", "codesRemaining": 9}


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"specversion": "1.0", "id": "x", "type": "other"}',
                                  b'{"specversion": "0.3", "id": "x", "type": "com.twostep.a.b"}', b"\xff\xfe"])
def test_parse_event_refuses_what_is_not_ours(body):
    assert parse_event(body) is None


def test_signature_verifies_with_the_library():
    body = to_json(build_event(row("bypass_used"), HOST))
    headers = signed_headers(SECRET, "evt_1", body)
    assert Webhook(SECRET).verify(body, headers) == json.loads(body)
    assert headers["webhook-id"] == "evt_1"
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(body.replace("bypass", "bypasz"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "A" * 43 + "=").verify(body, headers)
