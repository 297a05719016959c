"""tools/ and tests/ import as packages from the repository root (`python -m tools.<name>`, pytest's
`pythonpath = ["."]`): no module edits sys.path to find another. An edit hides a broken import until a tool is
run from another folder, and lets two modules of the same name shadow each other.

One use is the product, not an import hack: the dev host puts the served app's folder on sys.path, as the
Azure Functions Python worker does with its script root, so `function_app.py` imports its own packages."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# (file, enclosing function) -> why it may touch sys.path
ALLOWED = {("tools/devhost/host.py", "load_app"): "the served app's folder is its import root, as in the worker"}


def path_uses(source: str) -> list[tuple[int, str | None]]:
    """(line, enclosing function) of every `sys.path` reference and `from sys import path`."""
    found: list[tuple[int, str | None]] = []

    def visit(node: ast.AST, function: str | None) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            function = node.name
        if (isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name)
                and node.value.id == "sys") or (
                isinstance(node, ast.ImportFrom) and node.module == "sys" and any(a.name == "path" for a in node.names)):
            found.append((node.lineno, function))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(ast.parse(source), None)
    return found


def offenders(root: Path) -> list[str]:
    out = []
    for folder in ("tools", "tests"):
        for path in sorted((root / folder).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            if "node_modules" in path.parts:
                continue
            out += [f"{rel}:{line}" for line, function in path_uses(path.read_text(encoding="utf-8"))
                    if (rel, function) not in ALLOWED]
    return out


def test_no_module_in_tools_or_tests_edits_sys_path() -> None:
    assert offenders(ROOT) == []


def test_the_allowed_use_still_exists() -> None:
    """An allowance whose code is gone is removed, not left to excuse a new edit."""
    for rel, function in ALLOWED:
        assert any(f == function for _, f in path_uses((ROOT / rel).read_text(encoding="utf-8"))), rel


def test_the_check_sees_every_form_of_edit(tmp_path: Path) -> None:
    (tmp_path / "tools").mkdir()
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    (tmp_path / "tools" / "a.py").write_text("import sys\nsys.path.insert(0, 'x')\n")
    (tmp_path / "tests" / "unit" / "b.py").write_text("import sys\n\ndef f():\n    sys.path[:0] = ['x']\n")
    (tmp_path / "tests" / "c.py").write_text("from sys import path\npath.append('x')\n")
    (tmp_path / "tools" / "load_app.py").write_text("import sys\n\ndef load_app():\n    sys.path.append('x')\n")
    (tmp_path / "tools" / "clean.py").write_text("import os\nos.path.join('a')\n")
    assert offenders(tmp_path) == ["tools/a.py:2", "tools/load_app.py:4", "tests/c.py:1", "tests/unit/b.py:4"]
