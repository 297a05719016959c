"""Stable indexes and loud failures of the key lifecycle, in pure logic: sealed values and device tokens have one spelling, a value that
does not open is a logged 503 (key id, purpose, row kind; never the value), and remembered-device tokens
survive an HMAC rotation while the old key is listed."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone

import pytest

from shared.crypto import device_tokens
from shared.crypto import keys as crypto
from shared.kernel.errors import KeyNotListed, Misconfigured, SealedValueUnreadable, crypto_problem
from shared.ops import reseal

T0 = datetime(2026, 11, 27, 19, 30, tzinfo=timezone.utc)
OLD = crypto.Keyring((("e1", bytes(range(32))),), "MFA_ENCRYPTION_KEYS")
NEW = crypto.Keyring((("e2", bytes(range(100, 132))), ("e1", bytes(range(32)))), "MFA_ENCRYPTION_KEYS")
AAD = "twostep/phone/alice"
PHONE = b"+14255550100"


def failures(caplog) -> list:
    return [r for r in caplog.records if getattr(r, "event", None) == crypto.FAILURE_EVENT]


def respellings(token: str) -> list[str]:
    """Other texts that a loose base64 decoder reads as the same bytes."""
    kid, _, blob = token.partition(":")
    raw = base64.b64decode(blob)
    return [f"{kid}:{blob}\n", f"{kid}:{blob} ", f"{kid}:{blob[:4]}\n{blob[4:]}", f"{kid}:{blob}=",
            f"{kid}:{base64.urlsafe_b64encode(raw).decode()}" if "+" in blob or "/" in blob else f"{kid}:*{blob}",
            f" {kid}:{blob}", f"{kid}\n:{blob}"]


class TestSealedValues:
    def test_opens_only_in_its_one_spelling(self, caplog):
        sealer = crypto.Sealer(OLD)
        token = sealer.seal(PHONE, AAD)
        assert sealer.open(token, AAD) == PHONE
        for other in respellings(token):
            with pytest.raises(SealedValueUnreadable):
                sealer.open(other, AAD, kind="profile")
        assert all(r.reason == "malformed sealed value" for r in failures(caplog))

    @pytest.mark.parametrize("bad", ["", "e1", "e1:", "e1:AAAA", "e1:!!!!", None, 42, "e1:" + "A" * 36 + "=="])
    def test_malformed_values_are_a_logged_503_not_a_500(self, bad, caplog):
        with caplog.at_level("ERROR", logger="twostep.crypto"), pytest.raises(SealedValueUnreadable) as raised:
            crypto.Sealer(OLD).open(bad, AAD, kind="challenge")
        mapped = crypto_problem(raised.value)  # what the HTTP edge answers
        assert mapped.status == 503 and mapped.code == "stored_data_unreadable"
        (record,) = failures(caplog)
        assert (record.levelname, record.purpose, record.rowKind) == ("ERROR", "phone", "challenge")

    def test_tampered_value_logs_key_id_purpose_and_kind_never_the_value(self, caplog):
        sealer = crypto.Sealer(OLD)
        token = sealer.seal(PHONE, AAD)
        raw = bytearray(base64.b64decode(token[3:]))
        raw[-1] ^= 1
        tampered = "e1:" + base64.b64encode(bytes(raw)).decode()
        with caplog.at_level("ERROR", logger="twostep.crypto"), pytest.raises(SealedValueUnreadable):
            sealer.open(tampered, AAD, kind="profile")
        (record,) = failures(caplog)
        assert (record.keyId, record.purpose, record.rowKind) == ("e1", "phone", "profile")
        assert "tag does not verify" in record.reason
        assert tampered[3:] not in caplog.text and "14255550100" not in caplog.text and "alice" not in caplog.text

    def test_retired_key_id_is_a_logged_503(self, caplog):
        token = crypto.Sealer(OLD).seal(PHONE, AAD)
        retired = crypto.Sealer(crypto.Keyring((("e2", bytes(range(100, 132))),), "MFA_ENCRYPTION_KEYS"))
        with caplog.at_level("ERROR", logger="twostep.crypto"), pytest.raises(KeyNotListed) as raised:
            retired.open(token, AAD, kind="profile")
        mapped = crypto_problem(raised.value)
        assert isinstance(mapped, Misconfigured) and (mapped.status, mapped.code) == (503, "misconfigured")
        (record,) = failures(caplog)
        assert (record.keyId, record.rowKind) == ("e1", "profile")
        assert "not in MFA_ENCRYPTION_KEYS" in record.reason

    def test_rotation_seals_new_values_under_the_new_key_and_opens_old_ones(self):
        old_token = crypto.Sealer(OLD).seal(PHONE, AAD)
        sealer = crypto.Sealer(NEW)
        assert sealer.open(old_token, AAD) == PHONE and not sealer.is_current(old_token)
        assert sealer.is_current(sealer.seal(PHONE, AAD))
        assert crypto.sealed_key_id(old_token) == "e1" and crypto.sealed_key_id(old_token + "\n") is None

    def test_hmac_key_of_a_challenge_that_is_no_longer_listed_is_logged(self, caplog):
        ring = crypto.Keyring((("h2", b"x" * 32),), "MFA_HMAC_KEYS")
        with caplog.at_level("ERROR", logger="twostep.crypto"), pytest.raises(KeyNotListed):
            ring.get("h1", "sms-code", "challenge")
        (record,) = failures(caplog)
        assert (record.keyId, record.purpose, record.rowKind) == ("h1", "sms-code", "challenge")


class TestDeviceTokensAcrossRotation:
    h1 = crypto.Keyring((("h1", b"a" * 16 + b"b" * 16),))
    rotated = crypto.Keyring((("h2", b"c" * 32), ("h1", b"a" * 16 + b"b" * 16)))
    retired = crypto.Keyring((("h2", b"c" * 32),))

    def test_valid_while_the_signing_key_is_listed_and_void_once_removed(self):
        token, _ = device_tokens.issue(self.h1, "alice", T0, 30)
        later = T0 + timedelta(days=10)
        assert device_tokens.is_valid(self.rotated, token, "alice", later, None, 30)
        assert not device_tokens.is_valid(self.retired, token, "alice", later, None, 30)
        fresh, _ = device_tokens.issue(self.rotated, "alice", later, 30)
        assert fresh.split(".")[1] == "h2" and device_tokens.is_valid(self.retired, fresh, "alice", later, None, 30)

    def test_one_spelling_per_token(self):
        token, _ = device_tokens.issue(self.h1, "alice", T0, 30)
        prefix, kid, payload, mac = token.split(".")
        raw_mac = base64.urlsafe_b64decode(mac + "=")
        last = mac[-1]
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        sibling = alphabet[alphabet.index(last) ^ 1]  # flips an unused low bit of the final character
        assert base64.urlsafe_b64decode(mac[:-1] + sibling + "=") == raw_mac
        for other in (f"{prefix}.{kid}.{payload}.{mac[:-1]}{sibling}", f"{prefix}.{kid}.{payload}.{mac}=",
                      f"{prefix}.{kid}.{payload}.{mac[:5]}\n{mac[5:]}", f"{prefix}.{kid}.{payload}.{mac[:5]}*{mac[5:]}",
                      f"{prefix}.{kid}.{payload}=.{mac}"):
            assert not device_tokens.is_valid(self.h1, other, "alice", T0, None, 30), other
        assert device_tokens.is_valid(self.h1, token, "alice", T0, None, 30)


class TestResealCatalogue:
    """Which rows hold sealed values, and what key ids they name (the counting of GET /admin/keys)."""

    def test_every_sealed_column_is_found_by_row_kind(self):
        sealer = crypto.Sealer(OLD)
        profile = {"PartitionKey": "alice", "RowKey": "profile", "phone": sealer.seal(PHONE, AAD),
                   "totp": '[{"secret": "e9:' + "A" * 40 + '"}, {"secret": "bad"}]'}
        assert list(reseal.key_ids(profile)) == ["e1", "e9", None]
        challenge = {"PartitionKey": "alice", "RowKey": "ch|x", "destination": "e1:" + "A" * 40, "pendingSecret": None}
        assert list(reseal.key_ids(challenge)) == ["e1"]
        assert list(reseal.key_ids({"PartitionKey": "alice", "RowKey": "au|1", "phone": "e1:" + "A" * 40})) == []
        assert list(reseal.key_ids({"PartitionKey": "~keys", "RowKey": "index", "sealed": "e2:" + "A" * 40})) == ["e2"]
        assert list(reseal.key_ids({"PartitionKey": "~oath", "RowKey": "sn|x", "owner": "e2:" + "A" * 40})) == ["e2"]
        assert list(reseal.key_ids({"PartitionKey": "~oath", "RowKey": "serial|X", "owner": "e2:" + "A" * 40})) == []

    def test_reseal_moves_every_stale_value_and_keeps_current_ones(self):
        old, new = crypto.Sealer(OLD), crypto.Sealer(NEW)
        current = new.seal(b"s2", "twostep/totp/alice")
        row = {"PartitionKey": "alice", "RowKey": "profile", "phone": old.seal(PHONE, AAD),
               "totp": json.dumps([{"secret": old.seal(b"s1", "twostep/totp/alice"), "lastStep": 7},
                                   {"secret": current, "lastStep": 9}])}
        changes, count = reseal._resealed(new, row)
        assert count == 2 and set(changes) == {"phone", "totp"}
        assert new.is_current(changes["phone"]) and new.open(changes["phone"], AAD) == PHONE
        devices = json.loads(changes["totp"])
        assert [d["lastStep"] for d in devices] == [7, 9] and devices[1]["secret"] == current
        assert new.open(devices[0]["secret"], "twostep/totp/alice") == b"s1"
        assert reseal._resealed(new, {**row, **changes}) == ({}, 0)
