"""What the app's code needs from its environment, read from the code itself (not from a list kept here).

- settings: every app setting `shared.settings.load_settings` looks up (recorded while it runs), plus every
  string key read from an environment mapping anywhere in function_app.py, functions/ and shared/ (static
  scan: os.environ / os.getenv / env.get / env[...] / _raw / _required, f-strings over module constants,
  and the names in config.BOUNDS);
- bindings: the trigger metadata of the Function App (queue names, connection names), from the same
  `app.get_functions()` the Functions host indexes; the HTTP routes and the admin ones among them (A1);
- queues: queue-trigger queues plus the *_QUEUE constants in shared/;
- table: the table name the app uses by default.
"""
from __future__ import annotations

import ast
import functools
import json
import runpy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CODE_FILES = [ROOT / "function_app.py", *sorted((ROOT / "functions").rglob("*.py")),
              *sorted((ROOT / "shared").rglob("*.py"))]
EXAMPLE_SETTINGS = ROOT / "local.settings.example.json"

_ENV_NAMES = {"env", "environ", "environment", "settings_env"}
_ENV_FUNCTIONS = {"getenv", "_raw", "_required", "_int", "_bool", "_float", "_list"}


def example_settings() -> dict[str, str]:
    return dict(json.loads(EXAMPLE_SETTINGS.read_text())["Values"])


class RecordingEnv(Mapping[str, str]):
    """A read-only environment that remembers every key asked for (get, [], in)."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self.asked: list[str] = []

    def __getitem__(self, key: str) -> str:
        self.asked.append(key)
        return self._values[key]

    def __contains__(self, key: object) -> bool:
        if isinstance(key, str):
            self.asked.append(key)
        return key in self._values

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.append(key)
        return self._values.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def recorded_settings(values: Mapping[str, str]) -> tuple[list[str], Any]:
    """Run load_settings on `values`; return the keys it asked for and the Settings (or the error)."""
    from shared.settings import load_settings

    env = RecordingEnv(values)
    try:
        result: Any = load_settings(env)
    except Exception as error:  # noqa: BLE001 - the caller asserts on it
        result = error
    return env.asked, result


def _module_constants(tree: ast.Module) -> dict[str, str]:
    constants = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = node.value.value
    return constants


def _imported_constants() -> dict[str, str]:
    constants: dict[str, str] = {}
    for path in CODE_FILES:
        constants.update(_module_constants(ast.parse(path.read_text(), str(path))))
    return constants


def _string_of(node: ast.AST, constants: dict[str, str]) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    if isinstance(node, ast.JoinedStr):
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif isinstance(value, ast.FormattedValue):
                inner = _string_of(value.value, constants)
                if inner is None:
                    return None
                parts.append(inner)
        return "".join(parts)
    return None


def _is_env(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id in _ENV_NAMES
    if isinstance(node, ast.Attribute):
        return node.attr in _ENV_NAMES
    return False


def _looks_like_setting(name: str) -> bool:
    return bool(name) and (name[0].isupper() or name.startswith("AzureWebJobs")) and " " not in name


@functools.cache
def static_settings() -> frozenset[str]:
    """Setting names the code reads from an environment mapping, found by reading the source."""
    constants = _imported_constants()
    found: set[str] = set()
    for path in CODE_FILES:
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            keys: list[ast.AST] = []
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Attribute) and func.attr == "get" and _is_env(func.value):
                    keys = node.args[:1]
                elif isinstance(func, ast.Attribute) and func.attr == "getenv":
                    keys = node.args[:1]
                elif isinstance(func, ast.Name) and func.id in _ENV_FUNCTIONS:
                    keys = [a for a in node.args[:2] if not _is_env(a)][:1]
            elif isinstance(node, ast.Subscript) and _is_env(node.value):
                keys = [node.slice]
            elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "BOUNDS"
                                                      for t in node.targets):
                keys = [v.elts[0] for v in getattr(node.value, "values", []) if isinstance(v, ast.Tuple)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == "BOUNDS":
                keys = [v.elts[0] for v in getattr(node.value, "values", []) if isinstance(v, ast.Tuple)]
            for key in keys:
                name = _string_of(key, constants)
                if name and _looks_like_setting(name):
                    found.add(name)
    return frozenset(found)


@functools.cache
def app_functions() -> tuple[Any, ...]:
    """The Function App's functions (azure.functions `Function`: trigger, bindings, user function), as the
    Functions host indexes them."""
    app = runpy.run_path(str(ROOT / "function_app.py"))["app"]  # a fresh FunctionApp: get_functions() once
    return tuple(app.get_functions())


@functools.cache
def function_bindings() -> tuple[dict[str, Any], ...]:
    """Every binding of every function, with the function's name, as the Functions host indexes them."""
    bindings = []
    for function in app_functions():
        for binding in json.loads(function.get_function_json())["bindings"]:
            bindings.append({"function": function.get_function_name(), **binding})
    return tuple(bindings)


