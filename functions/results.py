"""How a flow's typed result is answered over HTTP: the one place that knows which status each kind of
result gets and that a started challenge lives under the route that created it (`Location`)."""
from __future__ import annotations

import azure.functions as func

from shared.kernel.results import ChallengeStarted, CodeSent, CodesIssued, NotRequired, Result, SecretIssued

from .http import location, respond

STATUS: dict[type, int] = {ChallengeStarted: 201, CodeSent: 202, SecretIssued: 201, NotRequired: 200, CodesIssued: 201}


def answer(req: func.HttpRequest, result: Result) -> func.HttpResponse:
    """The response to `req` for `result`; a challenge created under this route gets its Location."""
    headers = location(req, result.view["challengeId"]) if isinstance(result, ChallengeStarted) else {}
    return respond(STATUS[type(result)], result.view, headers)
