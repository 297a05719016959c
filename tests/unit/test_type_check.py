"""`make test` type-checks shared/ and functions/ with a pinned mypy, after ruff and before pytest, at the
strictness docs/testing.md states; the check itself is the run (`.venv/bin/python -m mypy`)."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_make_test_runs_mypy_between_ruff_and_pytest() -> None:
    target = re.search(r"^test:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert target is not None
    assert [line.strip() for line in target.group(1).splitlines()] == [
        "$(PY) -m ruff check .", "$(PY) -m mypy", "$(PY) -m pytest -q"]


def test_mypy_is_pinned_and_configured_for_shared_and_functions() -> None:
    assert re.search(r"^mypy==\d+\.\d+\.\d+$", (ROOT / "requirements-dev.txt").read_text(), re.MULTILINE)
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert {"shared", "functions"} <= set(config["files"])
    assert all(config[flag] is True for flag in ("check_untyped_defs", "no_implicit_optional", "warn_unused_ignores"))
    assert "ignore_missing_imports" not in config  # never globally
    shared = [o for o in config["overrides"] if "shared.*" in o["module"]]
    assert shared and shared[0]["disallow_incomplete_defs"] is True


def test_every_type_ignore_names_its_error_code_and_a_reason() -> None:
    """`# type: ignore[code]  # why` on one line: a bare ignore would hide any error on its line."""
    for folder in ("shared", "functions"):
        for path in (ROOT / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if "type: ignore" in line:
                    assert re.search(r"type: ignore\[[a-z-]+(, [a-z-]+)*\]\s+#\s*\S", line), f"{path}:{number}"
