"""The layers of shared/, checked by parsing every module's imports: a package may import only from
itself and the packages below it, so the packages form no cycle and a rule's place says what it may use.
The composition root (`wiring.py`, which builds `Deps`) is imported only by functions/, tests/ and tools/:
shared/ is handed narrow ports (shared/ports.py) and never builds the object behind them."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT / "shared"
# Lowest first. A package imports only from itself and from the packages before it. `settings_tables` (what
# reaching the table takes, which the rebalancing tool loads alone) sits under `settings` too. `settings_keys` (the
# key rings and webhook secret) sits under `settings`, which reads it; it needs only the kernel.
# `ports` (the protocols flows and methods are handed) sits below them; `deps` (the concrete object that
# satisfies the ports) sits above everything it is handed to, just under the composition root that builds it.
LAYERS = ["kernel", "settings_keys", "settings_tables", "settings", "inline_batch", "clients", "crypto", "model", "store", "channels", "ports", "methods",
          "delivery", "flows", "ops", "deps", "wiring"]
COMPOSITION_ROOT = "wiring"


def _module_name(path: Path, root: Path = ROOT) -> list[str]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def imported_modules(path: Path, root: Path = ROOT) -> set[str]:
    """Every `shared...` module `path` imports (relative ones resolved), TYPE_CHECKING imports included:
    an annotation is a dependency too. `from shared.x import y` counts as `shared.x.y` as well, since y may
    be a module."""
    name = _module_name(path, root)
    package = name if path.name == "__init__.py" else name[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            found |= {f"{module}.{a.name}" for a in node.names}
    return {m for m in found if m == "shared" or m.startswith("shared.")}


def layer_of(module: str) -> str | None:
    """The layer of `shared.<layer>[...]`, None for the package `shared` itself or a name not a layer."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def _shared_modules() -> list[Path]:
    return sorted(p for p in SHARED.rglob("*.py") if "__pycache__" not in p.parts)


def upward_imports(paths: list[Path], root: Path = ROOT) -> dict[str, list[str]]:
    """module path -> the modules of higher layers it imports."""
    found: dict[str, list[str]] = {}
    for path in paths:
        own = layer_of(".".join(_module_name(path, root)))
        if own is None:
            continue
        for module in sorted(imported_modules(path, root)):
            target = layer_of(module)
            if target is not None and LAYERS.index(target) > LAYERS.index(own):
                found.setdefault(str(path.relative_to(root)), []).append(f"{module} ({target} above {own})")
    return found


def test_every_module_of_shared_sits_in_a_declared_layer():
    loose = [str(p.relative_to(ROOT)) for p in _shared_modules()
             if p != SHARED / "__init__.py" and layer_of(".".join(_module_name(p))) is None]
    assert not loose, f"declare their layer in LAYERS (or move them into one): {loose}"


def test_imports_only_go_down_the_layers():
    assert not upward_imports(_shared_modules())


def test_only_functions_tests_and_tools_import_the_composition_root():
    outside = [p for p in _shared_modules() if layer_of(".".join(_module_name(p))) != COMPOSITION_ROOT]
    outside += [ROOT / "function_app.py"]
    importing = [str(p.relative_to(ROOT)) for p in outside
                 if any(layer_of(m) == COMPOSITION_ROOT for m in imported_modules(p))]
    assert not importing
    users = [p for d in ("functions", "tests", "tools") for p in (ROOT / d).rglob("*.py")
             if "node_modules" not in p.parts and any(layer_of(m) == COMPOSITION_ROOT for m in imported_modules(p))]
    assert users  # the walk does find the composition root's users


def test_the_check_catches_an_upward_import(tmp_path):
    """An upward import, relative or absolute, plain or under TYPE_CHECKING, is reported; one downward or
    within the package is not."""
    (tmp_path / "shared" / "kernel").mkdir(parents=True)
    (tmp_path / "shared" / "model").mkdir()
    bad = {
        "kernel/a.py": "from ..flows.signin import begin\n",
        "kernel/b.py": "import shared.wiring\n",
        "model/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..deps import Deps\n",
        "model/d.py": "from shared import methods\n",
    }
    good = {"model/e.py": "from ..kernel import errors\nfrom . import records\nfrom shared.settings import X\n"}
    for name, text in {**bad, **good}.items():
        (tmp_path / "shared" / name).write_text(text)
    found = upward_imports(sorted((tmp_path / "shared").rglob("*.py")), tmp_path)
    assert sorted(found) == [f"shared/{name}" for name in bad]


# The in-memory table and queues (and the filter parser behind the table) are for tests and tools only.
TEST_DOUBLES = {"shared.store.memory", "shared.store.odata", "shared.channels.memory"}


def test_the_in_memory_store_and_queues_stay_out_of_production_paths():
    production = [p for p in _shared_modules() + sorted((ROOT / "functions").rglob("*.py")) + [ROOT / "function_app.py"]
                  if ".".join(_module_name(p)) not in TEST_DOUBLES]
    importing = [str(p.relative_to(ROOT)) for p in production if imported_modules(p) & TEST_DOUBLES]
    assert not importing
    users = [p for p in (ROOT / "tests").rglob("*.py") if imported_modules(p) & TEST_DOUBLES]
    assert users  # the walk does find them where they belong
