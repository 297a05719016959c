"""Values matched whole (C10), one spelling per challenge id (C12) and case-insensitive user ids (C13),
through the dev host over real HTTP against Azurite and the SMS emulator."""
from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator

import pytest

from tests.helpers import secret_bytes
from tests.integration.api_client import Api, pinned_api
from tests.integration.test_oath import CSV, new_secret, row, upload


@pytest.fixture(scope="module")
def api(devhost, emulator) -> Iterator[Api]:
    with pinned_api(devhost, emulator.url) as api:
        yield api


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def problem_code(r) -> str | None:
    return r.json().get("code") if r.content else None


# Every route that names a user in its path, with a body it accepts.
USER_ROUTES = [
    ("GET", "/api/v1/users/{u}", None, False),
    ("POST", "/api/v1/users/{u}/phone", {"phoneNumber": "+14255550100"}, False),
    ("POST", "/api/v1/users/{u}/totp", {}, False),
    ("DELETE", "/api/v1/users/{u}/methods/totp", {}, False),
    ("POST", "/api/v1/admin/users/{u}/bypass", {"seconds": 60, "reason": "x"}, True),
    ("GET", "/api/v1/admin/users/{u}/bypass", None, True),
    ("DELETE", "/api/v1/admin/users/{u}/bypass", None, True),
    ("POST", "/api/v1/admin/users/{u}/unblock", {"reason": "x"}, True),
    ("GET", "/api/v1/admin/users/{u}/audit", None, True),
    ("PUT", "/api/v1/admin/users/{u}/groups", {"groups": ["g"]}, True),
    ("GET", "/api/v1/admin/users/{u}/groups", None, True),
    ("DELETE", "/api/v1/admin/users/{u}", {"reason": "x"}, True),
    ("POST", "/api/v1/admin/users/{u}/revoke-sessions", None, True),
]


class TestWholeMatch:  # C10
    @pytest.mark.parametrize("suffix", ["%0A", "%0D", "%0D%0A", "%09", "%00", "%7F"])
    @pytest.mark.parametrize("method,path,body,admin", USER_ROUTES)
    def test_user_id_with_a_control_character_is_400_on_every_route(self, api, suffix, method, path, body, admin):
        call = api.admin if admin else api.call
        r = call(method, path.format(u="alice" + suffix), json=body)
        assert r.status_code == 400 and problem_code(r) == "invalid_request", (path, suffix, r.status_code, r.text)

    @pytest.mark.parametrize("user", ["alice\n", "alice\r\n", "\nalice", "alice\t"])
    def test_begin_with_a_control_character_in_the_user_id_is_400(self, api, user):
        r = api.begin(user)
        assert r.status_code == 400 and problem_code(r) == "invalid_request", r.text

    @pytest.mark.parametrize("tail", ["\n", "\r\n", " ", "\t"])
    def test_a_right_code_with_trailing_whitespace_is_400_and_uses_no_attempt(self, api, tail):
        user = unique("whole")
        secret = api.enrol_totp(user)
        ch = api.begin(user).json()
        code = api.totp(secret)
        r = api.call("POST", f"/api/v1/challenges/{ch['challengeId']}/verify", json={"code": code + tail})
        assert r.status_code == 400 and problem_code(r) == "invalid_request", r.text
        got = api.call("GET", f"/api/v1/challenges/{ch['challengeId']}").json()
        assert got["attemptsRemaining"] == 5 and got["status"] == "pending"


