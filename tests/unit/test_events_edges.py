"""What mutation testing found unstated about security events (N1; docs/testing.md): the type of every
published audit event, each key and value the event data drops or keeps, and the event id as a known
answer (a receiver deduplicates on it, so the next deployment must compute the same one)."""
from __future__ import annotations

import hashlib
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from shared.channels.events import build_event, event_id, event_type
from shared.store import audit_events, audit_row

NOW = datetime(2026, 11, 27, 19, 30, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("audit_event,expected", [
    ("method_removed", "method.removed"), ("bypass_created", "bypass.created"), ("bypass_used", "bypass.used"),
    ("bypass_revoked", "bypass.revoked"), ("fraud_reported", "fraud.reported"),
    ("user_unblocked", "user.unblocked"), ("groups_changed", "user.groupschanged"),
    ("sessions_revoked", "user.sessionsrevoked"), ("policy_changed", "policy.changed"),
    ("keys_resealed", "keys.resealed"), ("oath_tokens_imported", "oathtokens.imported"),
    ("oath_tokens_import_reverted", "oathtokens.importreverted"), ("access_pass_issued", "accesspass.issued"),
    ("access_pass_used", "accesspass.used"), ("access_pass_revoked", "accesspass.revoked"),
    ("recovery_codes_generated", "recoverycodes.generated"), ("recovery_code_used", "recoverycodes.used"),
])
def test_every_published_audit_event_has_its_type(audit_event, expected):
    assert event_type(audit_event, {}) == "com.twostep." + expected


def data_of(event: str = "method_removed", **detail) -> dict:
    (audit,) = audit_events([("create", audit_row("alice", NOW, event, "ops", 90, **detail))])
    return build_event(audit, "login.example.test").get_data()


@pytest.mark.parametrize("key", ["phoneNumber", "destinationMasked", "newPassword", "pass", "key", "otp", "to",
                                 "Code", "secretRef", "tokenId", "accessPass"])
def test_a_key_that_could_carry_a_secret_or_a_number_is_dropped(key):
    assert key not in data_of(**{key: "x"})


def test_the_allowed_keys_are_kept_although_they_name_a_pass_or_codes():
    kept = data_of(accessPassId="ap1", recoveryCodesRemaining=9, codesRemaining=3)
    assert (kept["accessPassId"], kept["recoveryCodesRemaining"], kept["codesRemaining"]) == ("ap1", 9, 3)


def test_phone_like_free_text_is_dropped_but_ids_and_times_are_kept():
    kept = data_of(reason="call +1 425 555 0100", deviceId="1234-5678-90", lockedUntil="2026-11-27T19:45:00Z",
                   revokedAt="2026-11-27T19:30:00Z")
    assert "reason" not in kept
    assert (kept["deviceId"], kept["lockedUntil"], kept["revokedAt"]) == (
        "1234-5678-90", "2026-11-27T19:45:00Z", "2026-11-27T19:30:00Z")


def test_the_event_id_is_a_known_function_of_the_audit_row():
    expected = "evt_" + hashlib.sha256(b"alice\nau|0000000001|x").hexdigest()[:32]
    assert event_id("alice", "au|0000000001|x") == expected and len(expected) == 36


def test_a_fresh_process_has_lost_no_event():
    out = subprocess.run([sys.executable, "-c", "from shared.channels.events import UNPUBLISHED; print(UNPUBLISHED)"],
                         capture_output=True, text=True, check=True, cwd=__file__.rsplit("/tests/", 1)[0])
    assert out.stdout.strip() == "{'count': 0}"
