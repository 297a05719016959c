"""Hardware OATH token import against a real Azurite (injected clock), and the route through the dev host:
good, bad and duplicate rows, the cap of 5 devices, all or nothing when a later write fails or a race is
lost, and an imported token that becomes an active method with its first good code."""
from __future__ import annotations

import base64
import json
import os
import uuid
from datetime import timedelta

import pytest
from azure.data.tables import TableEntity

from shared.crypto.otp import totp
from shared.flows import admin, enrolment, removal, signin, verify
from shared.kernel.errors import IncorrectCode, InvalidRequest, StepUpRequired, StorageUnavailable
from shared.kernel.ids import PROFILE_RK
from shared.kernel.results import ChallengeStarted
from shared.methods.oath import csv_upload as oath_csv
from shared.methods.oath import importer as oath
from shared.methods.oath import serial_index as oath_index
from shared.methods.totp import totp_aad
from shared.model.records import TotpDevice
from shared.store import StaleWrite
from tests.helpers import all_rows_text, secret_bytes

HEADER = "upn,serial number,secret key,time interval,manufacturer,model"


def new_secret() -> str:
    return base64.b32encode(os.urandom(20)).decode().rstrip("=")


def upload(*rows: str) -> bytes:
    return ("\r\n".join([HEADER, *rows]) + "\r\n").encode()


def row(upn: str, serial: str, secret: str | None = None, interval: int = 60) -> str:
    return f"{upn},{serial},{secret or new_secret()},{interval},Contoso,HardwareKey"


def do_import(deps, *rows: str, actor: str = "ops@contoso"):
    return oath.import_tokens(deps, upload(*rows), actor)


def bad_import(deps, *rows: str) -> list[dict]:
    with pytest.raises(InvalidRequest) as err:
        do_import(deps, *rows)
    return err.value.problem()["errors"]


def index_rows(deps) -> dict[str, TableEntity]:
    return {r["RowKey"]: r for r in deps.store.query("PartitionKey eq @pk", {"pk": oath.INDEX_PK})}


def written(deps) -> list[TableEntity]:
    """Every row but the service's index key (created once, on the first keyed index)."""
    return [r for r in deps.store.table.list_entities() if r["PartitionKey"] != "~keys"]


def owners(deps, *serials: str) -> dict[str, str]:
    """The owner each of these serials is indexed under (read back through the keyed index)."""
    found = oath_index.read(deps, [oath_csv.serial_key(s) for s in serials], lambda fn, xs: [fn(x) for x in xs])
    return {key: entry.owner for key, entry in found.items()}


def legacy_row(deps, serial: str, upn: str, state: str = "assigned", **fields) -> None:
    """An index row as releases before the keyed index wrote it: serial and user id in plain text."""
    deps.store.table.create_entity(TableEntity(
        PartitionKey=oath.INDEX_PK, RowKey=f"serial|{serial.upper()}", upn=upn, serial=serial, importId="old",
        reservedAt=deps.clock.now(), state=state, manufacturer="Contoso", model="HardwareKey", **fields))


def profile(deps, upn):
    return deps.load_unit(upn).profile


def events(deps, upn) -> list[dict]:
    return admin.audit_events(deps, upn)["events"]


def sign_in(deps, upn: str, code: str) -> tuple[str, dict]:
    result = signin.begin(deps, {"userId": upn, "method": "totp"})
    view = result.view
    assert isinstance(result, ChallengeStarted)
    return view["challengeId"], verify.verify(deps, view["challengeId"], {"code": code})


def add_app_devices(deps, upn: str, count: int) -> None:
    """Give a user authenticator-app devices directly (as if enrolled), creating the profile if needed."""
    row_ = deps.store.get(upn, PROFILE_RK)
    if row_ is None:
        row_ = TableEntity(PartitionKey=upn, RowKey=PROFILE_RK, createdAt=deps.clock.now(), totp="[]")
    devices = json.loads(row_.get("totp") or "[]")
    devices += [TotpDevice(id=f"app{len(devices) + i}", secret=deps.sealer.seal(os.urandom(20), totp_aad(upn))
                           ).to_json() for i in range(count)]
    row_["totp"] = json.dumps(devices)
    deps.store.table.upsert_entity(row_)


@pytest.fixture
def ready(deps):
    deps.store.ping()  # creates the test's table, so "nothing written" can be read back
    return deps


