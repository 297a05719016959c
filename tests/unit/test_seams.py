"""The domain's seams, checked by reading the source: Table Storage stays behind the store, a user's
decision goes through a unit of work (store/unit.py), models know nothing of rows, and no flow branches
on a method's name (a new method is a new module in shared/methods/, not a new branch)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
AZURE_IMPORT = re.compile(r"^\s*(from azure[.\w]* import|import azure)", re.M)
ETAG_OR_OPS = re.compile(r"_metadata|\.metadata\b|\.ops\b|MatchConditions|UpdateMode")
METHOD_BRANCH = re.compile(r"""method\s*(==|!=)\s*["']|method\s+(not\s+)?in\s*\(\s*["']""")
# The SDK edge: the store itself (the table and how rows are built), the clients it is built from (with their
# inline transactions), the SMS and security-event queue gateways, and the in-memory doubles of the table and queue clients (for tests
# only; test_layers.py checks). Every other module builds rows through store.new_row.
AZURE_ALLOWED = {"store/table.py", "store/tx.py", "store/router.py", "store/moves.py", "store/rows.py", "clients.py", "inline_batch.py", "channels/queues.py", "channels/sms.py",
                 "channels/events.py", "store/memory.py", "store/odata.py", "channels/memory.py"}
STORE_IMPORT = re.compile(r"^\s*from \.store\b|^\s*from \.\.store\b|^\s*import shared\.store", re.M)
ROW_MAPPING = re.compile(r"\bto_entity\(|\bfrom_entity\(|\b(challenge|profile|bypass)_from\(")
RAW_TRANSACTION = re.compile(r"\bTx\(|\.transact\(")
# Writes that are no user's decision keep explicit transactions: bookkeeping in partitions of their own
# (the policy document, rate-limit counters, the index key, the OATH serial index of the import saga, the
# due list of SMS and events, the record of an erasure), the coalesced refusal counter (best effort, beside any decision) and the re-seal of rows
# of every kind. Every decision on a user's rows goes through `UserRows`. (The policy document, the index
# key and the refusal counter are in store/, which the check below leaves out.)
RAW_TRANSACTION_ALLOWED = {"methods/limits.py", "methods/limits_lanes.py", "methods/limits_writes.py", "methods/oath/reservation.py", "methods/oath/serial_index.py",
                           "methods/passkey_index.py",  # the credential-id index: a partition of its own
                           "delivery/redrive.py", "ops/reseal.py", "channels/due.py", "ops/erasure.py",
                           "ops/rebalance.py"}  # its checkpoint row, ~rebalance: a partition of its own
# The method classes: the one place that may know a method by its name.
METHOD_MODULES = {"methods/base.py", "methods/sms.py", "methods/totp.py", "methods/typed_secret.py",
                  "methods/access_pass.py", "methods/recovery_code.py", "methods/registry.py"}


# A method's name as a string literal: only its own module (shared/methods/) may spell it. Everything else
# asks the registry (METHODS, Profile.active_methods, the method's `name`).
METHOD_NAMES = {"sms", "totp", "access_pass", "recovery_code"}
METHOD_NAME_ALLOWED = {
    # The due-item kind of an SMS not yet handed to its queue: the name of a delivery channel, stored in
    # the marker rows' keys (channels/due.py), not a sign-in method.
    ("delivery/redrive.py", "sms"),
}


def method_name_literals(text: str) -> set[str]:
    """The method names `text` spells as a whole string literal (docstrings and f-string parts included)."""
    return {node.value for node in ast.walk(ast.parse(text))
            if isinstance(node, ast.Constant) and node.value in METHOD_NAMES}


def _modules() -> dict[str, str]:
    return {str(p.relative_to(SHARED)): p.read_text() for p in SHARED.rglob("*.py")}


def test_only_the_store_edge_imports_the_azure_sdk():
    importing = {name for name, text in _modules().items() if AZURE_IMPORT.search(text)}
    assert {"store/table.py", "store/rows.py"} <= importing  # the walk does reach into the store package
    assert importing <= AZURE_ALLOWED


def test_only_the_store_package_touches_etags_and_transaction_operations():
    touching = {name for name, text in _modules().items() if ETAG_OR_OPS.search(text)}
    assert touching and all(name.startswith("store/") for name in touching), touching


def test_models_are_plain_values_that_import_nothing_from_the_store():
    model = {name: text for name, text in _modules().items() if name.startswith("model/")}
    assert "model/records.py" in model
    assert not [name for name, text in model.items() if STORE_IMPORT.search(text)]


def test_rows_become_models_only_in_the_store_package():
    mapping = {name for name, text in _modules().items() if ROW_MAPPING.search(text)}
    assert "store/mapping.py" in mapping and all(name.startswith("store/") for name in mapping), mapping


def test_user_decisions_commit_through_the_unit_of_work():
    raw = {name for name, text in _modules().items()
           if not name.startswith("store/") and RAW_TRANSACTION.search(text)}
    assert raw <= RAW_TRANSACTION_ALLOWED, raw - RAW_TRANSACTION_ALLOWED
    for flow in ("flows/signin.py", "flows/verify.py", "flows/challenge_rows.py", "flows/enrolment.py",
                 "flows/admin.py", "delivery/sender.py"):
        assert flow not in raw and "UserRows" in _modules()[flow], flow


def test_no_branch_on_a_method_name_outside_the_method_classes():
    branching = {name for name, text in _modules().items() if METHOD_BRANCH.search(text)}
    assert branching <= METHOD_MODULES, branching - METHOD_MODULES


def test_method_names_are_spelled_only_in_the_method_modules():
    spelled = {(name, literal) for name, text in _modules().items() if not name.startswith("methods/")
               for literal in method_name_literals(text)}
    assert spelled <= METHOD_NAME_ALLOWED, spelled - METHOD_NAME_ALLOWED
    inside = {literal for name, text in _modules().items() if name.startswith("methods/")
              for literal in method_name_literals(text)}
    assert inside == METHOD_NAMES  # the walk does see the literals where they belong


def test_the_patterns_catch_what_they_are_for():
    assert method_name_literals('x = ["sms"]\nif m in ("totp", "push"):\n    pass\n') == {"sms", "totp"}
    assert not method_name_literals('x = "sms-code"\ny = f"twostep/totp/{u}"\nz = Sms.name\n')
    assert AZURE_IMPORT.search("x = 1\nfrom azure.data.tables import TableEntity\n")
    assert AZURE_IMPORT.search("import azure.functions as func")
    for branch in ('if ch.method == "sms":', "if method != 'totp'", 'if method not in ("sms", "totp"):'):
        assert METHOD_BRANCH.search(branch), branch
    assert not METHOD_BRANCH.search("METHODS[ch.method].delivered")
    for leak in ("entity._metadata = row.metadata", "tx.ops.append(op)", "MatchConditions.IfNotModified"):
        assert ETAG_OR_OPS.search(leak), leak
    assert not ETAG_OR_OPS.search("same_version(entity, row); tx.size")
    assert STORE_IMPORT.search("from .store import Entity\n") and not STORE_IMPORT.search("from .storage import x")
    for call in ("ch.to_entity()", "Profile.from_entity(row)", "challenge_from(row)"):
        assert ROW_MAPPING.search(call), call
    assert RAW_TRANSACTION.search("d.store.transact(Tx().create(row))") and not RAW_TRANSACTION.search("unit.commit()")