@dataclass(frozen=True)
class HttpRoute:
    """One HTTP-triggered function as the host sees it: name, methods, route template, auth level
    (`ADMIN`, `FUNCTION`, `ANONYMOUS`) and the callable the worker runs."""

    name: str
    methods: tuple[str, ...]
    template: str
    auth_level: str
    handler: Any


def http_route(function: Any) -> HttpRoute | None:
    """The route of an azure.functions `Function`, or None when its trigger is not HTTP."""
    trigger = next(b for b in json.loads(function.get_function_json())["bindings"] if b["direction"] == "IN"
                   and b["type"].endswith("Trigger"))
    if trigger["type"] != "httpTrigger":
        return None
    return HttpRoute(function.get_function_name(), tuple(m.upper() for m in trigger.get("methods") or ()),
                     trigger.get("route") or function.get_function_name(),
                     str(trigger.get("authLevel") or "FUNCTION").upper(), function.get_user_function())


def admin_routes() -> list[HttpRoute]:
    """Every route of the Function App the host serves at auth level ADMIN (A1: the generated list)."""
    return [r for r in map(http_route, app_functions()) if r is not None and r.auth_level == "ADMIN"]


def trigger_connections() -> dict[str, set[str]]:
    """connection name -> binding types that use it (queueTrigger, blobTrigger, ...)."""
    connections: dict[str, set[str]] = {}
    for binding in function_bindings():
        if binding.get("connection"):
            connections.setdefault(binding["connection"], set()).add(binding["type"])
    return connections


def queue_names() -> set[str]:
    names = {b["queueName"] for b in function_bindings() if b.get("queueName")}
    for path in CODE_FILES:
        for name, value in _module_constants(ast.parse(path.read_text(), str(path))).items():
            if name.endswith("_QUEUE"):
                names.add(value)
    return names


def literal_table_names() -> set[str]:
    """Tables named by a literal in the code (get_table_client("x"), table_name="x"), if any."""
    names: set[str] = set()
    for path in CODE_FILES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Attribute) and func.attr in ("get_table_client", "create_table",
                                                                     "create_table_if_not_exists"):
                    names.update(a.value for a in node.args[:1] if isinstance(a, ast.Constant))
                names.update(k.value.value for k in node.keywords
                             if k.arg == "table_name" and isinstance(k.value, ast.Constant))
    return {n for n in names if isinstance(n, str)}


def signal_events() -> dict[str, str]:
    """The operational event names the code logs (shared/kernel/signals.py: the constants listed in ALL)."""
    tree = ast.parse((ROOT / "shared" / "kernel" / "signals.py").read_text())
    constants = _module_constants(tree)
    listed: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "ALL" for t in node.targets):
            listed = [e.id for e in getattr(node.value, "elts", []) if isinstance(e, ast.Name)]
    return {name: constants[name] for name in listed}
