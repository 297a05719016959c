"""A1 and B1 over HTTP through the dev host, for EVERY admin route: the list comes from the function app's own
metadata (code_facts.admin_routes: each route at auth level ADMIN), never from a list kept here.

No key, a wrong key or the applications' function key gets 401 and writes nothing; with
MFA_ADMIN_ENTRA_REQUIRED set and the platform's authentication not active (no WEBSITE_AUTH_ENABLED, as on a
plan where App Service authentication did not switch on) a forged X-MS-CLIENT-PRINCIPAL plus the master key
gets 403, even with a malformed body (authorization comes first); with the platform's authentication active
a principal without the admin role, or not an Entra one, gets 403. A control call per route (the master key,
or the admin principal) shows that the same request is otherwise served, so each refusal is the
credential's doing. Without the setting the forged header is ignored and the call is the master key's."""
from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableServiceClient

from tests.conftest import FUNCTION_KEY, MASTER_KEY, app_env
from tests.infra import code_facts
from tests.infra.code_facts import HttpRoute
from tests.integration.api_client import Api
from tests.integration.test_http_api import is_problem
from tools import azurite as azurite_tool


def principal(*roles: str, auth_typ: str = "aad") -> str:
    claims = [{"typ": "roles", "val": role} for role in roles]
    return base64.b64encode(json.dumps({"auth_typ": auth_typ, "claims": claims}).encode()).decode()


ADMIN_ROLE = "Twostep.Admin"  # MFA_ADMIN_ROLE's default
FORGED = {"x-ms-client-principal": principal(ADMIN_ROLE), "x-ms-client-principal-name": "mallory@evil.test",
          "x-ms-client-principal-idp": "aad"}
OPERATOR = {"x-ms-client-principal": principal(ADMIN_ROLE), "x-ms-client-principal-name": "ops@contoso.com"}
NOT_ADMIN = [{"x-ms-client-principal": principal("Reader"), "x-ms-client-principal-name": "reader@contoso.com"},
             {"x-ms-client-principal": principal(ADMIN_ROLE, auth_typ="github"),
              "x-ms-client-principal-name": "octocat"}, {}]
USER = "entra-target@contoso.com"
ROUTE_PARAMS = {"userId": USER, "methodType": "totp", "deviceId": "AAAAAAAAAAAAAAAA", "passkeyId": "AAAAAAAAAAAAAAAA"}
CSV = ("upn,serial number,secret key,time interval,manufacturer,model\r\n"
       f"{USER},A1-0001,{base64.b32encode(bytes(range(20))).decode()},30,Contoso,HardwareKey\r\n").encode()
# A minimal valid body for each route that reads one (by function name); `test_the_samples_are_served`
# fails for a new admin route that needs a body and has none here.
BODIES = {"create_bypass": {"seconds": 60, "reason": "A1"}, "set_user_groups": {"groups": ["staff"]},
          "patch_policy": {"rememberDeviceDays": 0}, "issue_access_pass": {"reason": "A1"},
          "admin_remove_method": {"reason": "A1"}, "admin_remove_device": {"reason": "A1"},
          "import_oath_tokens": CSV, "unblock_user": {"reason": "A1"}, "erase_user": {"reason": "A1"},
          "admin_delete_passkey": {"reason": "A1"}}
QUERIES = {"list_users": "?state=locked"}  # a query a route needs, by function name


def calls() -> list[tuple[str, str, HttpRoute]]:
    """(method, path, route) for every method of every admin route, route parameters filled in."""
    found = []
    for route in code_facts.admin_routes():
        path = "/api/" + re.sub(r"\{(\w+)[^}]*\}", lambda m: ROUTE_PARAMS[m.group(1)], route.template)
        path += QUERIES.get(route.name, "")
        found += [(method, path, route) for method in route.methods or ("GET", "POST", "PUT", "PATCH", "DELETE")]
    return found


def send(api: Api, method: str, path: str, route: HttpRoute, key: str | None, headers: dict[str, str],
         body: object = None):
    body = BODIES.get(route.name) if body is None else body
    if isinstance(body, bytes):
        return api.call(method, path, key=key, headers=dict(headers), data=body)
    return api.call(method, path, key=key, headers=dict(headers), json=body)


@dataclass
class Hosts:
    """Three dev hosts on one Azurite, each on its own table: `plain` (the master key only); `required` (as
    the template configures Entra protection, the platform's authentication not active); `platform` (its
    authentication active, so the principal header is read)."""

    store: Any
    plain: Api
    required: Api
    platform: Api

    def rows(self, api: Api) -> list[tuple[str, str, str]]:
        """The rows of `api`'s table with their ETags: what a refused call must leave as it was."""
        service = TableServiceClient.from_connection_string(self.store.connection_string)
        try:
            return sorted((e["PartitionKey"], e["RowKey"], e.metadata["etag"])
                          for e in service.get_table_client(TABLES[api.base]).list_entities())
        except ResourceNotFoundError:
            return []


