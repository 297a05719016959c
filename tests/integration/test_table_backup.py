"""Point 6 (operations): tools/table_backup.py backs up the state table and restores it into an empty one,
against Azurite, with every property's type intact, and the app reads the restored table as the original
(the procedure docs/deploy.md describes)."""
from __future__ import annotations

import os

import pytest
from azure.data.tables import TableClient

from shared.flows import enrolment, verify
from shared.settings import load_settings
from shared.wiring import build_deps
from tests.helpers import sms_code_for
from tools import table_backup


def rows(table: TableClient) -> list[dict]:
    return sorted((dict(e) for e in table.list_entities()), key=lambda e: (e["PartitionKey"], e["RowKey"]))


@pytest.fixture
def populated(deps):
    """Real app rows: an active phone, a pending TOTP enrolment, audit rows, counters."""
    view = enrolment.enrol_phone(deps, "alice@contoso.com", {"phoneNumber": "+14255550177"}).view
    verify.verify(deps, view["challengeId"], {"code": sms_code_for(deps, view["challengeId"])})
    enrolment.enrol_totp(deps, "bob@contoso.com", {})
    return deps


def test_backup_then_restore_gives_the_same_rows_and_the_app_reads_them(populated, base_env, tmp_path, capsys):
    deps = populated
    conn = ["--connection-string", base_env["AzureWebJobsStorage"]]
    file = tmp_path / "backup.jsonl"
    assert table_backup.main(["backup", *conn, "--table", deps.settings.table_name, "--out", str(file)]) == 0
    assert oct(file.stat().st_mode & 0o777) == "0o600"
    assert "+14255550177" not in file.read_text(), "phone numbers stay sealed in the backup"
    target = "restored" + os.urandom(5).hex()
    assert table_backup.main(["restore", *conn, "--table", target, "--in", str(file)]) == 0
    original = rows(deps.store.table)
    copy = TableClient.from_connection_string(base_env["AzureWebJobsStorage"], target)
    try:
        assert len(original) >= 4 and f"restored {len(original)} entities" in capsys.readouterr().out
        assert rows(copy) == original  # values and Edm types (EntityProperty compares both)
        restored = build_deps(load_settings({**base_env, "MFA_TABLE_NAME": target}), clock=deps.clock)
        assert enrolment.get_user(restored, "alice@contoso.com") == enrolment.get_user(deps, "alice@contoso.com")
        assert enrolment.get_user(restored, "alice@contoso.com")["methods"][0]["type"] == "sms"
        with pytest.raises(SystemExit, match="not empty"):
            table_backup.main(["restore", *conn, "--table", target, "--in", str(file)])
    finally:
        copy.delete_table()


def test_a_file_that_is_not_a_backup_is_refused(tmp_path):
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"PartitionKey": ["Edm.String", "a"]}\n')
    with pytest.raises(ValueError, match="not a twostep-table-backup"):
        list(table_backup.load(bad.read_text().splitlines()))
