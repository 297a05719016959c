"""Several storage accounts against real Azurites (docs/scale.md "Several storage accounts"): the session's
Azurite is account 0 and a second Azurite of this module is account 1. Users land where the hash says and
every flow works for users of either account; bookkeeping stays in account 0; the rebalancing job moves
a table from one account to two, interrupted and resumed, while sign-ins go on, and loses or duplicates
no row."""
from __future__ import annotations

import json
import os
from collections import defaultdict

import pytest
from azure.data.tables import TableClient

from shared.crypto.otp import totp
from shared.flows import enrolment, signin, verify
from shared.ops import rebalance, reseal
from shared.ops.purge import purge
from shared.store import moves
from shared.store.placement import MOVE_RK, home
from shared.store.profile_scan import profiles_page
from tests.helpers import secret_bytes, sms_code_for
from tests.integration.api_client import fresh_phone, pinned_api
from tools import azurite as azurite_tool
from tools import rebalance as rebalance_tool

USERS = [f"user{i}@contoso.com" for i in range(10)]


@pytest.fixture(scope="module")
def second_azurite():
    ports = [azurite_tool.free_port() for _ in range(3)]
    server = azurite_tool.start_azurite(*ports)
    yield server
    server.stop()


def two_accounts(second_azurite, **more: str) -> dict[str, str]:
    return {"MFA_TABLE_ACCOUNTS": "2", "MFA_TABLE_ACCOUNT_1": second_azurite.connection_string, **more}


def rows_by_account(deps) -> list[dict[str, list[tuple]]]:
    """Every row of every account: {partition: sorted [(row key, properties)]} per account."""
    out = []
    for table in deps.store.tables:
        partitions: dict[str, list[tuple]] = defaultdict(list)
        for row in table.list_entities():
            partitions[row["PartitionKey"]].append((row["RowKey"], sorted((k, str(v)) for k, v in row.items())))
        out.append({pk: sorted(rows) for pk, rows in partitions.items()})
    return out


def phone_of(user: str) -> str:
    return f"+1425555{100 + USERS.index(user):04d}"


def sms_signin(deps, user: str) -> str:
    ch = signin.begin(deps, {"userId": user, "method": "sms"}).view
    assert verify.verify(deps, ch["challengeId"], {"code": sms_code_for(deps, ch["challengeId"])})[
        "status"] == "approved"
    return ch["challengeId"]


def enrol_everything(deps, clock, user: str) -> bytes:
    """Phone (verified), an SMS sign-in, then an authenticator app with that sign-in as proof."""
    view = enrolment.enrol_phone(deps, user, {"phoneNumber": phone_of(user)}).view
    assert verify.verify(deps, view["challengeId"], {"code": sms_code_for(deps, view["challengeId"])})[
        "status"] == "approved"
    proof = sms_signin(deps, user)
    app = enrolment.enrol_totp(deps, user, {"proofChallengeId": proof}).view
    secret = secret_bytes(app["secret"])
    assert verify.verify(deps, app["challengeId"], {"code": totp(secret, clock.now())})["status"] == "approved"
    clock.advance(30)
    return secret


def totp_signin(deps, clock, user: str, secret: bytes) -> None:
    ch = signin.begin(deps, {"userId": user, "method": "totp"}).view
    assert verify.verify(deps, ch["challengeId"], {"code": totp(secret, clock.now())})["status"] == "approved"
    clock.advance(30)


def test_users_land_by_hash_every_flow_works_and_bookkeeping_stays_in_account_0(make_deps, clock,
                                                                                second_azurite):
    deps = make_deps(**two_accounts(second_azurite))
    users = USERS[:6]
    assert {home(u, 2) for u in users} == {0, 1}  # the sample covers both accounts
    for user in users:
        secret = enrol_everything(deps, clock, user)
        sms_signin(deps, user.upper())  # the id is case-insensitive: the same user, the same account
        totp_signin(deps, clock, user, secret)
    accounts = rows_by_account(deps)
    for user in users:
        assert user in accounts[home(user, 2)] and user not in accounts[1 - home(user, 2)]
    assert not [pk for pk in accounts[1] if pk.startswith("~")]  # no bookkeeping partition in account 1
    assert any(pk.startswith("~rl|") for pk in accounts[0]) and "~keys" in accounts[0]