TABLES: dict[str, str] = {}  # host URL -> its table


@pytest.fixture(scope="module")
def hosts(start_devhost, emulator) -> Iterator[Hosts]:
    store = azurite_tool.start_azurite(*(azurite_tool.free_port() for _ in range(3)))
    env = app_env(store, emulator)
    env.pop("WEBSITE_AUTH_ENABLED", None)
    apis = []
    for table, extra in (("a1plain", {}), ("a1required", {"MFA_ADMIN_ENTRA_REQUIRED": "true"}),
                         ("a1platform", {"MFA_ADMIN_ENTRA_REQUIRED": "true", "WEBSITE_AUTH_ENABLED": "true"})):
        host = start_devhost({**env, "MFA_TABLE_NAME": table, **extra})
        TABLES[host.url] = table
        apis.append(Api(host.url, emulator.url))
    yield Hosts(store, *apis)
    store.stop()


def test_every_admin_route_gets_a_request_with_its_parameters_filled_in():
    """A new route parameter needs a sample in ROUTE_PARAMS (a KeyError here otherwise)."""
    names = {route.name for _, _, route in calls()}
    assert names == {route.name for route in code_facts.admin_routes()} and names
    assert not [path for _, path, _ in calls() if "{" in path or not path.startswith("/api/v1/admin/")]


def test_no_admin_route_answers_without_the_master_key(hosts):
    for api in (hosts.plain, hosts.required, hosts.platform):
        before = hosts.rows(api)
        for method, path, route in calls():
            for key in (None, "wrong", FUNCTION_KEY):
                r = send(api, method, path, route, key, OPERATOR)
                assert r.status_code == 401, (TABLES[api.base], method, path, key, r.status_code)
        assert hosts.rows(api) == before, "a call without the master key wrote something"


def test_forged_principal_opens_no_admin_route_when_entra_is_required(hosts):
    required = hosts.required
    before = hosts.rows(required)
    for method, path, route in calls():
        for headers in (FORGED, {}):
            r = send(required, method, path, route, MASTER_KEY, headers)
            assert is_problem(r, 403, "forbidden"), (method, path)
            assert "mallory" not in r.text
        r = required.call(method, path, key=MASTER_KEY, headers=dict(FORGED), data=b"{not json")
        assert is_problem(r, 403, "forbidden"), (method, path, "the body was read before the operator")
    assert hosts.rows(required) == before, "a refused admin call wrote something"


def test_a_principal_without_the_admin_role_opens_no_admin_route(hosts):
    platform = hosts.platform
    before = hosts.rows(platform)
    for method, path, route in calls():
        for headers in NOT_ADMIN:
            r = send(platform, method, path, route, MASTER_KEY, headers)
            assert is_problem(r, 403, "forbidden"), (method, path, headers)
    assert hosts.rows(platform) == before, "a refused admin call wrote something"


def test_the_samples_are_served_with_the_credential(hosts):
    """The controls: the same calls with the admin credential are served (not 400, 401, 403, 413 or 5xx), so
    the refusals above were the credential's doing; the platform's operator is the actor in the audit."""
    for api, headers in ((hosts.plain, {}), (hosts.platform, OPERATOR)):
        assert api.admin("PUT", f"/api/v1/admin/users/{USER}/groups", headers=dict(headers),
                         json={"groups": ["staff"]}).status_code == 200
        for method, path, route in calls():
            r = send(api, method, path, route, MASTER_KEY, headers)
            assert r.status_code < 500 and r.status_code not in (400, 401, 403, 413), \
                (TABLES[api.base], method, path, r.status_code, r.text)
        events = api.admin("GET", f"/api/v1/admin/users/{USER}/audit", headers=dict(headers)).json()["events"]
        assert {e["actor"] for e in events} == {"ops@contoso.com" if headers else "admin-key"}


def test_forged_principal_is_ignored_without_platform_auth(hosts):
    plain = hosts.plain
    assert plain.admin("PUT", f"/api/v1/admin/users/{USER}/groups", json={"groups": ["staff"]}).status_code == 200
    r = plain.admin("POST", f"/api/v1/admin/users/{USER}/revoke-sessions", headers=dict(FORGED))
    assert r.status_code == 200
    events = plain.admin("GET", f"/api/v1/admin/users/{USER}/audit").json()["events"]
    actors = {e["event"]: e["actor"] for e in events}
    assert actors["sessions_revoked"] == "admin-key", "the forged principal name reached the audit record"
    # Application routes are not affected by the admin setting.
    assert hosts.required.call("GET", "/api/health", key=None).status_code == 200
