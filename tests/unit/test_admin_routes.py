"""A1: admin authorization in one place. Read from the function app's own metadata (the functions the host
indexes), every route at auth level ADMIN is wrapped by `admin_route` and no other function is; and nothing
but the decorator resolves the operator or reads the principal header."""
from __future__ import annotations

import ast
import inspect
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import azure.functions as func

from functions.admin_auth import admin_route, is_admin_route
from functions.http import endpoint, respond
from tests.infra import code_facts

ROOT = Path(__file__).resolve().parents[2]
ADMIN_PREFIX = "v1/admin/"


def guard_findings(functions: Iterable[Any]) -> list[str]:
    """What breaks "every ADMIN route is wrapped, and only those" in a list of azure.functions `Function`s;
    the admin routes are also exactly the ones under v1/admin/, so the documented admin surface is the
    one the host guards."""
    findings = []
    for function in functions:
        route = code_facts.http_route(function)
        name, marked = function.get_function_name(), is_admin_route(function.get_user_function())
        if route is None:
            findings += [f"{name}: @admin_route on a function that is not an HTTP route"] if marked else []
            continue
        admin = route.auth_level == "ADMIN"
        if admin and not marked:
            findings.append(f"{name}: auth level ADMIN without @admin_route")
        if marked and not admin:
            findings.append(f"{name}: @admin_route on a route of auth level {route.auth_level}")
        if admin != route.template.startswith(ADMIN_PREFIX):
            findings.append(f"{name}: {route.template} at auth level {route.auth_level}")
    return findings


def test_every_admin_route_of_the_app_is_wrapped_and_only_those():
    assert code_facts.admin_routes(), "the app has admin routes: the walk found none"
    assert guard_findings(code_facts.app_functions()) == []


def _route(app: func.FunctionApp, name: str, template: str, level: func.AuthLevel, wrapped: bool) -> None:
    """Register `name` on `app` at `template`, behind `admin_route` or the plain `endpoint` guard."""
    def plain(req: func.HttpRequest) -> func.HttpResponse:
        return respond(204)

    def with_actor(req: func.HttpRequest, actor: str) -> func.HttpResponse:
        return respond(204)

    handler = with_actor if wrapped else plain
    handler.__name__ = name
    app.route(route=template, methods=["GET"], auth_level=level)(admin_route(with_actor) if wrapped else endpoint(plain))


def test_the_walk_catches_an_unwrapped_admin_route_and_a_misplaced_wrapper():
    app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
    ADMIN, FUNCTION, ANONYMOUS = func.AuthLevel.ADMIN, func.AuthLevel.FUNCTION, func.AuthLevel.ANONYMOUS
    for name, template, level, wrapped in [
            ("unwrapped", "v1/admin/unwrapped", ADMIN, False),
            ("wrapped_application_route", "v1/users/{userId}/wrapped", FUNCTION, True),
            ("admin_path_without_admin_level", "v1/admin/anonymous", ANONYMOUS, False),
            ("fine", "v1/admin/fine", ADMIN, True)]:
        _route(app, name, template, level, wrapped)
    assert guard_findings(app.get_functions()) == [
        "unwrapped: auth level ADMIN without @admin_route",
        "wrapped_application_route: @admin_route on a route of auth level FUNCTION",
        "admin_path_without_admin_level: v1/admin/anonymous at auth level ANONYMOUS",
    ]


def test_every_function_takes_exactly_its_trigger_binding():
    """The worker binds a function's parameters by its signature: the decorator's handler takes the actor
    too, so the function the host runs must still show only `(req)`."""
    for function in code_facts.app_functions():
        bindings = [b["name"] for b in json.loads(function.get_function_json())["bindings"] if b["name"] != "$return"]
        params = list(inspect.signature(function.get_user_function()).parameters)
        assert params == bindings, function.get_function_name()


def _names_used(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    names |= {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    return names


def test_only_the_decorator_resolves_the_operator_and_the_domain_never_reads_a_principal():
    code = [*(ROOT / "functions").rglob("*.py"), *(ROOT / "shared").rglob("*.py"), ROOT / "function_app.py"]
    resolving = {p.relative_to(ROOT).as_posix() for p in code if "admin_actor" in _names_used(p)}
    assert resolving == {"functions/admin_auth.py"}
    reading = {p.relative_to(ROOT).as_posix() for p in code if "x-ms-client-principal" in p.read_text().lower()}
    assert reading == {"functions/admin_auth.py"}
