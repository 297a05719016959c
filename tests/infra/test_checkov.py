"""I4: `checkov -d infra --framework bicep` passes, and every skip is written in the Bicep file, next to the
resource, with its reason, and is actually needed.

Runs tools/check_infra.sh (creates .venv-infra from requirements-infra.txt on first use, ~1 minute; then
about 10 seconds).
"""
from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from tests.infra.bicep_model import INFRA, ROOT

SKIP = re.compile(r"//\s*checkov:skip=(?P<check>CKV2?_[A-Z]+_\d+)(?::(?P<reason>.*))?$")


def written_skips() -> dict[tuple[str, str], str]:
    """(file relative to infra/, check id) -> reason, for every skip comment in infra/."""
    skips = {}
    for path in sorted(INFRA.rglob("*.bicep")):
        for line in path.read_text().splitlines():
            match = SKIP.search(line.strip())
            if match:
                skips[(path.relative_to(INFRA).as_posix(), match["check"])] = (match["reason"] or "").strip()
    return skips


@pytest.fixture(scope="module")
def checkov_report(tmp_path_factory):
    report = tmp_path_factory.mktemp("checkov") / "checkov.json"
    done = subprocess.run([str(ROOT / "tools" / "check_infra.sh")], cwd=ROOT, capture_output=True, text=True,
                          timeout=900, env={**os.environ, "CHECKOV_JSON": str(report)}, check=False)
    assert done.returncode == 0, f"checkov failed:\n{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    data = json.loads(report.read_text())
    return data if isinstance(data, dict) else data[0]


def test_i4_checkov_passes_on_infra(checkov_report):
    summary = checkov_report["summary"]
    assert summary["failed"] == 0 and summary["parsing_errors"] == 0
    assert summary["passed"] >= 20 and summary["resource_count"] >= 40, summary
    failed = checkov_report["results"].get("failed_checks", [])
    assert not failed, [(f["check_id"], f["resource"]) for f in failed]


def test_i4_every_skip_has_its_reason_in_the_file():
    skips = written_skips()
    assert skips, "expected the documented skips"
    for (path, check), reason in skips.items():
        assert len(reason) >= 40, f"{path}: skip of {check} needs a real reason, got {reason!r}"


def test_i4_every_skip_is_needed_and_every_skipped_check_is_written_down(checkov_report):
    skipped = {(s["file_path"].lstrip("/"), s["check_id"]) for s in checkov_report["results"].get("skipped_checks", [])}
    written = set(written_skips())
    assert skipped == written, (f"skip comments checkov did not use: {sorted(written - skipped)}; "
                                f"skips not written in infra/: {sorted(skipped - written)}")
