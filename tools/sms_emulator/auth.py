"""The HMAC check ACS makes on every send: content hash, ``x-ms-date`` freshness, and the HMAC-SHA256
signature over method, path and query, date, host and hash with the access key (compared in constant
time). The emulator refuses exactly what the real service refuses, so a signing bug shows up locally."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, urlsplit

from werkzeug.wrappers import Request

from .http_json import ApiError, utc_now

# Local-only key, the same value local.settings.example.json gives the app as ACS_ACCESS_KEY. Not a secret.
DEFAULT_KEY = "WxDF+6dyUa/J5u7skPwcWFNehdPiOoe4lvXJR9JArm4="

SIGNED_HEADERS = "x-ms-date;host;x-ms-content-sha256"
MAX_CLOCK_SKEW = timedelta(minutes=15)

_AUTH_RE = re.compile(r"^HMAC-SHA256 SignedHeaders=(?P<headers>[^&]+)&Signature=(?P<signature>.+)$")
_RFC1123_RE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d{2}:\d{2}:\d{2} GMT$"
)


def denied(message: str) -> ApiError:
    return ApiError(401, "Denied", message)


def path_and_query(request: Request) -> str:
    """The request target as the client sent (and signed) it: path plus query, still percent-encoded."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw:
        target = urlsplit(raw)
        return target.path + (f"?{target.query}" if target.query else "")
    query = request.environ.get("QUERY_STRING", "")
    return quote(request.path) + (f"?{query}" if query else "")


def check_content_hash(request: Request, body: bytes) -> str:
    claimed = request.headers.get("x-ms-content-sha256")
    if not claimed:
        raise denied("Missing x-ms-content-sha256 header.")
    actual = base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
    if not hmac.compare_digest(claimed.encode("utf-8"), actual.encode("ascii")):
        raise denied("x-ms-content-sha256 does not match the request body.")
    return claimed


def check_date(request: Request, now: datetime) -> str:
    value = request.headers.get("x-ms-date")
    if not value:
        raise denied("Missing x-ms-date header.")
    if not _RFC1123_RE.match(value):
        raise denied("x-ms-date is not an RFC 1123 date.")
    try:
        sent = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        raise denied("x-ms-date is not an RFC 1123 date.") from None
    if abs(now - sent) > MAX_CLOCK_SKEW:
        raise denied("x-ms-date is more than 15 minutes away from the server time.")
    return value


def parse_authorization(request: Request) -> str:
    match = _AUTH_RE.match(request.headers.get("Authorization", ""))
    if not match:
        raise denied("Authorization header is missing or not HMAC-SHA256.")
    if match.group("headers").lower() != SIGNED_HEADERS:
        raise denied(f"SignedHeaders must be {SIGNED_HEADERS}.")
    return match.group("signature")


def sign(key: bytes, string_to_sign: str) -> str:
    digest = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def authenticate(request: Request, body: bytes, key: bytes) -> None:
    """Raise a 401 ApiError unless the request is signed the way ACS HMAC authentication requires."""
    content_hash = check_content_hash(request, body)
    date = check_date(request, utc_now())
    signature = parse_authorization(request)
    host = request.headers.get("Host")
    if not host:
        raise denied("Missing Host header.")
    string_to_sign = f"{request.method}\n{path_and_query(request)}\n{date};{host};{content_hash}"
    expected = sign(key, string_to_sign)
    if not hmac.compare_digest(signature.encode("utf-8"), expected.encode("ascii")):
        raise denied("The request signature does not match.")
