"""C1 (SMS codes from a keyed PRF over a random id, 6 digits, leading zeros kept), C5 (constant-time
comparison), sealing (C7 encrypted at rest, bound to the owner)."""
import hmac

import pytest

from shared.crypto import keys as crypto
from shared.kernel.errors import CryptoError
from shared.kernel.ids import new_challenge_id

KEY = b"k" * 32


def test_sms_code_is_six_digits_with_leading_zeros_kept():
    codes = [crypto.derive_code(KEY, new_challenge_id("alice")[1], 6) for _ in range(3000)]
    assert all(len(c) == 6 and c.isdigit() for c in codes)
    assert any(c.startswith("0") for c in codes)
    assert len(set(codes)) > 2900  # spread over the space, not a constant


def test_sms_code_depends_on_key_and_challenge():
    ids = [new_challenge_id("alice")[1] for _ in range(20)]
    assert all(crypto.derive_code(KEY, rk, 6) == crypto.derive_code(KEY, rk, 6) for rk in ids)
    other_key = [crypto.derive_code(b"j" * 32, rk, 6) for rk in ids]
    assert sum(a != b for a, b in zip(other_key, (crypto.derive_code(KEY, rk, 6) for rk in ids))) >= 18
    assert len({crypto.derive_code(KEY, rk, 6) for rk in ids}) >= 18
    assert len(crypto.derive_code(KEY, ids[0], 8)) == 8


def test_codes_are_compared_with_compare_digest(monkeypatch):
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(crypto.hmac, "compare_digest", spy)
    assert crypto.codes_equal("123456", "123456")
    assert not crypto.codes_equal("123456", "123457")
    assert len(calls) == 2


def test_sealed_values_open_only_for_their_owner_and_key():
    ring = crypto.Keyring((("k2", b"n" * 32), ("k1", b"o" * 32)))
    sealer = crypto.Sealer(ring)
    token = sealer.seal(b"+14255550100", "twostep/phone/alice")
    assert token.startswith("k2:") and "14255550100" not in token
    assert sealer.open(token, "twostep/phone/alice") == b"+14255550100"
    with pytest.raises(CryptoError):
        sealer.open(token, "twostep/phone/bob")
    rotated = crypto.Sealer(crypto.Keyring((("k3", b"p" * 32), ("k2", b"n" * 32))))
    assert rotated.open(token, "twostep/phone/alice") == b"+14255550100"  # old key still opens
    retired = crypto.Sealer(crypto.Keyring((("k3", b"p" * 32),)))
    with pytest.raises(CryptoError):
        retired.open(token, "twostep/phone/alice")


def test_sms_code_known_answer():
    """The sender re-derives the code from the challenge id, possibly in a newer deployment: the derivation
    is a fixed format (HMAC-SHA256 over label and id, first 64 bits mod 10^digits)."""
    mac = hmac.new(KEY, b"twostep/sms-code/v1\x00" + b"ch-token-1", "sha256").digest()
    value = int.from_bytes(mac[:8], "big")
    assert crypto.derive_code(KEY, "ch-token-1", 6) == str(value % 10**6).zfill(6)
    assert crypto.derive_code(KEY, "ch-token-1", 8) == str(value % 10**8).zfill(8)


def test_blind_index_known_answer_and_separation():
    """Stored lookup keys (e.g. the per-phone limit rows) must not change across deployments."""
    import base64

    mac = hmac.new(KEY, b"twostep/index/v1\x00phone\x00+14255550123", "sha256").digest()
    assert crypto.blind_index(KEY, "phone", "+14255550123") == base64.urlsafe_b64encode(mac[:18]).decode()
    assert len(crypto.blind_index(KEY, "phone", "+14255550123")) == 24
    assert crypto.blind_index(KEY, "phone", "+14255550124") != crypto.blind_index(KEY, "phone", "+14255550123")
    assert crypto.blind_index(KEY, "serial", "+14255550123") != crypto.blind_index(KEY, "phone", "+14255550123")
    assert crypto.blind_index(b"j" * 32, "phone", "+14255550123") != crypto.blind_index(KEY, "phone", "+14255550123")
