"""Remembered-device tokens beyond the policy tests: the exact wire format (tokens issued before a deploy
must verify after it), every boundary of expiry, period and revocation, and each malformed part."""
import base64
import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone

import pytest

from shared.crypto import device_tokens
from shared.crypto.keys import Keyring

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
KEYS = Keyring((("k1", b"a" * 32),))
MS = timedelta(milliseconds=1)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def signed(key: bytes, prefix: str, key_id: str, claims: dict) -> str:
    """A token built from the documented format, independently of the code under test."""
    body = f"{prefix}.{key_id}.{b64(json.dumps(claims, separators=(',', ':')).encode())}"
    mac = hmac.new(key, b"twostep/device-token/v1\x00" + body.encode(), hashlib.sha256).digest()
    return f"{body}.{b64(mac)}"


def claims(user="alice", iat=T0, days=14) -> dict:
    return {"u": user, "iat": int(iat.timestamp() * 1000), "exp": int((iat + timedelta(days=days)).timestamp() * 1000),
            "n": "00112233aabbccdd"}


def valid(token, user="alice", now=T0, revoked=None, days=14, keys=KEYS) -> bool:
    return device_tokens.is_valid(keys, token, user, now, revoked, days)


def test_issued_tokens_have_the_documented_format(monkeypatch):
    monkeypatch.setattr(device_tokens.secrets, "token_hex", lambda n: "00112233aabbccdd")
    token, expires = device_tokens.issue(KEYS, "alice", T0, 14)
    assert token == signed(b"a" * 32, "dt1", "k1", claims())
    assert expires == T0 + timedelta(days=14)


def test_a_token_built_to_the_format_is_valid_and_each_boundary_holds():
    token = signed(b"a" * 32, "dt1", "k1", claims())
    assert valid(token)
    assert valid(token, now=T0 + timedelta(days=14) - MS)
    assert not valid(token, now=T0 + timedelta(days=14))  # expiry exactly
    assert not valid(token, now=T0 + timedelta(days=14), days=30)  # even when the period has grown since
    assert valid(token, now=T0 + timedelta(days=3) - MS, days=3)
    assert not valid(token, now=T0 + timedelta(days=3), days=3)  # the policy's period shortened since issue
    assert valid(token, days=1) and not valid(token, days=0) and not valid(token, days=-1)
    assert not valid(token, now=T0 - MS, days=0)  # off means off, whatever the clock says
    assert valid(token, revoked=T0 - MS)
    assert not valid(token, revoked=T0)  # issued at the revocation instant: void
    assert not valid(token, revoked=T0 + MS)


def test_each_part_is_checked():
    key = b"a" * 32
    assert not valid(signed(key, "dt2", "k1", claims()))  # another prefix, even correctly signed
    assert not valid(signed(key, "dt1", "k9", claims()))  # a key id the ring does not have
    assert not valid(signed(b"b" * 32, "dt1", "k1", claims()))  # another key
    assert not valid(signed(key, "dt1", "k1", claims(user="bob")))
    for broken in ({"iat": claims()["iat"], "exp": claims()["exp"]},  # no user
                   {"u": "alice", "exp": claims()["exp"]}, {"u": "alice", "iat": claims()["iat"]},
                   {"u": "alice", "iat": "x", "exp": claims()["exp"]}):
        assert not valid(signed(key, "dt1", "k1", broken))
    token = signed(key, "dt1", "k1", claims())
    assert not valid(token + ".x") and not valid(token.rsplit(".", 1)[0]) and not valid(None) and not valid(7)
    body, mac = token.rsplit(".", 1)
    assert not valid(f"{body}.{mac[:-2]}")
    payload = b64(b"not json")
    forged = f"dt1.k1.{payload}"
    assert not valid(f"{forged}.{b64(hmac.new(key, b'twostep/device-token/v1' + bytes(1) + forged.encode(), hashlib.sha256).digest())}")


def test_an_older_key_still_verifies_after_rotation():
    token, _ = device_tokens.issue(KEYS, "alice", T0, 14)
    rotated = Keyring((("k2", b"c" * 32), ("k1", b"a" * 32)))
    assert valid(token, keys=rotated)
    assert device_tokens.issue(rotated, "alice", T0, 14)[0].split(".")[1] == "k2"
    assert not valid(token, keys=Keyring((("k2", b"c" * 32),)))


@pytest.mark.parametrize("user", ["alice", "bob@contoso.com", "a.b+c"])
def test_each_token_is_unique(user):
    tokens = {device_tokens.issue(KEYS, user, T0, 14)[0] for _ in range(20)}
    assert len(tokens) == 20 and all(valid(t, user=user) for t in tokens)
    nonces = {json.loads(base64.urlsafe_b64decode(t.split(".")[2] + "==="))["n"] for t in tokens}
    assert len(nonces) == 20 and {len(n) for n in nonces} == {16}  # 64 random bits each
