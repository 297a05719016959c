"""Operators find and erase users, through the dev host: users listed by state (a signed cursor), a user's
groups read back, a user erased (every row of the partition, the user's OATH index rows, a record outside
the partition holding no plain user id, the event `user.erased`), `unblock` with a required reason, and
the audit listing newest first by each event's last time (a coalesced refusal counts at its last refusal)."""
from __future__ import annotations

import base64
import os
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from azure.data.tables import TableClient

from shared.flows import admin, user_listing
from shared.kernel.errors import Locked, NotFound
from shared.ops import erasure
from tests.integration.api_client import Api, pinned_api
from tests.integration.test_events import queued_events
from tests.integration.test_flows import begin, enrol_app, enrol_sms
from tests.integration.test_http_api import is_problem
from tests.integration.test_refusals import guess_wrong

USERS = "/api/v1/admin/users"


@pytest.fixture(scope="module")
def api(devhost, emulator) -> Iterator[Api]:
    with pinned_api(devhost, emulator.url) as api:
        yield api


@pytest.fixture(scope="module")
def table(base_env) -> TableClient:
    return TableClient.from_connection_string(base_env["AzureWebJobsStorage"], "httpapi")


def new_user(tag: str) -> str:
    return f"{tag}-{os.urandom(3).hex()}@contoso.com"


def blocked_user(api: Api, tag: str) -> str:
    user = new_user(tag)
    api.enrol_totp(user)
    ch = api.begin(user).json()["challengeId"]
    assert api.call("POST", f"/api/v1/challenges/{ch}/report-fraud").status_code == 200
    return user


def import_token(api: Api, user: str) -> None:
    secret = base64.b32encode(os.urandom(20)).decode().rstrip("=")
    csv = ("upn,serial number,secret key,time interval,manufacturer,model\r\n"
           f"{user},{os.urandom(6).hex()},{secret},30,Contoso,HardwareKey\r\n")
    r = api.admin("POST", "/api/v1/admin/oath-tokens", data=csv.encode())
    assert r.status_code == 201, r.text


def listed(api: Api, state: str, limit: int = 1000) -> list[dict]:
    """Every user in a state, following the cursor."""
    users: list[dict] = []
    params: dict[str, str | int] = {"state": state, "limit": limit}
    for _ in range(500):
        r = api.admin("GET", USERS, params=params)
        assert r.status_code == 200, r.text
        users += r.json()["users"]
        if r.json()["cursor"] is None:
            return users
        params["cursor"] = r.json()["cursor"]
    raise AssertionError("the cursor never ended")


class TestUnblockReason:
    def test_unblock_needs_a_reason_and_audits_it(self, api):
        user = blocked_user(api, "unblock")
        assert is_problem(api.admin("POST", f"{USERS}/{user}/unblock"), 400, "invalid_request")
        assert is_problem(api.admin("POST", f"{USERS}/{user}/unblock", json={"reason": ""}), 400, "invalid_request")
        assert is_problem(api.begin(user), 403, "user_blocked")  # nothing changed
        api.clock.advance(1)  # the audit lists newest first: its own second
        r = api.admin("POST", f"{USERS}/{user}/unblock", json={"reason": "fraud report checked, ticket 9"})
        assert r.status_code == 200, r.text
        event = api.admin("GET", f"{USERS}/{user}/audit").json()["events"][0]
        assert event["event"] == "user_unblocked" and event["reason"] == "fraud report checked, ticket 9"


class TestAuditOrder:
    def test_a_coalesced_refusal_is_listed_at_its_last_refusal(self, api):
        api.clock.pin(api.clock.now().replace(second=0) + timedelta(minutes=2))
        user = new_user("order")
        api.enrol_totp(user)
        api.clock.advance(5)
        ch = api.begin(user).json()["challengeId"]
        api.clock.advance(5)  # minute + 10 s: the fraud report blocks the user
        assert api.call("POST", f"/api/v1/challenges/{ch}/report-fraud").status_code == 200
        for _ in range(2):  # minute + 20 s and + 30 s: refused, coalesced in the row of this minute
            api.clock.advance(10)
            assert is_problem(api.begin(user), 403, "user_blocked")
        events = api.admin("GET", f"{USERS}/{user}/audit").json()["events"]
        assert events[0]["event"] == "request_refused" and events[0]["count"] == 2
        assert events[1]["event"] == "fraud_reported"
        times = [e.get("lastAt") or e["at"] for e in events]
        assert times == sorted(times, reverse=True)


class TestGroups:
    def test_groups_read_back(self, api):
        user = new_user("groups")
        assert api.admin("PUT", f"{USERS}/{user}/groups", json={"groups": ["staff", "break-glass"]}).status_code == 200
        r = api.admin("GET", f"{USERS}/{user.upper()}/groups")
        assert r.status_code == 200 and r.json() == {"userId": user, "groups": ["staff", "break-glass"]}

    def test_unknown_user_is_404(self, api):
        assert is_problem(api.admin("GET", f"{USERS}/{new_user('nobody')}/groups"), 404, "not_found")


