"""Races through the dev host over real HTTP: one approval from 20 concurrent right answers (C3), one
bypass use from 20 concurrent begins (B2), and no lost failure count from 50 concurrent wrong guesses
(L3). Each relies on ETag-conditional writes: without them these tests fail."""
from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from azure.data.tables import TableClient

from tests.conftest import app_env
from tests.helpers import other_code
from tests.integration.api_client import Api, pinned_api
from tools import azurite as azurite_tool


@pytest.fixture(scope="module")
def api(devhost, emulator) -> Iterator[Api]:
    with pinned_api(devhost, emulator.url) as api:
        yield api


def parallel(n: int, fn) -> list:
    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(fn, range(n)))


def test_twenty_concurrent_right_answers_approve_once(api):  # C3
    secret = api.enrol_totp("race-verify")
    cid = api.begin("race-verify").json()["challengeId"]
    code = api.totp(secret)
    results = parallel(20, lambda _: api.call("POST", f"/api/v1/challenges/{cid}/verify", json={"code": code}))
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(200) == 1, statuses
    assert all(r.json()["code"] == "already_used" for r in results if r.status_code != 200)
    assert statuses.count(410) == 19


def test_twenty_concurrent_begins_use_a_bypass_once(api):  # B2
    api.enrol_totp("race-bypass")
    assert api.admin("POST", "/api/v1/admin/users/race-bypass/bypass",
                     json={"seconds": 300, "reason": "race test"}).status_code == 201
    results = parallel(20, lambda _: api.begin("race-bypass"))
    bodies = [r.json() for r in results]
    assert sum(b.get("reason") == "bypass" for b in bodies) == 1, bodies
    assert sum(r.status_code == 201 for r in results) == 19
    events = [e["event"] for e in api.admin("GET", "/api/v1/admin/users/race-bypass/audit").json()["events"]]
    assert events.count("bypass_used") == 1


@pytest.fixture(scope="module")
def stress(start_devhost, emulator):
    """A host with limits raised within their bounds so 50 failures fit (10 attempts per challenge, lock
    at 100), on an Azurite of its own: two hosts on one queue would take each other's messages."""
    store = azurite_tool.start_azurite(*(azurite_tool.free_port() for _ in range(3)))
    env = app_env(store, emulator, MFA_TABLE_NAME="stress", MFA_MAX_ATTEMPTS="10", MFA_LOCKOUT_THRESHOLD="100")
    with pinned_api(start_devhost(env), emulator.url) as api:
        yield api, env
    store.stop()


def test_fifty_concurrent_wrong_guesses_count_fifty(stress):  # L3
    api, env = stress
    secret = api.enrol_totp("race-fail")
    # The clock is pinned: the window is this step and the enrolment's (a replay), so only this step's
    # code could approve.
    wrong = other_code(api.totp(secret))
    cids = [api.begin("race-fail").json()["challengeId"] for _ in range(5)]
    results = parallel(50, lambda i: api.call("POST", f"/api/v1/challenges/{cids[i % 5]}/verify", json={"code": wrong}))
    assert sorted({r.status_code for r in results}) == [403], [r.text for r in results if r.status_code != 403]
    remaining = sorted(r.json()["attemptsRemaining"] for r in results)
    assert remaining == sorted(list(range(10)) * 5)  # each challenge saw exactly 10 distinct failures
    table = TableClient.from_connection_string(env["AzureWebJobsStorage"], "stress")
    assert table.get_entity("race-fail", "profile")["failures"] == 50