class TestImport:
    def test_token_is_usable_and_active_only_after_its_first_code(self, ready, clock):
        deps = ready
        secret = new_secret()
        out = do_import(deps, row("hw-alice@contoso.com", "1234567", secret.lower(), 60))
        assert out == {"imported": 1, "tokens": [{"upn": "hw-alice@contoso.com", "serial": "1234567",
                                                 "timeInterval": 60}]}
        [device] = profile(deps, "hw-alice@contoso.com").totp
        assert (device.kind, device.serial, device.active, device.period, device.digits, device.algorithm,
                device.last_step) == ("hardware", "1234567", False, 60, 6, "SHA1", -1)
        assert enrolment.get_user(deps, "hw-alice@contoso.com")["methods"] == []
        key = secret_bytes(secret)
        cid, result = sign_in(deps, "hw-alice@contoso.com", totp(key, clock.now(), period=60))
        assert result == {"status": "approved", "userId": "hw-alice@contoso.com", "method": "totp"}
        user = enrolment.get_user(deps, "hw-alice@contoso.com")
        assert [m["type"] for m in user["methods"]] == ["totp"] and user["defaultMethod"] == "totp"
        with pytest.raises(IncorrectCode):  # the same 60 s step again: a replay
            sign_in(deps, "hw-alice@contoso.com", totp(key, clock.now(), period=60))
        clock.advance(30)  # still the same 60 s step
        with pytest.raises(IncorrectCode):
            sign_in(deps, "hw-alice@contoso.com", totp(key, clock.now(), period=60))
        clock.advance(30)
        assert sign_in(deps, "hw-alice@contoso.com", totp(key, clock.now(), period=60))[1]["status"] == "approved"

    def test_a_30_second_token_and_the_default_method(self, ready, clock):
        deps = ready
        secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
        key = secret_bytes(secret)
        code30, code60 = totp(key, clock.now(), period=30), totp(key, clock.now(), period=60)
        assert code30 != code60
        do_import(deps, row("bob", "T30", secret, 30))
        result = signin.begin(deps, {"userId": "bob"})  # no method named: the token's totp
        view = result.view
        assert isinstance(result, ChallengeStarted) and view["method"] == "totp"
        with pytest.raises(IncorrectCode):  # a 60 s code is not this token's code
            verify.verify(deps, view["challengeId"], {"code": code60})
        assert verify.verify(deps, view["challengeId"], {"code": code30})["status"] == "approved"

    def test_audited_without_secrets_and_sealed_at_rest(self, ready):
        deps = ready
        secrets_ = [new_secret() for _ in range(3)]
        do_import(deps, row("carol", "C-1", secrets_[0]), row("carol", "C-2", secrets_[1], 30),
                  row("dave", "D-1", secrets_[2]), actor="lead@contoso")
        [event] = [e for e in events(deps, "carol") if e["event"] == "oath_tokens_imported"]
        assert event["actor"] == "lead@contoso" and event["serials"] == ["C-1", "C-2"] and event["count"] == 2
        assert len(index_rows(deps)) == 3 and owners(deps, "C-1", "c-2", "D-1", "D-2") == {
            "C-1": "carol", "C-2": "carol", "D-1": "dave"}
        assert {r["state"] for r in index_rows(deps).values()} == {"assigned"}
        text = all_rows_text(deps)
        for s in secrets_:
            assert s not in text and s.lower() not in text and secret_bytes(s).hex() not in text
        assert "secret" not in str(events(deps, "carol"))

    def test_existing_user_keeps_what_they_had(self, ready, clock):
        deps = ready
        view = enrolment.enrol_totp(deps, "erin", {}).view
        app = secret_bytes(view["secret"])
        verify.verify(deps, view["challengeId"], {"code": totp(app, clock.now())})
        do_import(deps, row("erin", "E-1"))
        devices = profile(deps, "erin").totp
        assert [(d.kind, d.active) for d in devices] == [("app", True), ("hardware", False)]
        assert [m["type"] for m in enrolment.get_user(deps, "erin")["methods"]] == ["totp"]

    def test_many_users_span_several_batches(self, ready):
        deps = ready
        rows = [row(f"user{i}", f"SN{i:04d}", interval=30) for i in range(230)]
        assert do_import(deps, *rows)["imported"] == 230
        assert len(index_rows(deps)) == 230
        assert [d.serial for d in profile(deps, "user229").totp] == ["SN0229"]


