"""C8 (RFC vectors through the project's own OTP path), C6 (window and replay rule), C7 (secret size)."""
from datetime import datetime, timezone

import pytest

from shared.crypto import otp

RFC4226_SECRET = b"12345678901234567890"
RFC4226_HOTP = ["755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871",
                "520489"]
SEEDS = {
    "SHA1": b"12345678901234567890",
    "SHA256": b"12345678901234567890123456789012",
    "SHA512": b"1234567890123456789012345678901234567890123456789012345678901234",
}
RFC6238 = [  # (unix time, SHA1, SHA256, SHA512), RFC 6238 Appendix B
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


@pytest.mark.parametrize("counter,expected", list(enumerate(RFC4226_HOTP)))
def test_rfc4226_appendix_d(counter, expected):
    assert otp.hotp(RFC4226_SECRET, counter, 6, "SHA1") == expected


@pytest.mark.parametrize("unix,sha1,sha256,sha512", RFC6238)
def test_rfc6238_appendix_b(unix, sha1, sha256, sha512):
    at = datetime.fromtimestamp(unix, tz=timezone.utc)
    for algorithm, expected in (("SHA1", sha1), ("SHA256", sha256), ("SHA512", sha512)):
        assert otp.totp(SEEDS[algorithm], at, digits=8, algorithm=algorithm) == expected
        assert otp.match_totp_step(SEEDS[algorithm], expected, at, digits=8, algorithm=algorithm) == unix // 30


def _at(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, tz=timezone.utc)


def test_one_step_back_is_accepted_but_not_two():
    secret = SEEDS["SHA1"]
    now = 1_800_000_015
    previous = otp.totp(secret, _at(now - 30))
    two_back = otp.totp(secret, _at(now - 60))
    assert otp.match_totp_step(secret, previous, _at(now)) == now // 30 - 1
    assert otp.match_totp_step(secret, two_back, _at(now)) is None


def test_no_step_forward():
    secret = SEEDS["SHA1"]
    now = 1_800_000_015
    assert otp.match_totp_step(secret, otp.totp(secret, _at(now + 30)), _at(now)) is None


def test_step_boundaries_follow_the_server_clock():
    secret = SEEDS["SHA1"]
    code = otp.totp(secret, _at(1_800_000_000))  # first second of a step
    assert otp.match_totp_step(secret, code, _at(1_800_000_029)) == 1_800_000_000 // 30
    assert otp.match_totp_step(secret, code, _at(1_800_000_059)) == 1_800_000_000 // 30  # one step back
    assert otp.match_totp_step(secret, code, _at(1_800_000_060)) is None


def test_six_digit_codes_keep_leading_zeros():
    codes = {otp.hotp(RFC4226_SECRET, c) for c in range(2000)}
    assert all(len(c) == 6 for c in codes)
    assert any(c.startswith("0") for c in codes)


def test_totp_secret_is_160_bits_and_unique():
    secrets_seen = {otp.new_totp_secret() for _ in range(200)}
    assert len(secrets_seen) == 200
    assert all(len(s) * 8 >= 160 for s in secrets_seen)


def test_provisioning_uri_names_issuer_account_and_parameters():
    uri = otp.provisioning_uri(SEEDS["SHA1"], "alice@contoso.com", "twostep", 6, "SHA1", 30)
    assert uri.startswith("otpauth://totp/twostep:alice%40contoso.com?")
    assert "secret=" + otp.b32(SEEDS["SHA1"]) in uri
    assert "issuer=twostep" in uri


def test_secrets_are_exactly_160_bits():  # README: 160-bit secrets
    assert {len(otp.new_totp_secret()) for _ in range(20)} == {20}


def test_base32_keeps_every_alphabet_character_and_drops_only_padding():
    assert otp.b32(bytes(19) + b"\x17") == "A" * 31 + "X"  # 0x17: the last five bits name "X"
    assert otp.b32(b"\xff") == "74"  # "74======" without its padding
    assert otp.b32(bytes(4) + b"\x1f") == "AAAAAAA7"


def test_the_default_period_is_30_seconds():
    assert (otp.time_step(_at(29)), otp.time_step(_at(30)), otp.time_step(_at(59)), otp.time_step(_at(60))) == (
        0, 1, 1, 2)
