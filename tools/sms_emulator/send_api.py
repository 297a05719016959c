"""The one call the azure-communication-sms SDK makes, ``POST /sms?api-version=2021-03-07``, answered as
ACS answers it: faults first, then the HMAC check, then one result per recipient (202). Repeatability as
ACS does it: a recipient repeating an accepted ``repeatabilityRequestId`` with the same
``repeatabilityFirstSent`` inside the window gets the first result again and no second message; the same
id with another first-sent time is ``rejected``; a refused recipient is not remembered."""
from __future__ import annotations

import time
import uuid
from email.utils import parsedate_to_datetime
from typing import Any

from werkzeug.wrappers import Request, Response

from .auth import authenticate
from .faults import fault_error
from .http_json import bad_request, is_text, iso_utc, json_response, parse_json_object, utc_now
from .store import EmulatorState

API_VERSION = "2021-03-07"


def _repeatability(recipient: dict[str, Any]) -> tuple[str, str] | None:
    request_id, first_sent = recipient.get("repeatabilityRequestId"), recipient.get("repeatabilityFirstSent")
    if request_id is None and first_sent is None:
        return None
    try:
        uuid.UUID(str(request_id))
        parsedate_to_datetime(str(first_sent))
    except (ValueError, TypeError):
        raise bad_request("repeatabilityRequestId must be a UUID and repeatabilityFirstSent an RFC 1123 date,"
                          " sent together.") from None
    return str(request_id).lower(), str(first_sent)


def parse_send_request(body: bytes) -> tuple[str, str, list[tuple[str, tuple[str, str] | None]]]:
    """Return (from, message, [(to, (requestId, firstSent) or None)]) from an ACS send body, or raise a
    400 ApiError."""
    payload = parse_json_object(body)
    sender, message, recipients = payload.get("from"), payload.get("message"), payload.get("smsRecipients")
    if not is_text(sender):
        raise bad_request("'from' is required.")
    if not is_text(message):
        raise bad_request("'message' is required.")
    if not isinstance(recipients, list) or not recipients:
        raise bad_request("'smsRecipients' must be a non-empty list.")
    if not all(isinstance(r, dict) and is_text(r.get("to")) for r in recipients):
        raise bad_request("Each entry of 'smsRecipients' must be an object with 'to'.")
    return sender, message, [(r["to"], _repeatability(r)) for r in recipients]


def message_id() -> str:
    return f"Outgoing_{utc_now():%Y%m%d%H%M%S}{uuid.uuid4().hex}_noam"


def recipient_result(to: str, failed: bool) -> dict[str, Any]:
    if failed:
        return {
            "to": to, "messageId": None, "httpStatusCode": 400, "repeatabilityResult": "accepted",
            "successful": False, "errorMessage": "Emulated failure for this recipient.",
        }
    return {
        "to": to, "messageId": message_id(), "httpStatusCode": 202, "repeatabilityResult": "accepted",
        "successful": True, "errorMessage": None,
    }


def _echo_request_id(request: Request) -> dict[str, str]:
    request_id = request.headers.get("x-ms-client-request-id")
    return {"x-ms-client-request-id": request_id} if request_id else {}


def send(state: EmulatorState, key: bytes, request: Request) -> Response:
    """Answer one ACS send: record each accepted recipient's message (text never logged)."""
    faults = state.faults
    if faults.status is not None:
        raise fault_error(faults.status)
    body = request.get_data(cache=True)
    authenticate(request, body, key)
    if request.args.get("api-version") != API_VERSION:
        raise bad_request(f"Unsupported api-version; this emulator speaks {API_VERSION}.")
    sender, message, recipients = parse_send_request(body)
    fail = faults.fail_recipients
    now = utc_now()
    results = []
    for to, repeat in recipients:
        first = state.first_result(*repeat, now) if repeat else None
        if first is not None:
            results.append({**first, "to": to})  # a repeat: the first answer, no second message
            continue
        result = recipient_result(to, to in fail)
        results.append(result)
        if result["successful"]:
            state.record({"to": to, "from": sender, "message": message, "receivedAt": iso_utc(now),
                          "repeatabilityRequestId": repeat[0] if repeat else None})
            if repeat:
                state.remember(*repeat, now, result)
    if faults.delay_seconds:
        time.sleep(faults.delay_seconds)  # accepted and recorded already: only the answer is late
    return json_response({"value": results}, status=202, headers=_echo_request_id(request))
