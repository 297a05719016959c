"""D2: every error leaves as problem+json with a generic detail; nothing from an exception reaches the
client. B1 (Entra half): with platform authentication on, admin calls need the admin app role."""
import base64
import json

import azure.functions as func
import pytest

from functions.admin_auth import admin_actor
from functions.http import endpoint, location
from functions.results import answer
from shared.kernel.errors import ConfigError, Forbidden, KeyNotListed, Locked, SealedValueUnreadable, StorageUnavailable
from shared.kernel.results import ChallengeStarted, CodeSent, NotRequired, SecretIssued
from shared.settings import load_settings
from tests.unit.test_config import GOOD


def call(exc: Exception) -> func.HttpResponse:
    @endpoint
    def handler(req):
        raise exc

    return handler(func.HttpRequest("GET", "http://x/api/y", body=b""))


def test_unexpected_exception_is_a_generic_500():
    r = call(RuntimeError("connection string AccountKey=abc and code 123456"))
    body = json.loads(r.get_body())
    assert r.status_code == 500 and r.mimetype == "application/problem+json"
    assert body["code"] == "internal_error" and "AccountKey" not in r.get_body().decode()
    assert "123456" not in r.get_body().decode() and "Traceback" not in r.get_body().decode()


def test_config_error_is_503_without_the_setting_text():
    r = call(ConfigError("MFA_HMAC_KEYS is an unresolved Key Vault reference"))
    assert r.status_code == 503 and json.loads(r.get_body())["code"] == "misconfigured"
    assert b"MFA_HMAC_KEYS" not in r.get_body()


@pytest.mark.parametrize(("exc", "code"), [(KeyNotListed(), "misconfigured"),
                                           (SealedValueUnreadable(), "stored_data_unreadable")])
def test_crypto_errors_are_mapped_to_their_503_at_the_edge(exc, code):
    r = call(exc)
    assert (r.status_code, r.mimetype, json.loads(r.get_body())["code"]) == (503, "application/problem+json", code)


def test_retry_after_header_for_lock_and_outage():
    assert call(Locked(retry_after=900)).headers["Retry-After"] == "900"
    r = call(StorageUnavailable(retry_after=2))
    assert r.status_code == 503 and r.headers["Retry-After"] == "2"
    assert r.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("url", ["https://mfa.example/api/v1/challenges?code=SECRETKEY",
                                 "https://mfa.example/api/v1/challenges/", "http://127.0.0.1:7071/api/v1/challenges"])
def test_location_is_the_route_path_plus_the_id_never_the_query(url):
    req = func.HttpRequest("POST", url, body=b"")
    assert location(req, "c-1") == {"Location": "/api/v1/challenges/c-1"}


@pytest.mark.parametrize(("result", "status", "located"), [
    (ChallengeStarted({"challengeId": "c-1"}), 201, True), (CodeSent({"challengeId": "c-1"}), 202, False),
    (SecretIssued({"challengeId": "c-1", "secret": "S"}), 201, False), (NotRequired("bypass"), 200, False)])
def test_functions_alone_turn_a_typed_result_into_status_body_and_location(result, status, located):
    r = answer(func.HttpRequest("POST", "https://mfa.example/api/v1/challenges?code=K", body=b""), result)
    assert (r.status_code, json.loads(r.get_body())) == (status, result.view)
    assert r.headers.get("Location") == ("/api/v1/challenges/c-1" if located else None)
    assert r.headers["Cache-Control"] == "no-store"


def test_not_required_carries_its_reason_in_the_documented_body():
    assert NotRequired("trusted_network").view == {"status": "not_required", "reason": "trusted_network"}


def principal(*roles: str) -> str:
    claims = [{"typ": "roles", "val": role} for role in roles] + [{"typ": "name", "val": "Ops"}]
    return base64.b64encode(json.dumps({"auth_typ": "aad", "claims": claims}).encode()).decode()


class TestEntraAdminRole:
    settings = load_settings({**GOOD, "WEBSITE_AUTH_ENABLED": "true"})

    def test_key_only_when_platform_auth_is_off(self):
        assert admin_actor({}, load_settings(GOOD)) == "admin-key"

    @pytest.mark.parametrize("headers", [{}, {"x-ms-client-principal": principal("Reader")},
                                         {"x-ms-client-principal": "not base64!"},
                                         {"x-ms-client-principal": base64.b64encode(b"[1]").decode()}])
    def test_missing_or_wrong_role_is_forbidden(self, headers):
        with pytest.raises(Forbidden):
            admin_actor(headers, self.settings)

    def test_admin_role_names_the_operator(self):
        headers = {"x-ms-client-principal": principal("Twostep.Admin"),
                   "x-ms-client-principal-name": "ops@contoso.com"}
        assert admin_actor(headers, self.settings) == "ops@contoso.com"


def test_every_endpoint_runs_under_a_storage_budget_inside_the_function_timeout():  # Q5
    from shared import clients

    seen: list[float | None] = []

    @endpoint
    def handler(req: func.HttpRequest) -> func.HttpResponse:
        seen.append(clients._remaining())
        return func.HttpResponse(status_code=204)

    assert clients._remaining() is None
    handler(func.HttpRequest("GET", "/api/x", body=b""))
    assert seen[0] is not None and 0 < seen[0] <= clients.REQUEST_BUDGET < 30  # host.json functionTimeout
    assert clients._remaining() is None  # cleared after the request
