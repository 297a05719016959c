"""Errors a newcomer can act on, over real HTTP through the dev host: the host's own refusals (no or a
wrong key, an unknown route, a wrong method) are problem+json that say what to fix."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.api_client import Api, pinned_api
from tests.integration.test_http_api import is_problem


@pytest.fixture(scope="module")
def api(devhost, emulator) -> Iterator[Api]:
    with pinned_api(devhost, emulator.url) as api:
        yield api


def test_a_missing_or_wrong_key_is_a_401_problem_naming_the_key(api):
    for key in (None, "wrong"):
        r = api.call("GET", "/api/v1/users/ann", key=key)
        assert is_problem(r, 401, "unauthorized")
        assert "function key" in r.json()["detail"] and "x-functions-key" in r.json()["detail"]
        r = api.call("GET", "/api/v1/admin/keys", key=key)
        assert is_problem(r, 401, "unauthorized")
        assert "master key" in r.json()["detail"]


def test_an_unknown_route_is_a_404_problem(api):
    assert is_problem(api.call("GET", "/api/v1/nothing-here"), 404, "not_found")


def test_a_wrong_method_is_a_405_problem_with_allow(api):
    r = api.call("PUT", "/api/health")
    assert is_problem(r, 405, "method_not_allowed")
    assert r.headers["Allow"] and r.headers["Allow"] in r.json()["detail"]


def test_step_up_required_says_why(api):
    user = "errors-stepup"
    api.enrol_totp(user)
    r = api.call("POST", f"/api/v1/users/{user}/totp", json={})
    assert is_problem(r, 403, "step_up_required")
    assert r.json()["reason"] == "missing" and "no proofChallengeId" in r.json()["detail"]
