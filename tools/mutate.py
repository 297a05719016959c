"""Mutation testing of the pure decision modules (`make mutate`): mutmut 2.5.1 (.venv-mutate, pinned in
requirements-mutate.txt) over a throwaway copy of the tree, each module against its fast unit tests only and
within a time budget of its own, so the worktree is never left mutated and the run stays bounded.

Prints a table (killed / survived / timed out / untested per module) and writes every surviving mutant's
diff to docs/mutation-survivors.txt. Exit status 0 when no mutant survived, 2 otherwise.
"""
from __future__ import annotations

import argparse
import ast
import ctypes
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MUTMUT = ROOT / ".venv-mutate" / "bin" / "mutmut"
PYTHON = ROOT / ".venv" / "bin" / "python"

# The sweeper's tests in test_storage_faults.py (the rest of that file waits on hanging calls, ~1 min), by node
# id: a `-k` would deselect every other file's tests of the module too.
REDRIVE_TESTS = tuple("tests/integration/test_storage_faults.py::test_" + name for name in (
    "begin_with_the_queue_down_answers_201_fast_and_the_sweeper_delivers",
    "a_challenge_still_queued_at_expiry_is_marked_failed",
    "a_message_stuck_invisible_is_re_sent_and_only_once_per_interval",
    "a_marker_whose_challenge_never_committed_is_dropped"))
# module -> (functions to mutate, or None for the whole module; the tests that must kill its mutants, unit
# test files first so most mutants die in under a second)
MODULES: dict[str, tuple[tuple[str, ...] | None, tuple[str, ...]]] = {
    "shared/model/lockout.py": (("register_failure", "register_success"),
                         ("tests/unit/test_policy.py", "tests/unit/test_lockout_counting.py",
                          "tests/unit/test_lockout.py")),
    "shared/crypto/otp.py": (None, ("tests/unit/test_otp.py",)),
    "shared/crypto/keys.py": (("derive_code", "codes_equal", "blind_index"), ("tests/unit/test_codes.py",)),
    "shared/methods/limits.py": (("_ip_key", "counters", "pools", "_candidates", "_another", "_pick", "prepare"),
                                 ("tests/unit/test_limits_pure.py", "tests/unit/test_limits_shards.py")),
    "shared/methods/limits_lanes.py": (("lane_of", "shards_in", "plan"), ("tests/unit/test_limits_lanes.py",)),
    "shared/methods/limits_writes.py": (("give_back", "side_by_side", "all_of"), ("tests/unit/test_limits_lanes.py",)),
    "shared/kernel/validation.py": (None, ("tests/unit/test_validation.py",)),
    "shared/kernel/ids.py": (None, ("tests/unit/test_ids.py",)),
    "shared/crypto/device_tokens.py": (None, ("tests/unit/test_device_tokens.py",)),
    "shared/model/networks.py": (None, ("tests/unit/test_networks.py",)),
    # Modules that decide against storage: their tests are targeted integration subsets on a throwaway
    # Azurite (a few seconds a run); see docs/testing.md for why each subset covers its module.
    "shared/crypto/recovery_secrets.py": (None, ("tests/unit/test_recovery_secrets.py",
                                          "tests/unit/test_recovery_secrets_shape.py")),
    "shared/store/index_key.py": (None, ("tests/integration/test_index_key.py",
                                        "tests/integration/test_planted_defects.py")),
    "shared/flows/step_up.py": (None, ("tests/integration/test_step_up_proofs.py",
                                      "tests/integration/test_step_up_window.py",
                                      "tests/integration/test_recovery.py")),
    "shared/flows/access_pass.py": (None, ("tests/integration/test_recovery.py",
                                          "tests/integration/test_recovery_edges.py")),
    "shared/flows/recovery_codes.py": (None, ("tests/integration/test_recovery.py",
                                        "tests/integration/test_recovery_edges.py")),
    "shared/flows/removal.py": (None, ("tests/integration/test_recovery.py",
                                      "tests/integration/test_recovery_edges.py")),
    "shared/store/unit.py": (None, ("tests/integration/test_unit_of_work.py",
                                    "tests/integration/test_unit_of_work_edges.py",
                                    "tests/integration/test_stale_writes.py")),
    "shared/delivery/redrive.py": (None, (*REDRIVE_TESTS,)),
    "shared/channels/events.py": (None, ("tests/unit/test_events.py", "tests/unit/test_events_edges.py",
                                "tests/integration/test_events_edges.py", "tests/integration/test_commit_hook.py",
                                "tests/integration/test_events.py::TestQueue")),
    "shared/channels/webhook.py": (None, ("tests/unit/test_events.py", "tests/integration/test_webhook_delivery.py")),
    "shared/ops/reseal.py": (None, ("tests/unit/test_key_lifecycle.py", "tests/integration/test_reseal_edges.py",
                                "tests/integration/test_key_rotation.py")),
}
STATUS = {"ok_killed": "killed", "bad_survived": "survived", "bad_timeout": "timeout",
          "ok_suspicious": "killed", "skipped": "skipped", "untested": "untested"}

CONFIG = '''"""Written by tools/mutate.py: mutate only the listed line ranges (0-based, end exclusive)."""
RANGES = {ranges!r}


def pre_mutation(context):
    spans = RANGES.get(context.filename.replace("\\\\", "/"))
    if spans is not None and not any(lo <= context.current_line_index < hi for lo, hi in spans):
        context.skip = True
'''