class TestListing:
    def test_each_state_lists_its_users(self, api):
        blocked = blocked_user(api, "lblocked")
        bare = new_user("lbare")
        assert api.admin("PUT", f"{USERS}/{bare}/groups", json={"groups": ["staff"]}).status_code == 200
        token = new_user("ltoken")
        import_token(api, token)
        ids = {state: {u["userId"] for u in listed(api, state)} for state in erasure_states()}
        assert blocked in ids["blocked"] and blocked not in ids["no-factor"] | ids["unused-token"] | ids["locked"]
        assert bare in ids["no-factor"] and bare not in ids["blocked"] | ids["unused-token"]
        assert token in ids["unused-token"] and token in ids["no-factor"]  # an unused token is no factor yet
        entry = next(u for u in listed(api, "blocked") if u["userId"] == blocked)
        assert entry["blockedUntil"] and entry["methods"] == ["totp"] and entry["lockedUntil"] is None

    def test_the_cursor_pages_and_is_tamper_proof(self, api):
        users = {blocked_user(api, "page"), blocked_user(api, "page")}
        first = api.admin("GET", USERS, params={"state": "blocked", "limit": 1})
        assert first.status_code == 200 and len(first.json()["users"]) == 1
        cursor = first.json()["cursor"]
        assert cursor is not None
        assert users <= {u["userId"] for u in listed(api, "blocked", limit=1)}
        body, mac = cursor.split(".")
        forged = body[:-1] + ("A" if body[-1] != "A" else "B") + "." + mac
        for params in ({"state": "blocked", "cursor": forged}, {"state": "locked", "cursor": cursor},
                       {"state": "blocked", "cursor": "x"}, {"state": "blocked", "cursor": cursor + "."}):
            r = api.admin("GET", USERS, params=params)
            assert is_problem(r, 400, "invalid_request") and r.json().get("field") == "cursor", r.text

    @pytest.mark.parametrize("params,field", [({}, "state"), ({"state": "gone"}, "state"),
                                              ({"state": "locked", "limit": "0"}, "limit"),
                                              ({"state": "locked", "limit": "1001"}, "limit"),
                                              ({"state": "locked", "limit": "1e2"}, "limit")])
    def test_bad_parameters_are_400_naming_the_field(self, api, params, field):
        r = api.admin("GET", USERS, params=params)
        assert is_problem(r, 400, "invalid_request") and r.json().get("field") == field, r.text

    def test_admin_only(self, api):
        assert api.call("GET", USERS, params={"state": "locked"}).status_code in (401, 403)


def erasure_states() -> tuple[str, ...]:
    return ("locked", "blocked", "unused-token", "no-factor")


class TestErasure:
    def test_every_row_and_index_entry_goes_and_the_record_holds_no_user_id(self, api, table):
        user = new_user("erase")
        api.enrol_totp(user)
        import_token(api, user)
        assert api.admin("POST", f"{USERS}/{user}/bypass", json={"seconds": 60, "reason": "x"}).status_code == 201
        oath_before = len(list(table.query_entities("PartitionKey eq '~oath'")))
        rows = len(list(table.query_entities(f"PartitionKey eq '{user}'")))
        assert rows >= 4
        assert is_problem(api.admin("DELETE", f"{USERS}/{user}"), 400, "invalid_request")  # a reason is required
        r = api.admin("DELETE", f"{USERS}/{user.upper()}", json={"reason": "GDPR art. 17, ticket 12"})
        assert r.status_code == 204, r.text
        assert list(table.query_entities(f"PartitionKey eq '{user}'")) == []
        assert len(list(table.query_entities("PartitionKey eq '~oath'"))) == oath_before - 1
        records = list(table.query_entities("PartitionKey eq '~erasures'"))
        assert not [r for r in records if any(user in str(v).lower() for v in (*r.values(), r["RowKey"]))]
        mine = [r for r in records if r["reason"] == "GDPR art. 17, ticket 12"]
        assert len(mine) == 1 and mine[0]["state"] == "erased" and mine[0]["rowsDeleted"] >= rows + 1
        assert is_problem(api.admin("DELETE", f"{USERS}/{user}", json={"reason": "again"}), 404, "not_found")
        assert is_problem(api.admin("GET", f"{USERS}/{user}/groups"), 404, "not_found")

    def test_unknown_user_is_404(self, api):
        assert is_problem(api.admin("DELETE", f"{USERS}/{new_user('none')}", json={"reason": "x"}), 404, "not_found")


