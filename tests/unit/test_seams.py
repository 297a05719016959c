"""The domain's seams, checked by reading the source: Table Storage stays behind the store, and no flow
branches on a method's name (a new method is a new class in shared/methods.py, not a new branch)."""
from __future__ import annotations

import re
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
AZURE_IMPORT = re.compile(r"^\s*(from azure[.\w]* import|import azure)", re.M)
METHOD_BRANCH = re.compile(r"""method\s*(==|!=)\s*["']|method\s+(not\s+)?in\s*\(\s*["']""")
# The SDK edge: the store itself, the clients it is built from, the queue (SMS outbox, events) and SMS gateways. The rest
# are modules that still build TableEntity rows by hand; this list may only shrink (issue 8, point 1).
AZURE_ALLOWED = {"store/table.py", "clients.py", "sms.py", "events.py"}  # events.py: the events queue gateway
AZURE_NOT_YET_MOVED = {"audit.py", "idempotency.py", "index_key.py", "limits.py", "models.py", "oath.py",
                       "policy_store.py", "purge.py", "reseal.py"}


def _modules() -> dict[str, str]:
    return {str(p.relative_to(SHARED)): p.read_text() for p in SHARED.rglob("*.py")}


def test_only_the_store_edge_imports_the_azure_sdk():
    importing = {name for name, text in _modules().items() if AZURE_IMPORT.search(text)}
    assert "store/table.py" in importing  # the walk does reach into the store package
    assert importing - AZURE_ALLOWED - AZURE_NOT_YET_MOVED == set()
    assert AZURE_NOT_YET_MOVED <= importing, "a module no longer imports azure: drop it from the list"


def test_no_branch_on_a_method_name_outside_the_method_classes():
    branching = {name for name, text in _modules().items() if METHOD_BRANCH.search(text)}
    assert branching <= {"methods.py"}


def test_the_patterns_catch_what_they_are_for():
    assert AZURE_IMPORT.search("x = 1\nfrom azure.data.tables import TableEntity\n")
    assert AZURE_IMPORT.search("import azure.functions as func")
    for branch in ('if ch.method == "sms":', "if method != 'totp'", 'if method not in ("sms", "totp"):'):
        assert METHOD_BRANCH.search(branch), branch
    assert not METHOD_BRANCH.search("METHODS[ch.method].delivered")
