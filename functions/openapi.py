"""GET /api/openapi.json (anonymous): the OpenAPI 3.1 description of every route, served from
functions/openapi.json, the one source of truth (JSON, so serving it needs no YAML parser at runtime).
Read and checked once at import; tests hold it to the routes the app registers and to every answer.

The document also decides which members a JSON request body may carry (`body_fields`): a body schema
marked `additionalProperties: false` is closed, its `required` members must be there, so an unknown or a
missing field is a 400 that names it at the edge (functions/http.py), the same on every route."""
import json
import urllib.parse
from functools import cache
from pathlib import Path
from typing import Any

import azure.functions as func

from shared.kernel.validation import Fields

from .tracing import invocation

bp = func.Blueprint()
DOCUMENT_PATH = Path(__file__).with_name("openapi.json")
DOCUMENT: dict = json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))
BASE = DOCUMENT["servers"][0]["url"]  # "/api", the host's routePrefix
_BODY = json.dumps(DOCUMENT, separators=(",", ":")).encode()
NO_BODY = Fields(allowed=frozenset())  # an operation the document gives no JSON body takes no member


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@invocation("http")
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(_BODY, status_code=200, mimetype="application/json",
                             headers={"Cache-Control": "public, max-age=300"})


def _segments(path: str) -> list[str]:
    return [urllib.parse.unquote(s) for s in path.strip("/").split("/")]


@cache
def _templates() -> list[tuple[str, list[str]]]:
    """Literal segments win over parameters, as the Functions host routes (fewest parameters first)."""
    return sorted(((t, _segments(t)) for t in DOCUMENT["paths"]), key=lambda ts: ts[0].count("{"))


def match_path(path: str) -> str | None:
    """The document's path template (e.g. /v1/users/{userId}) a request path such as /api/v1/users/x has;
    matched per segment (a parameter's %2F stays inside it, a literal compares without case, as the host's
    routing does)."""
    path = path.split("?", 1)[0]
    if not path.lower().startswith(BASE + "/"):
        return None
    local = _segments(path[len(BASE):].removesuffix("/"))  # the host takes one trailing slash, not two
    for template, parts in _templates():
        if len(parts) == len(local) and all(
                (p.startswith("{") and s != "") or p.lower() == s.lower() for p, s in zip(parts, local, strict=True)):
            return template
    return None


def resolve(node: dict[str, Any]) -> dict[str, Any]:
    """`node` with its `$ref` (a JSON pointer into this document) followed."""
    while "$ref" in node:
        target: Any = DOCUMENT
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _fields(schema: dict[str, Any]) -> Fields:
    schema = resolve(schema)
    properties = schema.get("properties") or {}
    closed = schema.get("additionalProperties") is False
    nested = {name: _fields(inner) for name, inner in properties.items() if "properties" in resolve(inner)}
    return Fields(allowed=frozenset(properties) if closed else None, required=tuple(schema.get("required", ())),
                  nested=nested)


@cache
def body_fields(method: str, template: str) -> Fields:
    """What a JSON body of this operation may and must carry, from its request body schema."""
    operation = DOCUMENT["paths"][template].get(method.lower()) or {}
    content = resolve(operation.get("requestBody", {})).get("content", {})
    schema = content.get("application/json", {}).get("schema")
    return NO_BODY if schema is None else _fields(schema)


def request_fields(method: str, url: str) -> Fields | None:
    """The body rules of the operation a request URL names (None: no route of the document)."""
    template = match_path(urllib.parse.urlsplit(url).path)
    return None if template is None else body_fields(method, template)
