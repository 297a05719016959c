"""Narrow collaborators, checked by parsing: the code that is handed the service's collaborators (flows/,
methods/, delivery/, ops/) imports neither the object that holds them (`deps.py`), nor the composition root
that builds it (`wiring.py`), nor the SDK clients (`clients.py`); it types each collaborator parameter with
a protocol of `shared/ports.py`, so mypy proves what each function uses. Inside shared/, only `wiring.py`
imports `deps.py`, and nothing imports `wiring.py`."""
from __future__ import annotations

import ast
from pathlib import Path

import shared.ports
from tests.unit.test_layers import ROOT, _module_name, imported_modules

HANDED = ("flows", "methods", "delivery", "ops")  # the packages that receive collaborators
WIRING = ("shared.deps", "shared.wiring", "shared.clients")
PORTS = {name for name, value in vars(shared.ports).items()
         if isinstance(value, type) and value.__module__ == shared.ports.__name__}
COLLABORATOR = "d"  # the parameter every flow, method, delivery step and ops job takes its collaborators in


def _names(annotation: ast.expr) -> set[str]:
    """Every name an annotation mentions (`Deps`, `deps.Deps`, a quoted "Deps" alike)."""
    found: set[str] = set()
    for node in ast.walk(annotation):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:
                found |= _names(ast.parse(node.value, mode="eval").body)
            except SyntaxError:
                pass
    return found


def _parameters(tree: ast.AST) -> list[tuple[str, ast.arg]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            a = node.args
            params = [*a.posonlyargs, *a.args, *a.kwonlyargs, *(p for p in (a.vararg, a.kwarg) if p)]
            out += [(getattr(node, "name", "<lambda>"), p) for p in params]
    return out


def service_locator_uses(paths: list[Path], root: Path = ROOT) -> dict[str, list[str]]:
    """module path -> what ties it to the wiring: an import of deps/wiring/clients, a parameter typed with
    `Deps`, a collaborator parameter `d` left untyped or typed `Any` (which mypy would not check)."""
    found: dict[str, list[str]] = {}
    for path in paths:
        wrong = [f"imports {m}" for m in sorted(imported_modules(path, root))
                 if any(m == w or m.startswith(w + ".") for w in WIRING)]
        for function, param in _parameters(ast.parse(path.read_text())):
            names = _names(param.annotation) if param.annotation is not None else set()
            if "Deps" in names:
                wrong.append(f"{function}({param.arg}) is typed Deps")
            elif param.arg == COLLABORATOR and names <= {"Any"}:
                wrong.append(f"{function}({param.arg}) is not typed (a port of shared/ports.py)")
        if wrong:
            found[str(path.relative_to(root))] = wrong
    return found


def importers_of(module: str, paths: list[Path], root: Path = ROOT) -> list[str]:
    return [str(p.relative_to(root)) for p in paths
            if any(m == module or m.startswith(module + ".") for m in imported_modules(p, root))]


def _modules(root: Path, *packages: str) -> list[Path]:
    return sorted(p for package in packages for p in (root / "shared" / package).rglob("*.py")
                  if "__pycache__" not in p.parts)


def _shared(root: Path = ROOT) -> list[Path]:
    return sorted(p for p in (root / "shared").rglob("*.py") if "__pycache__" not in p.parts)


def test_code_that_is_handed_collaborators_declares_them_as_ports():
    modules = _modules(ROOT, *HANDED)
    assert service_locator_uses(modules) == {}
    typed = [param for path in modules for _, param in _parameters(ast.parse(path.read_text()))
             if param.arg == COLLABORATOR and param.annotation is not None and _names(param.annotation) & PORTS]
    assert len(typed) > 100  # the walk does find the collaborators, typed with ports


def test_inside_shared_only_wiring_imports_deps_and_nothing_imports_wiring():
    others = [p for p in _shared() if _module_name(p) != ["shared", "wiring"]]
    assert importers_of("shared.wiring", others) == []
    assert importers_of("shared.deps", others) == []
    assert importers_of("shared.deps", _shared()) == ["shared/wiring.py"]  # the walk does see the one import


def test_the_checks_catch_each_way_back_to_the_wiring(tmp_path):
    """Each form of import (relative, absolute, under TYPE_CHECKING), a `Deps` annotation (plain, dotted,
    quoted) and an untyped or `Any` collaborator is reported; a module typed with ports is not."""
    (tmp_path / "shared" / "flows").mkdir(parents=True)
    bad = {
        "a.py": "from ..deps import Deps\n",
        "b.py": "import shared.wiring\n",
        "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from shared import clients\n",
        "d.py": "def f(x: 'Deps') -> None: ...\n",
        "e.py": "def f(x: int, *, deps: shared.deps.Deps) -> None: ...\n",
        "f.py": "class M:\n    def check(self, d: list[Deps]) -> None: ...\n",
        "g.py": "def f(d) -> None: ...\n",
        "h.py": "from typing import Any\ndef f(d: Any) -> None: ...\n",
    }
    good = {"ok.py": "from ..ports import Clocked, Units\nfrom . import signin\n"
                     "def f(d: Clocked, e: Units) -> None: ...\ndef g(d: object) -> None: ...\n"}
    for name, text in {**bad, **good}.items():
        (tmp_path / "shared" / "flows" / name).write_text(text)
    found = service_locator_uses(_modules(tmp_path, "flows"), tmp_path)
    assert sorted(found) == [f"shared/flows/{name}" for name in bad]
    everything = _shared(tmp_path)
    assert importers_of("shared.wiring", everything, tmp_path) == ["shared/flows/b.py"]
    assert importers_of("shared.deps", everything, tmp_path) == ["shared/flows/a.py"]
