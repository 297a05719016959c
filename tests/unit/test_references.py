"""The repository explains itself: no tracked text file points at documents outside it (the workspace's
shared folder and the design, requirement and platform-fact files kept there) or at issue numbers a
reader of the repository cannot see. Say what is meant instead."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Vendored third-party data, kept byte for byte as its source published it; and this file's own examples.
EXEMPT = ("tests/infra/bicep-types/", "tests/unit/test_references.py")
FORBIDDEN = re.compile("|".join([
    r"\.\./" + "shared",
    r"(?-i:\b(?:DESIGN|SECURITY-REQUIREMENTS|LOCAL-AZURE-FACTS)(?:\.md)?\b)",
    r"\bissues?\s+#?\d+",
    r"\(#\d+\)",
    r"\bround\s+\d+\b",
    r"\bPoints?\s+\d+(?:\s*(?:-|and)\s*\d+)?\s+of\b|\bPoint\s+\d+:",
]), re.IGNORECASE)


def tracked_text_files() -> list[Path]:
    names = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    files = [ROOT / name for name in names.decode().split("\0") if name and not name.startswith(EXEMPT)]
    assert len(files) > 100, "git ls-files found too few files: is this a clone of the repository?"
    out = []
    for path in files:
        if not path.is_file():
            continue  # deleted in the work tree, not yet committed
        data = path.read_bytes()
        if b"\0" not in data[:8000]:
            out.append(path)
    return out


def offending_lines(text: str) -> list[tuple[int, str]]:
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if FORBIDDEN.search(line)]


def test_no_tracked_file_points_outside_the_repository_or_at_unseen_issues():
    found = [f"{path.relative_to(ROOT)}:{n}: {line[:160]}"
             for path in tracked_text_files()
             for n, line in offending_lines(path.read_text(encoding="utf-8", errors="replace"))]
    assert not found, "say what is meant instead:\n" + "\n".join(found)


def test_the_patterns_catch_each_kind_of_reference():
    caught = ["see ../shared/DESIGN.md", "Requirement Q5 in SECURITY-REQUIREMENTS.md", "LOCAL-AZURE-FACTS",
              "(issue 12)", "Issue 13 point 3", "issues 9 and 10", "(#42)", "new with round 2",
              "Point 4: basic auth is off", "points 2-5 of the hardening"]
    missed = [text for text in caught if not FORBIDDEN.search(text)]
    assert not missed
    fine = ["access_pass.issue(deps, user)", "device_tokens.issue(keys)", "the policy's period shortened since issue",
            "shared/crypto/keys.py", "a round trip", "rounded to 2 digits", "point of sale", "designed", "the API design"]
    assert [text for text in fine if FORBIDDEN.search(text)] == []
