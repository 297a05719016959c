"""A local stand-in for the Azure Communication Services (ACS) SMS REST API, on loopback only.

Why it exists: the app always sends SMS through the real azure-communication-sms SDK, and only the
endpoint differs between Azure and a developer machine. This emulator answers the one call the SDK makes
(``POST /sms?api-version=2021-03-07``), checks the request the way the real service does (content hash,
``x-ms-date`` freshness, HMAC-SHA256 signature with the access key), records what was accepted so tests
and developers can read it back at ``GET /messages``, and can be told to fail (503, 429, or per recipient)
so retry and poison paths can be exercised without a real ACS resource.

Endpoints:
    POST   /sms?api-version=2021-03-07   the ACS send call (202 with one result per recipient)
    GET    /messages[?to=+1...]          recorded messages, in order received
    DELETE /messages                     forget recorded messages
    GET    /faults                       current fault settings
    PUT    /faults                       {"status": 503 | 429 | null, "failRecipients": ["+1..."],
                                          "delaySeconds": 0-30 (a send is accepted, its answer held that long)}
    DELETE /faults                       clear faults
    GET    /health                       200
    POST   /webhook                      the local security-event webhook receiver (204; records it)
    GET    /webhook/events[?subject=u]   deliveries received, oldest first: {"receivedAt", "headers"
                                         (lower-cased), "body" (parsed JSON), "raw" (the body as sent)}

While a fault ``status`` is set, every ``POST /sms`` answers that status before any other check and
records nothing. With ``delaySeconds``, a send is processed (and recorded) at once and its answer held
that long: a provider that accepted a message but answers late (the client may give up first).

Repeatability, as ACS does it: a recipient sent with ``repeatabilityRequestId`` (a UUID) and
``repeatabilityFirstSent`` (an RFC 1123 date) that repeats an accepted one within REPEATABILITY_WINDOW
answers the first result again (same messageId, ``repeatabilityResult: "accepted"``) and records no
second message; the same id with another first-sent time is ``rejected`` (400 for that recipient).
A refused recipient is not remembered, so its next attempt can go through. ``GET /messages`` entries
carry the ``repeatabilityRequestId`` they were sent with.

Message text is never logged (it carries one-time codes); the request log line holds only method, path
(without query) and status.

Run: ``python -m tools.sms_emulator [--host 127.0.0.1] [--port 7072] [--allow-origin http://localhost:7071]``;
the access key comes from ``SMS_EMULATOR_ACCESS_KEY`` (default: the local-only key that
local.settings.example.json gives the app).

CORS: the try-it page (``/api/try``, another origin) reads the inbox with a plain ``fetch``. Only
``GET /messages`` answers ``Access-Control-Allow-Origin``, and only to exactly the ``--allow-origin``
origin (``SMS_EMULATOR_ALLOW_ORIGIN``); no other route and no other origin is ever allowed.

How the pieces fit: ``http_json`` (the ACS error body, JSON in and out, the clock) needs nothing of the
package; ``auth`` (the HMAC check), ``faults`` (the fault switches) and ``store`` (inbox, repeatability,
webhook deliveries) build on it; ``send_api`` answers ``POST /sms`` from those; ``app`` routes every
endpoint; ``server`` runs ``app`` on loopback in a thread; ``cli`` is ``python -m tools.sms_emulator``.
"""

from .app import MAX_BODY_BYTES, EmulatorRequest, SmsEmulatorApp
from .auth import DEFAULT_KEY, MAX_CLOCK_SKEW, SIGNED_HEADERS, authenticate, sign
from .cli import ACCESS_KEY_ENV, ALLOW_ORIGIN_ENV, DEFAULT_PORT, main
from .faults import FAULT_STATUSES, MAX_DELAY_SECONDS, Faults
from .http_json import ApiError
from .send_api import API_VERSION
from .server import DEFAULT_HOST, EmulatorServer, QuietRequestHandler, start_in_thread
from .store import REPEATABILITY_WINDOW, EmulatorState

__all__ = [
    "ACCESS_KEY_ENV",
    "ALLOW_ORIGIN_ENV",
    "API_VERSION",
    "DEFAULT_HOST",
    "DEFAULT_KEY",
    "DEFAULT_PORT",
    "FAULT_STATUSES",
    "MAX_BODY_BYTES",
    "MAX_CLOCK_SKEW",
    "MAX_DELAY_SECONDS",
    "REPEATABILITY_WINDOW",
    "SIGNED_HEADERS",
    "ApiError",
    "EmulatorRequest",
    "EmulatorServer",
    "EmulatorState",
    "Faults",
    "QuietRequestHandler",
    "SmsEmulatorApp",
    "authenticate",
    "main",
    "sign",
    "start_in_thread",
]
