"""Entity-group transactions without the SDK's thread pools.

azure-core prepares a multipart ($batch) request, and parses its answer, on a new ThreadPoolExecutor each
time (two pools and a thread per part per transaction): for the two or three rows of a sign-in that is
thread start-up, not work. `InlineBatches` wraps a TableClient's generated client and does both on the
calling thread, with the same policies in the same order, so the bytes on the wire are the SDK's own.
It relies on azure-core's multipart internals (`multipart_mixed_info`, `_get_raw_parts`) as pinned in
requirements.txt; `tests/integration/test_transport_overhead.py` checks a transaction starts no thread.
"""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from azure.core.pipeline import PipelineContext, PipelineRequest, PipelineResponse


def _prepare(request: Any) -> None:
    """Run the multipart policies' on_request on every sub-request, depth first, on this thread."""
    requests, policies, _, options = request.multipart_mixed_info
    for sub in requests:
        if sub.multipart_mixed_info:
            _prepare(sub)
        pipeline_request = PipelineRequest(sub, PipelineContext(None, **options))
        for policy in policies:
            policy.on_request(pipeline_request)


def _parts(response: Any) -> Iterator[Any]:
    """The answer's parts, each through the multipart policies' on_response, on this thread."""
    parts = response._get_raw_parts()  # noqa: SLF001 - what response.parts() calls, minus its pool
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
        request.prepare_multipart_body()
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