def test_moving_one_account_to_two_interrupted_and_resumed_loses_and_duplicates_nothing(make_deps, clock,
                                                                                        second_azurite):
    table = "t" + os.urandom(6).hex()
    before = make_deps(MFA_TABLE_NAME=table)
    secrets = {user: enrol_everything(before, clock, user) for user in USERS}
    movers = [u for u in USERS if home(u, 2) == 1]
    assert 3 <= len(movers) < len(USERS)
    original = rows_by_account(before)[0]

    during = make_deps(MFA_TABLE_NAME=table, **two_accounts(second_azurite, MFA_TABLE_ACCOUNTS_PREVIOUS="1"))
    first = rebalance.run(during.store, clock.now, stop_after_moves=2)
    assert first["stopped"] and first["moved"] == 2  # interrupted after two partitions
    # A move that crashed half way: the marker is there and one row copied, but no switch.
    crashed = next(u for u in movers if moves._marker(during.store, 0, u) is None)
    during.store.tables[0].create_entity(
        {"PartitionKey": crashed, "RowKey": MOVE_RK, "state": "here"})
    during.store.tables[1].create_entity(
        {k: v for k, v in during.store.tables[0].get_entity(crashed, "profile").items()})
    for user in USERS:  # traffic during the move: each user, wherever it is now
        sms_signin(during, user)
    resumed = rebalance.run(during.store, clock.now, grace_seconds=60)
    assert resumed["phase"] == "drain" and resumed["waitSeconds"] > 0 and resumed["moved"] == len(movers)
    assert sorted(listed_users(during)) == sorted(USERS)  # copied, not drained yet: still listed once each
    clock.advance(61)
    assert rebalance.run(during.store, clock.now, grace_seconds=60)["phase"] == "done"

    accounts = rows_by_account(during)
    for user in USERS:
        there, other = accounts[home(user, 2)][user], accounts[1 - home(user, 2)].get(user, [])
        assert [rk for rk, _ in other] in ([], [MOVE_RK])  # only the tombstone stays behind
        old_rows = {rk: props for rk, props in original[user]}
        new_keys = [rk for rk, _ in there]
        assert set(old_rows) <= set(new_keys)  # nothing lost; the sign-ins during the move added rows
        assert len(new_keys) > len(old_rows)
    after = make_deps(MFA_TABLE_NAME=table, **two_accounts(second_azurite))
    for user in USERS:
        sms_signin(after, user)
        totp_signin(after, clock, user, secrets[user])
    assert rebalance.tidy(after.store)["markersRemoved"] == len(movers)
    assert not [rk for acc in rows_by_account(after) for rows in acc.values() for rk, _ in rows if rk == MOVE_RK]


def listed_users(deps, page: int = 2) -> list[str]:
    """Every profile a cross-partition listing finds, in pages of `page` rows."""
    seen, token = [], None
    while True:
        profiles, token = profiles_page(deps.store, "", {}, page, token)
        seen += [p.user_id for p in profiles]
        if token is None:
            return seen


def test_scans_cover_every_account_once(make_deps, clock, second_azurite):
    """The operator's listing, the re-encryption job and the purge read every account, each row once."""
    deps = make_deps(**two_accounts(second_azurite))
    users = USERS[:6]
    for user in users:
        view = enrolment.enrol_phone(deps, user, {"phoneNumber": phone_of(user)}).view
        verify.verify(deps, view["challengeId"], {"code": sms_code_for(deps, view["challengeId"])})
        signin.begin(deps, {"userId": user, "method": "sms"})  # a challenge left pending, to expire
    assert sorted(listed_users(deps)) == sorted(users)
    for _ in range(40):  # runs of 3 rows: the cursor has to carry the scan from account 0 into account 1
        result = reseal.run(deps, 3, "test")
        if result["passComplete"]:
            break
    assert result["passComplete"]
    assert reseal.status(deps)["encryption"]["underCurrent"] >= len(users)  # a sealed phone per user
    assert any(pk in rows_by_account(deps)[1] for pk in users)
    clock.advance(3 * 86400)  # challenges are purged a day after they expire
    while not purge(deps, page_size=5).complete:
        pass
    left = [rk for acc in rows_by_account(deps) for pk, rows in acc.items() for rk, _ in rows if rk.startswith("ch|")]
    assert left == []