class TestListingInProcess:
    def test_a_locked_user_is_listed_until_the_lock_ends(self, deps, clock):
        secret, _ = enrol_app(deps, clock)
        enrol_sms(deps, "other")
        guess_wrong(deps, secret, clock, lambda err, _: isinstance(err, Locked))
        locked = user_listing.list_users(deps, {"state": "locked"})
        assert [u["userId"] for u in locked["users"]] == ["alice"] and locked["cursor"] is None
        assert locked["users"][0]["lockedUntil"] and locked["users"][0]["methods"] == ["totp"]
        assert user_listing.list_users(deps, {"state": "blocked"})["users"] == []
        clock.advance(24 * 3600)  # the timed lock is over: not listed, with nothing written
        assert user_listing.list_users(deps, {"state": "locked"})["users"] == []

    def test_a_request_stops_when_its_budget_is_spent_and_the_cursor_resumes(self, deps):
        for user in ("u1", "u2", "u3"):  # no imported token: a scan that finds nobody, a row per page
            admin.set_groups(deps, user, {"groups": ["g"]}, "ops")
        ticks = iter(range(1000))
        first = user_listing.list_users(deps, {"state": "unused-token", "limit": "1"},
                                        monotonic=lambda: next(ticks), budget_seconds=1.5)
        assert first["users"] == [] and first["cursor"]  # out of time before the table ended
        params = {"state": "unused-token", "limit": "1", "cursor": first["cursor"]}
        pages = 1
        while params["cursor"]:
            page = user_listing.list_users(deps, params, monotonic=lambda: next(ticks), budget_seconds=1.5)
            assert page["users"] == []
            params["cursor"], pages = page["cursor"], pages + 1
        assert pages >= 2


class TestErasureInProcess:
    def test_the_event_names_the_user_and_an_interrupted_erasure_finishes(self, deps, monkeypatch):
        enrol_sms(deps, "erin")
        admin.create_bypass(deps, "erin", {"seconds": 60, "reason": "x"}, "ops")
        queued_events(deps.events.queue)  # drain
        calls = {"n": 0}
        real = erasure._erase_oath_rows

        def crash_once(d, user_id):
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("host died")
            return real(d, user_id)
        monkeypatch.setattr(erasure, "_erase_oath_rows", crash_once)
        with pytest.raises(RuntimeError):
            erasure.erase(deps, "erin", {"reason": "ticket 3"}, "ops")
        assert deps.store.get("erin", "profile") is None  # half way: the profile is gone, the record open
        erasure.erase(deps, "erin", {"reason": "retried"}, "ops")  # a retry finishes the job
        assert list(deps.store.query("PartitionKey eq @pk", {"pk": "erin"})) == []
        erased = [e for e in queued_events(deps.events.queue) if e["type"] == "com.twostep.user.erased"]
        assert len(erased) == 1 and erased[0]["subject"] == "erin"
        assert erased[0]["data"]["reason"] == "ticket 3" and erased[0]["data"]["actor"] == "ops"

    def test_two_erasures_of_one_user_in_the_same_instant_each_finish(self, deps):
        """An erased id can come back (a new enrolment) and be erased again at once: the second erasure's
        closed record (and its event's id) is its own, not the first one's (the test clock stands still)."""
        enrol_sms(deps, "ross")
        erasure.erase(deps, "ross", {"reason": "first"}, "ops")
        enrol_sms(deps, "ross")
        erasure.erase(deps, "ross", {"reason": "second"}, "ops")
        assert deps.store.get("ross", "profile") is None
        erased = [e for e in queued_events(deps.events.queue) if e["type"] == "com.twostep.user.erased"
                  and e["subject"] == "ross"]
        assert sorted(e["data"]["reason"] for e in erased) == ["first", "second"]
        assert len({e["id"] for e in erased}) == 2

    def test_a_sign_in_racing_the_erasure_leaves_nothing(self, deps):
        enrol_sms(deps, "rita")
        stop = threading.Event()
        errors: list[BaseException] = []

        def sign_in() -> None:
            while not stop.is_set():
                try:
                    begin(deps, "rita", method="sms")
                except Exception as exc:  # noqa: BLE001 - refusals once the user is gone
                    errors.append(exc)
        racer = threading.Thread(target=sign_in)
        racer.start()
        try:
            erasure.erase(deps, "rita", {"reason": "race"}, "ops")
        finally:
            stop.set()
            racer.join()
        # A begin that read the profile just before it went can commit its challenge after the erasure's
        # last read (a begin writes no profile): erasing again once requests in flight have ended (the
        # runbook's step) removes what it left, and only then is the id unknown.
        try:
            erasure.erase(deps, "rita", {"reason": "race, again"}, "ops")
        except NotFound:
            pass  # nothing was left
        with pytest.raises(NotFound):
            erasure.erase(deps, "rita", {"reason": "nothing left"}, "ops")
        rows = list(deps.store.query("PartitionKey eq @pk", {"pk": "rita"}))
        assert rows == [] or all(r["RowKey"].startswith("au|") and "refused" in r["RowKey"] for r in rows), rows
        assert deps.store.get("rita", "profile") is None