def respell_with_trailing_bits(encoded: str) -> str:
    """Another base64url spelling of the same bytes: set the unused low bits of the last character."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    spare = {2: 4, 3: 2}[len(encoded) % 4]  # 1 byte left over -> 4 spare bits, 2 bytes -> 2 spare bits
    last = alphabet.index(encoded[-1])
    variant = encoded[:-1] + alphabet[last | (2 ** spare - 1)]
    assert variant != encoded
    assert base64.urlsafe_b64decode(variant + "=" * (-len(variant) % 4)) == \
        base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    return variant


class TestOneSpelling:  # C12
    def test_non_canonical_encodings_of_the_user_part_are_404(self, api):
        user = "ab" + uuid.uuid4().hex[:6]  # 8 bytes: 11 characters, the last with 2 spare bits
        api.enrol_totp(user)
        cid = api.begin(user).json()["challengeId"]
        encoded, token = cid.split(".")
        assert len(encoded) % 4 in (2, 3)
        assert api.call("GET", f"/api/v1/challenges/{cid}").status_code == 200
        padded = encoded + "=" * (-len(encoded) % 4)
        upper = base64.urlsafe_b64encode(user.upper().encode()).decode().rstrip("=")
        for spelling in (respell_with_trailing_bits(encoded), padded.replace("=", "%3D"), upper):
            other = f"{spelling}.{token}"
            for r in (api.call("GET", f"/api/v1/challenges/{other}"),
                      api.call("POST", f"/api/v1/challenges/{other}/verify", json={"code": "123456"}),
                      api.call("POST", f"/api/v1/challenges/{other}/report-fraud")):
                assert r.status_code == 404 and problem_code(r) == "not_found", (spelling, r.status_code, r.text)
        got = api.call("GET", f"/api/v1/challenges/{cid}").json()
        assert got["status"] == "pending" and got["attemptsRemaining"] == 5  # nothing reached the challenge


class TestCaseInsensitiveIds:  # C13
    def test_case_variants_are_one_user_on_every_route(self, api):
        base = unique("Mixed.Case")
        upper, lower = f"{base.upper()}@CONTOSO.COM", f"{base.lower()}@contoso.com"
        r = api.call("POST", f"/api/v1/users/{base}@Contoso.com/totp", json={})
        assert r.status_code == 201
        assert f"{base.lower()}%40contoso.com" in r.json()["otpauthUri"]  # the label is the stored id
        secret = secret_bytes(r.json()["secret"])
        v = api.call("POST", f"/api/v1/challenges/{r.json()['challengeId']}/verify",
                     json={"code": api.totp(secret, steps=-1)})
        assert v.status_code == 200 and v.json()["userId"] == lower
        for spelling in (upper, lower, f"{base}@contoso.COM"):
            got = api.call("GET", f"/api/v1/users/{spelling}")
            assert got.status_code == 200 and got.json()["userId"] == lower
        ch = api.begin(upper)
        assert ch.status_code == 201, ch.text  # not 409 not_enrolled: the same, enrolled account
        assert ch.json()["challengeId"].split(".")[0] == \
            base64.urlsafe_b64encode(lower.encode()).decode().rstrip("=")
        ok = api.call("POST", f"/api/v1/challenges/{ch.json()['challengeId']}/verify",
                      json={"code": api.totp(secret)})
        assert ok.status_code == 200 and ok.json()["userId"] == lower
        # a second app for the "other" spelling is a change to this user: it needs a step-up
        assert api.call("POST", f"/api/v1/users/{upper}/totp", json={}).json()["code"] == "step_up_required"
        bp = api.admin("POST", f"/api/v1/admin/users/{upper}/bypass", json={"seconds": 60, "reason": "case"})
        assert bp.status_code == 201 and bp.json()["userId"] == lower
        api.clock.advance(1)  # the audit lists newest first: give the bypass use its own second
        assert api.begin(f"{base}@contoso.com").json() == {"status": "not_required", "reason": "bypass"}
        events = api.admin("GET", f"/api/v1/admin/users/{upper}/audit").json()["events"]
        assert events[0]["event"] == "bypass_used"
        groups = api.admin("PUT", f"/api/v1/admin/users/{upper}/groups", json={"groups": ["g"]})
        assert groups.json()["userId"] == lower

    def test_oath_import_folds_the_upn_column(self, api):
        base = unique("Hw.User")
        serial, secret = uuid.uuid4().hex[:12], new_secret()
        r = api.admin("POST", "/api/v1/admin/oath-tokens", data=upload(row(f"{base}@Contoso.com", serial, secret)),
                      headers=dict(CSV))
        assert r.status_code == 201, r.text
        lower = f"{base.lower()}@contoso.com"
        assert r.json()["tokens"] == [{"upn": lower, "serial": serial, "timeInterval": 60}]
        ch = api.begin(f"{base.upper()}@CONTOSO.COM", method="totp")
        assert ch.status_code == 201, ch.text
        v = api.call("POST", f"/api/v1/challenges/{ch.json()['challengeId']}/verify",
                     json={"code": api.totp(secret_bytes(secret), period=60)})
        assert v.status_code == 200 and v.json()["userId"] == lower

    def test_two_rows_for_case_variants_count_as_one_user(self, api):
        base = unique("cap")
        rows = [row(f"{base}{'X' if i % 2 else 'x'}@contoso.com", uuid.uuid4().hex[:12]) for i in range(6)]
        r = api.admin("POST", "/api/v1/admin/oath-tokens", data=upload(*rows), headers=dict(CSV))
        assert r.status_code == 400 and "at most 5" in r.text, r.text  # six tokens for one user


def test_access_log_escapes_control_characters(api, devhost):
    marker = unique("forged")
    r = api.call("GET", f"/api/v1/users/x%0A[{marker}]%20GET%20health%20200%0D%1B[2J")
    assert r.status_code == 400
    logs = devhost.logs()
    assert f"x\\x0a[{marker}] GET health 200\\x0d\\x1b[2J" in logs
    assert not any(line.startswith(f"[{marker}]") for line in logs.splitlines())