def line_ranges(path: Path, functions: tuple[str, ...] | None) -> list[tuple[int, int]] | None:
    """0-based line ranges of the named top-level functions (None: the whole module)."""
    if functions is None:
        return None
    tree = ast.parse(path.read_text())
    spans = [(node.lineno - 1, node.end_lineno) for node in tree.body
             if isinstance(node, ast.FunctionDef) and node.name in functions]
    missing = set(functions) - {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    if missing:
        raise SystemExit(f"{path}: no function {', '.join(sorted(missing))} (update MODULES in tools/mutate.py)")
    return spans


def copy_tree(dest: Path) -> None:
    for name in ("shared", "tests"):
        shutil.copytree(ROOT / name, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
    (dest / "tools").mkdir()
    for py in (ROOT / "tools").glob("*.py"):
        shutil.copy(py, dest / "tools" / py.name)
    for package in (ROOT / "tools").glob("*/__init__.py"):  # the tools that are packages (devhost, soak, ...)
        shutil.copytree(package.parent, dest / "tools" / package.parent.name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    (dest / "tools" / "node_modules").symlink_to(ROOT / "tools" / "node_modules")  # Azurite, for integration tests


def run_tests(pytest_args: list[str]) -> int:
    """mutmut's test command (`mutate.py --run-tests ARGS`). mutmut 2.5.1 counts a mutant killed only on
    exit status 1, so pytest's 2 (a mutant that breaks an import: collection error) would "survive": any
    failure is 1 here. On its timeout mutmut SIGKILLs this process; pytest then gets SIGINT
    (PR_SET_PDEATHSIG), so its teardown still stops the Azurite it started instead of leaving it running."""
    libc = ctypes.CDLL(None, use_errno=True)
    proc = subprocess.Popen([sys.executable, "-m", "pytest", *pytest_args],
                            preexec_fn=lambda: libc.prctl(1, signal.SIGINT))  # 1: PR_SET_PDEATHSIG
    return 0 if proc.wait() == 0 else 1


def run_module(work: Path, module: str, tests: tuple[str, ...], budget: float) -> str:
    """Run mutmut over one module: "done", "budget ran out" (the rest stays untested), or why it failed
    (e.g. the unit tests fail without any mutant)."""
    runner = f"{PYTHON} {work / 'tools' / 'mutate.py'} --run-tests -x -q -p no:cacheprovider {' '.join(tests)}"
    cmd = [str(MUTMUT), "run", "--paths-to-mutate", module, "--tests-dir", "tests/unit", "--runner", runner,
           "--simple-output", "--no-progress"]
    log_path = work / "mutmut.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = proc.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait()
            shutil.copy(ROOT / module, work / module)  # never leave a mutant in place for the next module
            return "budget ran out"
    if code & 1:  # mutmut's "fatal error" bit
        tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
        return "FAILED: " + " | ".join(tail)
    return "done"


def results(work: Path) -> dict[str, dict[str, list[int]]]:
    """module -> status -> mutant ids, from mutmut's cache."""
    db = sqlite3.connect(work / ".mutmut-cache")
    rows = db.execute("SELECT s.filename, m.status, m.id FROM mutant m JOIN line l ON m.line = l.id "
                      "JOIN sourcefile s ON l.sourcefile = s.id").fetchall()
    out: dict[str, dict[str, list[int]]] = {}
    for filename, status, mutant_id in rows:
        out.setdefault(filename, {}).setdefault(STATUS.get(status, status), []).append(mutant_id)
    return out


def main() -> int:
    if sys.argv[1:2] == ["--run-tests"]:
        return run_tests(sys.argv[2:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=480, help="seconds per module (default 480)")
    parser.add_argument("--only", action="append", help="a module path from MODULES (repeatable)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "mutation-survivors.txt"))
    args = parser.parse_args()
    if not MUTMUT.exists():
        raise SystemExit("mutmut is not installed: make mutate-deps")
    modules = {m: MODULES[m] for m in (args.only or MODULES)}
    work = Path(tempfile.mkdtemp(prefix="twostep-mutate-"))
    try:
        copy_tree(work)
        ranges = {m: line_ranges(work / m, fns) for m, (fns, _) in modules.items()}
        (work / "mutmut_config.py").write_text(CONFIG.format(ranges={m: r for m, r in ranges.items() if r}))
        finished = {}
        started = time.monotonic()
        for module, (_, tests) in modules.items():
            t0 = time.monotonic()
            finished[module] = run_module(work, module, tests, args.budget)
            print(f"  {module}: {time.monotonic() - t0:.0f} s, {finished[module]}", file=sys.stderr)
        found = results(work)
        lines = [f"{'module':<26}{'mutants':>8}{'killed':>8}{'survived':>9}{'timeout':>8}{'untested':>9}  score"]
        survivors: list[str] = []
        for module in modules:
            by = found.get(module, {})
            counts = {k: len(by.get(k, [])) for k in ("killed", "survived", "timeout", "untested")}
            tested = counts["killed"] + counts["survived"] + counts["timeout"]
            score = f"{100 * (counts['killed'] + counts['timeout']) / tested:.1f}%" if tested else "-"
            lines.append(f"{module:<26}{sum(counts.values()):>8}{counts['killed']:>8}{counts['survived']:>9}"
                         f"{counts['timeout']:>8}{counts['untested']:>9}  {score}")
            for mutant_id in sorted(by.get("survived", [])):
                diff = subprocess.run([str(MUTMUT), "show", str(mutant_id)], cwd=work, capture_output=True,
                                      text=True).stdout.strip()
                survivors.append(f"### {module} mutant {mutant_id}\n{diff}\n")
        lines.append(f"total time {time.monotonic() - started:.0f} s")
        print("\n".join(lines))
        Path(args.out).write_text("# Surviving mutants of the last `make mutate` (see docs/testing.md)\n\n"
                                  + ("\n".join(survivors) if survivors else "None.\n"))
        print(f"survivors written to {args.out}")
        return 2 if survivors or any(state.startswith("FAILED") for state in finished.values()) else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