class TestRefused:
    def test_bad_rows_write_nothing(self, ready):
        deps = ready
        secret = new_secret()
        errors = bad_import(deps, row("frank", "F-1", secret), row("frank", "F-2", secret[:20]),
                            row("gina", "G/1"), row("gina", "G-2", interval=45))
        assert errors == [
            {"row": 2, "field": "secret key", "detail": "must be at least 128 bits (26 base32 characters)"},
            {"row": 3, "field": "serial number", "detail": "must be printable ASCII without / \\ # ? % '"},
            {"row": 4, "field": "time interval", "detail": "must be 30 or 60"}]
        assert secret[:20] not in str(errors)
        assert list(deps.store.table.list_entities()) == []

    def test_serial_already_assigned_to_any_user(self, ready):
        deps = ready
        do_import(deps, row("hank", "Shared-1"))
        errors = bad_import(deps, row("ivy", "new-1"), row("ivy", "SHARED-1"))
        assert errors == [{"row": 2, "field": "serial number", "detail": "is already assigned to a user"}]
        assert profile(deps, "ivy") is None and owners(deps, "NEW-1") == {} and len(index_rows(deps)) == 1
        assert bad_import(deps, row("hank", "shared-1"))[0]["detail"] == "is already assigned to a user"
        assert [d.serial for d in profile(deps, "hank").totp] == ["Shared-1"]

    def test_duplicate_serial_within_the_file(self, ready):
        deps = ready
        errors = bad_import(deps, row("jack", "J-1"), row("kate", "j-1"))
        assert errors == [{"row": 2, "field": "serial number", "detail": "duplicates the serial number on row 1"}]
        assert list(deps.store.table.list_entities()) == []

    def test_cap_of_five_devices_counts_existing_ones(self, ready):
        deps = ready
        do_import(deps, *(row("liam", f"L-{i}") for i in range(3)))
        add_app_devices(deps, "liam", 1)
        errors = bad_import(deps, row("mia", "M-1"), row("liam", "L-3"), row("liam", "L-4"))
        assert errors == [{"row": 3, "field": "upn", "detail": "the user would have more than 5 TOTP devices "
                                                               "(4 already)"}]
        assert profile(deps, "mia") is None and len(profile(deps, "liam").totp) == 4
        assert len(index_rows(deps)) == 3 and set(owners(deps, *(f"L-{i}" for i in range(5)))) == {"L-0", "L-1", "L-2"}
        do_import(deps, row("liam", "L-3"))
        assert len(profile(deps, "liam").totp) == 5
        assert bad_import(deps, row("liam", "L-9"))[0]["field"] == "upn"