def test_the_tool_runs_the_job_with_the_table_settings_alone(make_deps, clock, second_azurite, azurite, monkeypatch,
                                                             capsys):
    """`python -m tools.rebalance` needs no key of the app: the table's name and accounts are enough."""
    table = "t" + os.urandom(6).hex()
    before = make_deps(MFA_TABLE_NAME=table)
    for user in USERS[:4]:
        enrolment.enrol_phone(before, user, {"phoneNumber": phone_of(user)})
    for name in list(os.environ):
        if name.startswith(("MFA_", "AzureWebJobsStorage", "ACS_")):
            monkeypatch.delenv(name)
    env = {"AzureWebJobsStorage": azurite.connection_string, "MFA_TABLE_NAME": table,
           **two_accounts(second_azurite, MFA_TABLE_ACCOUNTS_PREVIOUS="1")}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert rebalance_tool.main(["--grace", "0"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["phase"] == "done"
    after = make_deps(MFA_TABLE_NAME=table, **two_accounts(second_azurite))
    for user in USERS[:4]:
        assert user in rows_by_account(after)[home(user, 2)]
    monkeypatch.delenv("MFA_TABLE_ACCOUNTS_PREVIOUS")
    assert rebalance_tool.main(["--tidy"]) == 0
    assert json.loads(capsys.readouterr().out)["markersRemoved"] == sum(home(u, 2) == 1 for u in USERS[:4])


def test_over_http_the_app_serves_users_of_both_accounts(start_devhost, base_env, emulator, second_azurite):
    """The function app itself (dev host, its own settings): SMS and app enrolment and sign-in for users
    of either account, and the health check covers both."""
    table = "t" + os.urandom(6).hex()
    host = start_devhost({**base_env, "MFA_TABLE_NAME": table, **two_accounts(second_azurite)})
    sms_users = [next(u for u in (f"h{i}@contoso.com" for i in range(100)) if home(u, 2) == n) for n in (0, 1)]
    app_users = [next(u for u in (f"a{i}@contoso.com" for i in range(100)) if home(u, 2) == n) for n in (0, 1)]
    with pinned_api(host, emulator.url) as api:
        assert api.call("GET", "/api/health", key=None).status_code == 200
        for user in sms_users:
            phone = fresh_phone()
            api.enrol_sms(user, phone)
            before = len(api.messages(phone))
            ch = api.begin(user).json()["challengeId"]
            code = api.sms_code(phone, after=before)
            assert api.call("POST", f"/api/v1/challenges/{ch}/verify", json={"code": code}).status_code == 200
        for user in app_users:
            secret = api.enrol_totp(user)
            ch = api.begin(user, method="totp").json()["challengeId"]
            v = api.call("POST", f"/api/v1/challenges/{ch}/verify", json={"code": api.totp(secret)})
            assert v.status_code == 200, v.text
    accounts = [TableClient.from_connection_string(conn, table) for conn in
                (base_env["AzureWebJobsStorage"], second_azurite.connection_string)]
    keys = [{r["PartitionKey"] for r in t.list_entities(select=["PartitionKey"])} for t in accounts]
    for user in sms_users + app_users:
        assert user in keys[home(user, 2)] and user not in keys[1 - home(user, 2)]
    assert not [pk for pk in keys[1] if pk.startswith("~")]
    for t in accounts:
        t.delete_table()
