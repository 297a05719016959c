"""Entity-group transactions without the SDK's thread pools and without the `email` package.

azure-core prepares a multipart ($batch) request, and parses its answer, on a new ThreadPoolExecutor each
time (two pools and a thread per part per transaction): for the two or three rows of a sign-in that is
thread start-up, not work. It also builds the body and splits the answer with the standard library's
`email` package (a MIME message flattened through a generator, a feed parser and a header registry): a
third of the CPU of a TOTP sign-in's two transactions, more than the rest of the request's handling.

`InlineBatches` wraps a TableClient's generated client and does all of it on the calling thread: the same
policies in the same order, the same sub-requests serialized by azure-core, and the multipart framing
written and split here, byte for byte what azure-core writes (`multipart_body`) and reading what it reads
(`split_parts`). It relies on azure-core's multipart internals (`multipart_mixed_info`, the sub-request
`serialize`, `BytesIOSocket`) as pinned in requirements.txt. `tests/integration/test_transport_overhead.py`
checks that a transaction starts no thread and that the body and the parsed answers (a success, 409, 412,
404) are azure-core's own.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from http.client import HTTPResponse
from typing import Any

from azure.core.pipeline import PipelineContext, PipelineRequest, PipelineResponse
from azure.core.rest._http_response_impl import RestHttpClientTransportResponse
from azure.core.utils._pipeline_transport_rest_shared import BytesIOSocket

CRLF = b"\r\n"
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)


def _prepare(request: Any) -> None:
    """Run the multipart policies' on_request on every sub-request, depth first, on this thread."""
    requests, policies, _, options = request.multipart_mixed_info
    for sub in requests:
        if sub.multipart_mixed_info:
            _prepare(sub)
        pipeline_request = PipelineRequest(sub, PipelineContext(None, **options))
        for policy in policies:
            policy.on_request(pipeline_request)


def multipart_body(request: Any, content_index: int = 0) -> tuple[bytes, int]:
    """The multipart/mixed body of `request` (policies applied), as azure-core's prepare_multipart_body
    writes it: each part `--boundary`, its headers, a blank line, its payload, CRLF; then `--boundary--`."""
    subs, _, boundary, _ = request.multipart_mixed_info
    out = bytearray()
    for sub in subs:
        if sub.multipart_mixed_info:
            payload, content_index = multipart_body(sub, content_index)
            head = b"Content-Type: multipart/mixed; boundary=" + sub.multipart_mixed_info[2].encode("ascii")
        else:
            payload = sub.serialize()
            head = (b"Content-Type: application/http" + CRLF + b"Content-Transfer-Encoding: binary" + CRLF
                    + b"Content-ID: " + str(content_index).encode("ascii"))
            content_index += 1
        out += b"--" + boundary.encode("ascii") + CRLF + head + CRLF + CRLF + payload + CRLF
    out += b"--" + boundary.encode("ascii") + b"--" + CRLF
    return bytes(out), content_index


def _prepare_body(request: Any) -> None:
    body, _ = multipart_body(request)
    request.set_bytes_body(body)
    request.headers["Content-Type"] = "multipart/mixed; boundary=" + request.multipart_mixed_info[2]


def _mime_parts(body: bytes, boundary: str) -> list[tuple[dict[str, str], bytes]]:
    """The parts between `--boundary` lines, each (lower-cased headers, payload); the line break before a
    delimiter belongs to it (RFC 2046), the preamble and the epilogue are skipped."""
    parts = []
    for chunk in body.split(b"--" + boundary.encode("ascii"))[1:]:
        if chunk.startswith(b"--"):
            break  # the close delimiter
        chunk = chunk[2:] if chunk.startswith(CRLF) else chunk.removeprefix(b"\n")
        chunk = chunk[:-2] if chunk.endswith(CRLF) else chunk.removesuffix(b"\n")
        head, sep, payload = chunk.partition(CRLF + CRLF)
        if not sep:
            head, _, payload = chunk.partition(b"\n\n")
        headers = {}
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        parts.append((headers, payload))
    return parts


def _boundary(content_type: str) -> str:
    found = _BOUNDARY.search(content_type or "")
    if found is None:
        raise ValueError("a multipart answer without a boundary")
    return found.group(1)


def split_parts(body: bytes, content_type: str, requests: Sequence[Any]) -> list[Any]:
    """The HTTP answers inside a multipart answer, a changeset's flattened in, each matched by position
    with the sub-request it answers (as azure-core matches them)."""
    responses: list[Any] = []
    for index, (headers, payload) in enumerate(_mime_parts(body, _boundary(content_type))):
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        if kind == "application/http":
            socket = BytesIOSocket(payload)  # a stand-in: HTTPResponse only calls its makefile()
            raw = HTTPResponse(socket, method=requests[index].method)  # type: ignore[arg-type]  # see above
            raw.begin()
            responses.append(RestHttpClientTransportResponse(request=requests[index], internal_response=raw))
        elif kind == "multipart/mixed" and requests[index].multipart_mixed_info:
            changeset = requests[index].multipart_mixed_info[0]
            responses.extend(split_parts(payload, headers["content-type"], changeset))
        else:
            raise ValueError(f"a multipart answer with a part of type {kind!r}")
    return responses


def _parts(response: Any) -> Iterator[Any]:
    """The answer's parts, each through the multipart policies' on_response, on this thread."""
    parts = split_parts(response.body(), response.content_type, response.request.multipart_mixed_info[0])
    policies = response.request.multipart_mixed_info[1]
    for part in parts:
        pipeline_request = PipelineRequest(part.request, PipelineContext(None))
        pipeline_response = PipelineResponse(part.request, part, context=PipelineContext(None))
        for policy in policies:
            policy.on_response(pipeline_request, pipeline_response)
    return iter(parts)


class InlineBatches:
    """Stands in for a TableClient's generated client; every call but a multipart one passes through."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def send_request(self, request: Any, **kwargs: Any) -> Any:
        info = request.multipart_mixed_info
        if not info:
            return self._inner.send_request(request, **kwargs)
        _prepare(request)
        _prepare_body(request)
        request.multipart_mixed_info = None  # prepared: the pipeline has nothing left to do with it
        try:
            response = self._inner.send_request(request, **kwargs)
        finally:
            request.multipart_mixed_info = info
        # The parts are matched with these sub-requests (the response may hold a copy of the request).
        response.request.multipart_mixed_info = info
        response.parts = lambda: _parts(response)
        return response


def inline_batches(table_client: Any) -> Any:
    """`table_client` with its transactions prepared and parsed inline (see the module docstring)."""
    table_client._client = InlineBatches(table_client._client)  # noqa: SLF001 - the one seam there is
    return table_client
