"""GET /api/openapi.json (anonymous): the OpenAPI 3.1 description of every route, served from
functions/openapi.json, the one source of truth (JSON, so serving it needs no YAML parser at runtime).
Read and checked once at import; tests hold it to the routes the app registers and to every answer."""
import json
from pathlib import Path

import azure.functions as func

from .http import JSON
from .tracing import invocation

bp = func.Blueprint()
DOCUMENT_PATH = Path(__file__).with_name("openapi.json")
DOCUMENT: dict = json.loads(DOCUMENT_PATH.read_text(encoding="utf-8"))
_BODY = json.dumps(DOCUMENT, separators=(",", ":")).encode()


@bp.route(route="openapi.json", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@invocation("http")
def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(_BODY, status_code=200, mimetype=JSON, headers={"Cache-Control": "public, max-age=300"})
