"""B1 (Entra half) over HTTP through the dev host: with MFA_ADMIN_ENTRA_REQUIRED set and the platform's
authentication not active (no WEBSITE_AUTH_ENABLED, as on a plan where App Service authentication did not
switch on), a forged X-MS-CLIENT-PRINCIPAL plus the master key opens no admin route and writes nothing;
without the setting the forged header is ignored and the call is recorded as the master key's."""
from __future__ import annotations

import base64
import json

import pytest

from tests.conftest import app_env
from tests.integration.api_client import Api
from tests.integration.test_http_api import is_problem
from tools import azurite as azurite_tool

FORGED = {
    "x-ms-client-principal": base64.b64encode(json.dumps(
        {"auth_typ": "aad", "claims": [{"typ": "roles", "val": "Twostep.Admin"}]}).encode()).decode(),
    "x-ms-client-principal-name": "mallory@evil.test",
    "x-ms-client-principal-idp": "aad",
}
USER = "entra-target@contoso.com"


@pytest.fixture(scope="module")
def hosts(start_devhost, emulator):
    """Two hosts on one Azurite and one table: `required` as the template configures Entra protection,
    `plain` without it (to look at what the refused calls left behind)."""
    store = azurite_tool.start_azurite(*(azurite_tool.free_port() for _ in range(3)))
    env = app_env(store, emulator, MFA_TABLE_NAME="entraadmin")
    env.pop("WEBSITE_AUTH_ENABLED", None)
    plain = start_devhost(env)
    required = start_devhost({**env, "MFA_ADMIN_ENTRA_REQUIRED": "true"})
    yield Api(plain.url, emulator.url), Api(required.url, emulator.url)
    store.stop()


def test_forged_principal_opens_no_admin_route_when_entra_is_required(hosts):
    plain, required = hosts
    assert plain.admin("PUT", f"/api/v1/admin/users/{USER}/groups", json={"groups": ["staff"]}).status_code == 200
    attempts = [
        ("POST", f"/api/v1/admin/users/{USER}/bypass", {"seconds": 300, "reason": "forged"}),
        ("GET", f"/api/v1/admin/users/{USER}/bypass", None),
        ("POST", f"/api/v1/admin/users/{USER}/unblock", None),
        ("GET", f"/api/v1/admin/users/{USER}/audit", None),
        ("PUT", f"/api/v1/admin/users/{USER}/groups", {"groups": ["break-glass"]}),
        ("GET", "/api/v1/admin/policy", None),
    ]
    for method, path, body in attempts:
        for headers in (dict(FORGED), {}):
            r = required.admin(method, path, headers=headers, json=body)
            assert is_problem(r, 403, "forbidden"), (method, path)
            assert "mallory" not in r.text
    assert plain.admin("GET", f"/api/v1/admin/users/{USER}/bypass").json() == {"bypasses": []}
    events = plain.admin("GET", f"/api/v1/admin/users/{USER}/audit").json()["events"]
    assert [e["event"] for e in events] == ["groups_changed"], "a refused admin call wrote something"
    # Application routes are not affected by the admin setting.
    assert required.call("GET", "/api/health", key=None).status_code == 200


def test_forged_principal_is_ignored_without_platform_auth(hosts):
    plain, _ = hosts
    r = plain.admin("POST", f"/api/v1/admin/users/{USER}/revoke-sessions", headers=dict(FORGED))
    assert r.status_code == 200
    events = plain.admin("GET", f"/api/v1/admin/users/{USER}/audit").json()["events"]
    actors = {e["event"]: e["actor"] for e in events}
    assert actors["sessions_revoked"] == "admin-key", "the forged principal name reached the audit record"
