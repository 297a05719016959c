"""How a flow's typed result is answered over HTTP: the one place that knows which status each kind of
result gets and that a started challenge lives under the route that created it (`Location`)."""
from __future__ import annotations

import io

import azure.functions as func
import segno

from shared.kernel.results import ChallengeStarted, CodeSent, CodesIssued, NotRequired, Result, SecretIssued

from .http import location, respond

STATUS: dict[type, int] = {ChallengeStarted: 201, CodeSent: 202, SecretIssued: 201, NotRequired: 200, CodesIssued: 201}


def answer(req: func.HttpRequest, result: Result) -> func.HttpResponse:
    """The response to `req` for `result`; a challenge created under this route gets its Location."""
    headers = location(req, result.view["challengeId"]) if isinstance(result, ChallengeStarted) else {}
    view = result.view
    if isinstance(result, SecretIssued) and "otpauthUri" in view:  # also on an idempotent repeat
        view = {**view, "qrSvg": qr_svg(view["otpauthUri"])}
    return respond(STATUS[type(result)], view, headers)


def qr_svg(uri: str) -> str:
    """The otpauth URI as a standalone SVG QR code (error correction M): no XML declaration, no script, no
    style attribute, so a page under a strict CSP can show it as an image (`data:` URL)."""
    out = io.BytesIO()
    segno.make(uri, error="m").save(out, kind="svg", xmldecl=False, svgns=True, scale=4, svgclass=None,
                                    lineclass=None, title="Authenticator app QR code")
    return out.getvalue().decode("ascii")