class TestAllOrNothing:
    def fail_writes_of(self, deps, monkeypatch, upn: str) -> None:
        real = deps.store.transact

        def transact(tx):
            if any(op[1]["PartitionKey"] == upn and op[1].get("event") == "oath_tokens_imported" for op in tx.ops):
                raise StorageUnavailable(retry_after=2)
            return real(tx)
        monkeypatch.setattr(deps.store, "transact", transact)

    def test_a_later_users_failed_write_undoes_the_others(self, ready, monkeypatch):
        deps = ready
        add_app_devices(deps, "nina", 1)
        before = dict(deps.store.get("nina", PROFILE_RK))
        rows = [row("nina", "N-1"), *(row(f"p{i}", f"P-{i}") for i in range(12)), row("zed", "Z-1")]
        self.fail_writes_of(deps, monkeypatch, "p7")
        with pytest.raises(StorageUnavailable):
            do_import(deps, *rows)
        assert index_rows(deps) == {}
        for i in range(12):
            assert profile(deps, f"p{i}") is None  # created by the import, deleted again
        after = profile(deps, "nina")
        assert [d.id for d in after.totp] == ["app0"] and after.created_at == before["createdAt"]
        got = sorted(e["event"] for e in events(deps, "nina"))  # same instant: either order
        assert got in ([], ["oath_tokens_import_reverted", "oath_tokens_imported"])
        monkeypatch.undo()
        assert do_import(deps, *rows)["imported"] == 14
        assert len(index_rows(deps)) == 14 and [d.serial for d in profile(deps, "p7").totp] == ["P-7"]

    def test_one_user_only_its_write_failing(self, ready, monkeypatch):
        deps = ready
        self.fail_writes_of(deps, monkeypatch, "olga")
        with pytest.raises(StorageUnavailable):
            do_import(deps, row("olga", "O-1"))
        assert written(deps) == []

    def test_cap_taken_by_a_concurrent_enrolment_is_a_400_and_nothing_imported(self, ready, monkeypatch):
        deps = ready
        real = deps.store.transact
        raced = []

        def transact(tx):
            if not raced and any(op[1]["PartitionKey"] == oath.INDEX_PK for op in tx.ops):
                raced.append(1)
                add_app_devices(deps, "quinn", 4)  # between the check and the write
            return real(tx)
        monkeypatch.setattr(deps.store, "transact", transact)
        errors = bad_import(deps, row("paul", "PA-1"), row("quinn", "Q-1"), row("quinn", "Q-2"))
        assert raced and errors == [{"row": 3, "field": "upn",
                                     "detail": "the user would have more than 5 TOTP devices (4 already)"}]
        assert index_rows(deps) == {} and profile(deps, "paul") is None
        assert len(profile(deps, "quinn").totp) == 4

    def test_serial_taken_by_a_concurrent_import_is_a_400(self, ready, monkeypatch):
        deps = ready
        real = deps.store.transact
        raced = []

        def transact(tx):
            if not raced and any(op[1]["PartitionKey"] == oath.INDEX_PK for op in tx.ops):
                raced.append(1)
                do_import(deps, row("rose", "R-2"))  # the other upload reserves first
            return real(tx)
        monkeypatch.setattr(deps.store, "transact", transact)
        # 120 rows: the first reservation batch (100 rows) lands, the second meets the other upload's row
        rows = [row(f"sam{i}", f"R-{i + 10}") for i in range(119)] + [row("sam", "R-2")]
        errors = bad_import(deps, *rows)
        assert raced and errors == [{"row": 120, "field": "serial number", "detail": "is already assigned to a user"}]
        assert len(index_rows(deps)) == 1 and owners(deps, "R-2") == {"R-2": "rose"}
        assert profile(deps, "sam") is None and profile(deps, "sam0") is None

    def test_a_write_that_landed_but_answered_a_conflict_is_not_repeated(self, ready, monkeypatch):
        deps = ready
        real = deps.store.transact
        lost = []

        def transact(tx):
            real(tx)
            if not lost and any(op[1].get("event") == "oath_tokens_imported" for op in tx.ops):
                lost.append(1)
                raise StaleWrite()  # as when the answer is lost and the SDK's retry meets its own write
        monkeypatch.setattr(deps.store, "transact", transact)
        do_import(deps, row("tina", "TI-1"))
        assert lost and [d.serial for d in profile(deps, "tina").totp] == ["TI-1"]
        assert [e["event"] for e in events(deps, "tina")] == ["oath_tokens_imported"]

    def test_past_the_deadline_the_import_is_undone(self, ready, monkeypatch):
        deps = ready
        monkeypatch.setattr(oath, "IMPORT_DEADLINE", timedelta(seconds=-1))
        with pytest.raises(StorageUnavailable) as err:
            do_import(deps, row("tom", "T-1"), row("uma", "U-1"))
        assert "did not finish in time" in err.value.detail
        assert written(deps) == []


class TestReassignment:
    def test_a_removed_token_can_be_imported_again(self, ready, clock):
        deps = ready
        secret = new_secret()
        do_import(deps, row("vera", "V-1", secret))
        cid, _ = sign_in(deps, "vera", totp(secret_bytes(secret), clock.now(), period=60))
        enrolment.delete_method(deps, "vera", "totp", {"proofChallengeId": cid})
        assert do_import(deps, row("walt", "v-1"))["imported"] == 1
        assert owners(deps, "V-1") == {"V-1": "walt"}

    def test_a_crashed_imports_reservation_frees_itself(self, ready, clock):
        deps = ready
        do_import(deps, row("yves", "Y-1"))
        rk = oath_index.row_key(deps, "Y-1")
        deps.store.table.upsert_entity(TableEntity(  # as left by an import that crashed after reserving
            PartitionKey=oath.INDEX_PK, RowKey=rk, importId="dead", reservedAt=clock.now(), state="reserved",
            owner=deps.sealer.seal(b"ghost", oath_index.owner_aad(rk))))
        errors = bad_import(deps, row("xena", "Y-1"))
        assert errors == [{"row": 1, "field": "serial number",
                           "detail": "is reserved by an import that is still running"}]
        clock.advance(3600)
        assert do_import(deps, row("xena", "Y-1"))["imported"] == 1
        assert owners(deps, "Y-1") == {"Y-1": "xena"}


