"""The key routes over real HTTP through the dev host: admin-only, validated input, and a
stored value that does not open answers a 503 problem (never a 500) with the operator's log line."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from azure.data.tables import TableClient, UpdateMode

from tests.integration.api_client import Api, fresh_phone, pinned_api
from tests.integration.test_http_api import is_problem


@pytest.fixture(scope="module")
def api(devhost, emulator) -> Iterator[Api]:
    with pinned_api(devhost, emulator.url) as api:
        yield api


def test_key_routes_are_admin_only(api):
    for method, path in (("GET", "/api/v1/admin/keys"), ("POST", "/api/v1/admin/keys/reseal")):
        assert api.call(method, path).status_code in (401, 403)
        assert api.call(method, path, key=None).status_code == 401


def test_status_and_a_bounded_run(api):
    api.enrol_totp("kira")
    r = api.admin("GET", "/api/v1/admin/keys")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["encryption"]["current"] == "test1" and body["encryption"]["remaining"] == {}
    assert body["encryption"]["underCurrent"] >= 1 and body["scan"]["complete"] is True
    run = api.admin("POST", "/api/v1/admin/keys/reseal", json={"maxRows": 1})
    assert run.status_code == 200 and run.json()["rowsScanned"] == 1, run.text
    assert api.admin("POST", "/api/v1/admin/keys/reseal").status_code == 200  # body optional


@pytest.mark.parametrize("body", [{"maxRows": 0}, {"maxRows": 1001}, {"maxRows": "5"}, {"maxRows": True}])
def test_run_size_is_validated(api, body):
    assert is_problem(api.admin("POST", "/api/v1/admin/keys/reseal", json=body), 400, "invalid_request")


def test_tampered_stored_phone_is_a_logged_503(api, devhost, base_env):
    phone = fresh_phone()
    api.enrol_sms("tamsin", phone)
    table = TableClient.from_connection_string(base_env["AzureWebJobsStorage"], "httpapi")
    row = table.get_entity("tamsin", "profile")
    kid, _, blob = row["phone"].partition(":")
    flipped = blob[:20] + ("A" if blob[20] != "A" else "B") + blob[21:]
    for value in (f"{kid}:{flipped}", f"{kid}:{blob[:-4]}", "garbage"):
        table.update_entity({"PartitionKey": "tamsin", "RowKey": "profile", "phone": value}, mode=UpdateMode.MERGE)
        r = api.begin("tamsin", method="sms")
        assert is_problem(r, 503, "stored_data_unreadable")
    logs = devhost.logs()
    assert "crypto_failure: stored profile value for phone under key id test1" in logs
    assert phone not in logs and phone[2:] not in logs and blob not in logs
