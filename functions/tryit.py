"""GET /api/try: the try-it page, one self-contained HTML page that exercises the public routes with a
function key typed into it and kept only in the page's memory. Its scripts and stylesheet are files of
this app under /api/try/ (a fixed allow-list, no CDN), so a strict Content-Security-Policy holds (W6).

The SMS inbox panel exists only where `MFA_TRY_SMS_INBOX_URL` names the local SMS emulator (set by
`make run` and the tests, never in Azure): the page then names exactly that origin in `connect-src`.
A new panel (as passkey.js was) is one more section of try.html and one more module in ASSETS.
"""
from __future__ import annotations

import html
import logging
import os
from pathlib import Path
from urllib.parse import urlsplit

import azure.functions as func

from shared.kernel.errors import NotFound

from .http import problem, reported
from .tracing import invocation

bp = func.Blueprint()
log = logging.getLogger("twostep.tryit")

STATIC = Path(__file__).resolve().parent / "tryit_static"
INBOX_SETTING = "MFA_TRY_SMS_INBOX_URL"  # TODO(settings): move into shared/settings.py with the other settings
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_JS, _CSS = "text/javascript; charset=utf-8", "text/css; charset=utf-8"
ASSETS: dict[str, str] = {  # the only files served under /api/try/, with their content types
    "try.css": _CSS, "try.js": _JS, "api.js": _JS, "totp.js": _JS, "phone.js": _JS, "inbox.js": _JS,
    "signin.js": _JS, "methods.js": _JS, "passkey.js": _JS,
}
_COMMON = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
           "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Resource-Policy": "same-origin"}


def inbox_origin(value: str | None) -> str | None:
    """The emulator's origin from the setting, or None: only a bare http(s) URL on loopback counts, so
    a stray value can never open the page's CSP to another host."""
    if not value:
        return None
    try:
        url = urlsplit(value.strip())
        port = url.port
    except ValueError:
        url, port = None, None
    if (url is None or url.scheme not in ("http", "https") or url.hostname not in _LOOPBACK or url.username
            or url.password or url.path not in ("", "/") or url.query or url.fragment):
        log.warning("%s is not a loopback http(s) origin; the try-it page shows no SMS inbox", INBOX_SETTING)
        return None
    host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
    return f"{url.scheme}://{host}" + (f":{port}" if port else "")


def csp(inbox: str | None) -> str:
    connect = "'self'" + (f" {inbox}" if inbox else "")
    return ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src {connect}; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")


def page(inbox: str | None) -> str:
    """try.html with the inbox panel (inbox.html) in place of its marker when the emulator is configured."""
    panel = (STATIC / "inbox.html").read_text(encoding="utf-8").replace("{inbox}", html.escape(inbox)) if inbox else ""
    return (STATIC / "try.html").read_text(encoding="utf-8").replace("<!-- inbox panel -->", panel)


@bp.route(route="try", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@invocation("http")
def try_page(req: func.HttpRequest) -> func.HttpResponse:
    inbox = inbox_origin(os.environ.get(INBOX_SETTING))
    headers = {**_COMMON, "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
               "Content-Security-Policy": csp(inbox)}
    return reported("try_page", func.HttpResponse(page(inbox), status_code=200, headers=headers))


@bp.route(route="try/{file}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@invocation("http")
def try_asset(req: func.HttpRequest) -> func.HttpResponse:
    name = req.route_params.get("file") or ""
    if name not in ASSETS:  # the allow-list is the whole lookup: no path is ever built from the request
        return reported("try_asset", problem(NotFound("No such file.")))
    headers = {**_COMMON, "Content-Type": ASSETS[name], "Cache-Control": "no-cache",
               "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'"}
    body = (STATIC / name).read_bytes()
    return reported("try_asset", func.HttpResponse(body, status_code=200, headers=headers))