class TestIndexPrivacy:
    """The serial index holds no personal data in plain text (D6); rows of the earlier format are migrated."""

    def test_no_serial_or_user_id_in_plain_text(self, ready):
        deps = ready
        do_import(deps, row("carla.private@contoso.com", "SN-77123"), row("dean@contoso.com", "sn-88456"))
        rows = index_rows(deps)
        assert len(rows) == 2 and all(rk.startswith(oath_index.PREFIX) for rk in rows)
        text = json.dumps([{**r, "RowKey": rk} for rk, r in rows.items()], default=str).lower()
        for plain in ("carla", "private", "dean", "77123", "88456"):
            assert plain not in text
        assert owners(deps, "SN-77123", "SN-88456") == {"SN-77123": "carla.private@contoso.com",
                                                        "SN-88456": "dean@contoso.com"}

    def test_old_format_rows_are_migrated_and_still_decide(self, ready):
        deps = ready
        do_import(deps, row("olive", "OLD-1"))
        deps.store.table.delete_entity(oath.INDEX_PK, oath_index.row_key(deps, "OLD-1"))
        legacy_row(deps, "OLD-1", "olive")  # olive's profile holds OLD-1: taken
        legacy_row(deps, "OLD-2", "gone")  # no profile holds it: stale, free to take over
        legacy_row(deps, "OLD-3", "rita", state="reserved")  # a reservation still within its grace
        errors = bad_import(deps, row("pete", "old-1"), row("pete", "OLD-2"), row("pete", "old-3"))
        assert errors == [{"row": 1, "field": "serial number", "detail": "is already assigned to a user"},
                          {"row": 3, "field": "serial number",
                           "detail": "is reserved by an import that is still running"}]
        rows = index_rows(deps)
        assert len(rows) == 3 and all(rk.startswith(oath_index.PREFIX) for rk in rows)
        assert "olive" not in json.dumps(list(rows.values()), default=str)
        assert owners(deps, "OLD-1", "OLD-2", "OLD-3") == {"OLD-1": "olive", "OLD-2": "gone", "OLD-3": "rita"}
        assert do_import(deps, row("pete", "OLD-2"))["imported"] == 1
        assert owners(deps, "OLD-2") == {"OLD-2": "pete"}

    def test_a_serial_in_both_forms_keeps_the_keyed_row(self, ready):
        """A keyed row written beside an old one (an instance of the earlier release still writing): the keyed
        row was written after the profiles were checked, so it stands and the old row goes."""
        deps = ready
        do_import(deps, row("quentin", "BOTH-1"))
        legacy_row(deps, "BOTH-1", "someone")
        legacy_row(deps, "ONLY-1", "ursula")
        assert oath_index.migrate(deps, budget_seconds=30) is True
        assert owners(deps, "BOTH-1", "ONLY-1") == {"BOTH-1": "quentin", "ONLY-1": "ursula"}
        assert len(index_rows(deps)) == 2 and deps.store.query_prefix(oath.INDEX_PK, "serial|") == []

    def test_the_hourly_maintenance_run_migrates_without_an_import(self, ready):
        from shared.ops import purge

        legacy_row(ready, "HR-1", "hal")
        purge.hourly(ready)
        assert [rk[:3] for rk in index_rows(ready)] == [oath_index.PREFIX] and owners(ready, "HR-1") == {"HR-1": "hal"}

    def test_an_unfinished_migration_answers_503_and_writes_nothing(self, ready, monkeypatch):
        deps = ready
        legacy_row(deps, "MIG-1", "vic")
        monkeypatch.setattr(oath, "MIGRATION_BUDGET_SECONDS", 0.0)
        with pytest.raises(StorageUnavailable) as err:
            do_import(deps, row("wes", "W-1"))
        assert "migrated" in err.value.detail and profile(deps, "wes") is None
        assert list(index_rows(deps)) == ["serial|MIG-1"]
        monkeypatch.undo()
        assert do_import(deps, row("wes", "W-1"))["imported"] == 1 and owners(deps, "MIG-1") == {"MIG-1": "vic"}


# -- through the dev host ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def api(devhost, emulator):
    from tests.integration.api_client import pinned_api

    with pinned_api(devhost, emulator.url) as api:
        yield api


CSV = {"Content-Type": "text/csv"}


