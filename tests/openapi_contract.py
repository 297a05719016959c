"""Every answer the tests get from the dev host, held to functions/openapi.json: the status is documented
for the operation, the content type is the documented one, and the body validates against its schema
(jsonschema, Draft 2020-12, the dialect of OpenAPI 3.1). A mismatch names the operation and what is wrong,
so the description cannot drift from the code."""
from __future__ import annotations

import json
import urllib.parse
from dataclasses import dataclass
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator

from functions.openapi import DOCUMENT, match_path, resolve

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


@dataclass(frozen=True)
class Operation:
    method: str
    template: str  # a key of `paths`, e.g. /v1/users/{userId}
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.spec.get('operationId')} ({self.method.upper()} {self.template})"


def find_operation(method: str, path: str) -> tuple[str | None, Operation | None]:
    """(the matching path template, its operation for `method`) for a request path such as /api/v1/users/x:
    the app's own matcher (functions.openapi.match_path, which also picks each body's field rules)."""
    template = match_path(path)
    if template is None:
        return None, None
    spec = DOCUMENT["paths"][template].get(method.lower())
    return template, None if spec is None else Operation(method.lower(), template, spec)


@cache
def root_validator() -> Draft202012Validator:
    """A validator rooted at the whole document, so `#/components/...` references resolve in every schema."""
    return Draft202012Validator(DOCUMENT)


def host_refusal(name: str, expected: int, status: int, content_type: str | None, body: bytes) -> list[str]:
    """A refusal the host answers before the app runs: the Azure host's is empty, the dev host's a Problem."""
    if status != expected:
        return [f"{name}: expected the host's {expected}, got {status}"]
    if not body:
        return []
    if (content_type or "").split(";")[0].strip().lower() != "application/problem+json":
        return [f"{name}: the host's {status} body is not problem+json: {body[:200]!r}"]
    try:
        instance = json.loads(body)
    except ValueError:
        return [f"{name}: the host's {status} body is not JSON: {body[:200]!r}"]
    validator = root_validator().evolve(schema={"$ref": "#/components/schemas/Problem"})
    return [f"{name}: the host's {status} body: {e.message}" for e in validator.iter_errors(instance)]


def mismatches(method: str, path: str, status: int, content_type: str | None, body: bytes) -> list[str]:
    """What is wrong with this answer according to the document (empty when it conforms)."""
    template, operation = find_operation(method, path)
    if template is None:  # no route of the app: the host answers 404
        return host_refusal(f"{method} {path}", 404, status, content_type, body)
    if operation is None:  # a path of the app, a method it does not take: the host answers 405
        return host_refusal(f"{method} {template}", 405, status, content_type, body)
    if status == 401:  # the key check is the host's too
        return host_refusal(operation.name, 401, status, content_type, body)
    responses = operation.spec["responses"]
    documented = responses.get(str(status)) or responses.get(f"{str(status)[0]}XX") or responses.get("default")
    if documented is None:
        return [f"{operation.name}: status {status} is not documented (documented: {', '.join(responses)})"]
    content = resolve(documented).get("content")
    if not content:
        return [] if not body else [f"{operation.name}: {status} is documented without a body, got {body[:200]!r}"]
    media = (content_type or "").split(";")[0].strip().lower()
    if media not in content:
        return [f"{operation.name}: {status} answered {media or 'no content type'}, documented {', '.join(content)}"]
    schema = content[media].get("schema")
    if schema is None:
        return []
    try:
        instance = json.loads(body)
    except ValueError:
        return [f"{operation.name}: {status} {media} body is not JSON: {body[:200]!r}"]
    validator = root_validator().evolve(schema=schema)
    return [f"{operation.name}: {status} body at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
            for e in validator.iter_errors(instance)]


def check_response(response: Any) -> None:
    """Fail the test when a `requests` response does not conform to the document."""
    request = response.request
    found = mismatches(request.method, urllib.parse.urlsplit(request.url).path, response.status_code,
                       response.headers.get("Content-Type"), response.content)
    assert not found, "response does not conform to functions/openapi.json:\n  " + "\n  ".join(found)
