"""The OpenAPI document (functions/openapi.json) against the app itself: every HTTP route the Functions host
indexes is described with its method and auth level, and the document names no route that does not exist;
its problem `code` enum is exactly the codes the code can answer; its schemas are valid Draft 2020-12."""
from __future__ import annotations

import json
import re

from jsonschema import Draft202012Validator

from functions.openapi import DOCUMENT, NO_BODY, body_fields, match_path, request_fields
from shared.kernel import errors
from shared.kernel.validation import Fields
from tests.conftest import ROOT
from tests.infra.code_facts import function_bindings
from tests.openapi_contract import METHODS, mismatches, root_validator

SECURITY = {"ANONYMOUS": [], "FUNCTION": [{"functionKey": []}, {"functionKeyQuery": []}],
            "ADMIN": [{"masterKey": []}]}


def app_routes() -> dict[tuple[str, str], str]:
    """(METHOD, /path/{param}) -> auth level, from the app's own metadata (`app.get_functions()`)."""
    routes = {}
    for binding in function_bindings():
        if binding["type"] == "httpTrigger":
            path = "/" + re.sub(r"\{\*?(\w+)[^}]*\}", r"{\1}", binding["route"].strip("/"))
            for method in binding.get("methods") or METHODS:
                routes[(method.upper(), path)] = binding["authLevel"].upper()
    return routes


def documented_routes() -> dict[tuple[str, str], list]:
    return {(method.upper(), path): op.get("security", DOCUMENT["security"])
            for path, item in DOCUMENT["paths"].items() for method, op in item.items() if method in METHODS}


def test_every_route_of_the_app_is_documented():
    assert len(app_routes()) > 25
    assert sorted(set(app_routes()) - set(documented_routes())) == [], "routes the document misses"


def test_the_document_names_no_route_the_app_lacks():
    assert sorted(set(documented_routes()) - set(app_routes())) == [], "operations of no route of the app"


def test_each_operation_names_the_key_its_route_needs():
    app, documented = app_routes(), documented_routes()
    wrong = {route: (level, documented[route]) for route, level in app.items() if documented.get(route, SECURITY[level]) != SECURITY[level]}
    assert wrong == {}


def test_servers_url_is_the_hosts_route_prefix():
    prefix = json.loads((ROOT / "host.json").read_text()).get("extensions", {}).get("http", {}).get("routePrefix", "api")
    assert DOCUMENT["servers"] == [{"url": f"/{prefix}"}]
    assert DOCUMENT["openapi"].startswith("3.1.")


def test_problem_codes_are_exactly_the_codes_the_code_answers():
    def codes(cls: type) -> set[str]:
        return {cls.code}.union(*(codes(sub) for sub in cls.__subclasses__()))

    enum = DOCUMENT["components"]["schemas"]["Problem"]["properties"]["code"]["enum"]
    assert len(enum) == len(set(enum))
    assert set(enum) == codes(errors.TwostepError)


def test_every_operation_documents_its_refusals():
    """401 wherever a key is needed, 413 wherever a body is read, 503 wherever Storage is; a unique id."""
    ids = []
    for path, item in DOCUMENT["paths"].items():
        for method, op in item.items():
            ids.append(op["operationId"])
            needs_key = op.get("security", DOCUMENT["security"]) != []
            assert ("401" in op["responses"]) == needs_key, (method, path)
            if "requestBody" in op:
                assert "413" in op["responses"], (method, path)
            if needs_key:  # every route behind a key reads Storage
                assert "503" in op["responses"], (method, path)
    assert len(ids) == len(set(ids))


def test_every_schema_is_valid_draft_2020_12():
    def schemas(node):
        if isinstance(node, dict):
            if "schema" in node and isinstance(node["schema"], dict):
                yield node["schema"]
            for value in node.values():
                yield from schemas(value)
        elif isinstance(node, list):
            for value in node:
                yield from schemas(value)

    found = list(schemas(DOCUMENT["paths"])) + list(DOCUMENT["components"]["schemas"].values())
    assert len(found) > 40
    for schema in found:
        Draft202012Validator.check_schema(schema)


def test_every_example_matches_its_schema():
    """The README's examples in the document are answers the document itself accepts."""
    def media(node):
        if isinstance(node, dict):
            if "example" in node and "schema" in node:
                yield node
            for value in node.values():
                yield from media(value)

    found = list(media(DOCUMENT))
    assert len(found) > 20
    for item in found:
        if isinstance(item["example"], str):  # the OATH CSV
            continue
        errors = list(root_validator().evolve(schema=item["schema"]).iter_errors(item["example"]))
        assert errors == [], item["example"]


def test_the_response_check_names_operation_and_mismatch():
    """The validator the integration tests run on every answer does fail, and says where."""
    ok = b'{"status": "ok", "config": "ok", "storage": "ok"}'
    assert mismatches("GET", "/api/health", 200, "application/json", ok) == []
    wrong = mismatches("GET", "/api/health", 200, "application/json", b'{"status": "fine"}')
    assert wrong and all(m.startswith("health (GET /health)") for m in wrong)
    assert "body at status: 'ok' was expected" in " ".join(wrong) and "'config' is a required property" in " ".join(wrong)
    assert mismatches("GET", "/api/v1/users/alice", 418, "application/json", b"{}") == [
        "getUser (GET /v1/users/{userId}): status 418 is not documented (documented: 200, 400, 401, 404, 503)"]
    assert "answered application/json" in mismatches("GET", "/api/v1/users/a", 404, "application/json", b"{}")[0]
    assert mismatches("PUT", "/api/health", 405, None, b"") == []
    assert mismatches("GET", "/api/v1/nothing", 404, None, b"") == []
    assert mismatches("GET", "/api/v1/nothing", 200, "application/json", b"{}") != []


def test_every_route_of_the_app_finds_its_body_rules():
    """The edge picks a body's field rules by the request path (functions.openapi.match_path): every route
    of the app is found, also with an encoded literal, a %2F inside a parameter and one trailing slash; a
    closed body names what it takes, and a body the document does not describe takes no member."""
    for method, path in app_routes():
        concrete = re.sub(r"\{\w+\}", "a%2Fb", path)
        assert match_path("/api" + concrete) == path, (method, path)
        assert match_path("/api" + concrete + "/") == path
        assert isinstance(request_fields(method, f"https://h/api{concrete}?code=k"), Fields)
    assert match_path("/api/v1/%63hallenges") == "/v1/challenges" and match_path("/api/v1/nothing") is None
    assert request_fields("POST", "https://h/elsewhere/v1/challenges") is None
    begin = body_fields("POST", "/v1/challenges")
    assert begin.allowed == {"userId", "method", "context"} and begin.required == ("userId",)
    assert begin.nested["context"].allowed == {"ip", "riskLevel", "deviceToken"}
    assert body_fields("PATCH", "/v1/admin/policy").allowed is None  # the policy checks its own keys
    assert body_fields("POST", "/v1/admin/users/{userId}/revoke-sessions") == NO_BODY