def test_http_function_key_is_refused_and_master_key_imports(api, devhost):
    upn, serial, secret = f"hw-{uuid.uuid4().hex[:8]}@contoso.com", uuid.uuid4().hex[:12], new_secret()
    body = upload(row(upn, serial, secret))
    assert api.call("POST", "/api/v1/admin/oath-tokens", data=body, headers=dict(CSV)).status_code in (401, 403)
    assert api.call("POST", "/api/v1/admin/oath-tokens", key=None, data=body).status_code == 401
    assert api.call("GET", f"/api/v1/users/{upn}").status_code == 404
    r = api.admin("POST", "/api/v1/admin/oath-tokens", data=body, headers=dict(CSV))
    assert r.status_code == 201, r.text
    assert r.json() == {"imported": 1, "tokens": [{"upn": upn, "serial": serial, "timeInterval": 60}]}
    assert api.call("GET", f"/api/v1/users/{upn}").json()["methods"] == []
    ch = api.begin(upn, method="totp").json()
    v = api.call("POST", f"/api/v1/challenges/{ch['challengeId']}/verify",
                 json={"code": api.totp(secret_bytes(secret), period=60)})
    assert v.status_code == 200 and v.json()["status"] == "approved"
    assert [m["type"] for m in api.call("GET", f"/api/v1/users/{upn}").json()["methods"]] == ["totp"]
    again = api.admin("POST", "/api/v1/admin/oath-tokens", data=body)  # any content type
    assert again.status_code == 400 and again.json()["errors"][0]["detail"] == "is already assigned to a user"
    assert secret not in devhost.logs() and secret not in again.text


def test_http_bad_row_is_a_400_with_the_errors(api):
    secret = new_secret()
    body = upload(row("ok-user", uuid.uuid4().hex[:12]), f"bad user,S1,{secret}Q,90,,")
    r = api.admin("POST", "/api/v1/admin/oath-tokens", data=body, headers=dict(CSV))
    assert r.status_code == 400 and r.headers["Content-Type"].startswith("application/problem+json")
    problem = r.json()
    assert problem["code"] == "invalid_request" and problem["status"] == 400
    assert problem["errors"] == [
        {"row": 2, "field": "upn", "detail": "must be 1-128 characters of A-Z a-z 0-9 . _ @ + -"},
        {"row": 2, "field": "secret key", "detail": "is not valid base32 (its length is impossible)"},
        {"row": 2, "field": "time interval", "detail": "must be 30 or 60"}]
    assert secret not in r.text
    assert api.call("GET", "/api/v1/users/ok-user").status_code == 404


def test_http_body_limit_is_one_mebibyte_here(api):
    rows = [row(f"big{i}", uuid.uuid4().hex) for i in range(10)]
    body = upload(*rows)
    big = body + b"\r\n" * (oath_csv.MAX_CSV_BYTES - len(body) + 1)
    r = api.admin("POST", "/api/v1/admin/oath-tokens", data=big, headers=dict(CSV))
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    assert api.admin("POST", "/api/v1/admin/oath-tokens", data=big[:oath_csv.MAX_CSV_BYTES]).status_code == 201


def test_a_token_not_yet_activated_is_a_factor_and_removing_it_needs_its_proof(deps, clock):  # R7
    secret = new_secret()
    do_import(deps, row("hank@contoso.com", "SER-REMOVE", secret))
    assert enrolment.get_user(deps, "hank@contoso.com")["methods"] == []
    with pytest.raises(StepUpRequired):  # never used, yet the account is claimed: no one binds an app of their own
        enrolment.enrol_totp(deps, "hank@contoso.com", {})
    with pytest.raises(StepUpRequired):
        enrolment.delete_method(deps, "hank@contoso.com", "totp", {})
    cid, _ = sign_in(deps, "hank@contoso.com", totp(secret_bytes(secret), clock.now(), period=60))
    enrolment.delete_method(deps, "hank@contoso.com", "totp", {"proofChallengeId": cid})
    assert profile(deps, "hank@contoso.com").totp == []
    with pytest.raises(StepUpRequired):  # nothing left, still claimed
        enrolment.enrol_totp(deps, "hank@contoso.com", {})


def test_an_imported_token_removed_by_an_admin_before_use_leaves_the_account_claimed(deps):  # R7
    do_import(deps, row("ivy@contoso.com", "SER-ADMIN"))
    removal.admin_remove_method(deps, "ivy@contoso.com", "totp", {"reason": "wrong user"}, "ops")
    assert profile(deps, "ivy@contoso.com").totp == []
    with pytest.raises(StepUpRequired):
        enrolment.enrol_phone(deps, "ivy@contoso.com", {"phoneNumber": "+14255550191"})
