"""The fault switches (``PUT /faults``): what the emulator is told to get wrong, so the app's retry and
poison paths run without a real ACS resource. While ``status`` is set every send answers it before any
other check and records nothing; ``failRecipients`` fail per recipient; ``delaySeconds`` holds an answer
whose send was already accepted and recorded (a provider that answers late)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .http_json import ApiError, bad_request, is_text, parse_json_object

FAULT_STATUSES = (503, 429)
MAX_DELAY_SECONDS = 30


@dataclass(frozen=True)
class Faults:
    """What the emulator is told to get wrong."""

    status: int | None = None
    fail_recipients: frozenset[str] = frozenset()
    delay_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "failRecipients": sorted(self.fail_recipients),
                "delaySeconds": self.delay_seconds}


def parse_faults(body: bytes) -> Faults:
    payload = parse_json_object(body)
    unknown = set(payload) - {"status", "failRecipients", "delaySeconds"}
    if unknown:
        raise bad_request(f"Unknown fault fields: {sorted(unknown)}.")
    status = payload.get("status")
    if status is not None and (type(status) is not int or status not in FAULT_STATUSES):
        raise bad_request("'status' must be 503, 429 or null.")
    fail = payload.get("failRecipients", [])
    if not isinstance(fail, list) or not all(is_text(n) for n in fail):
        raise bad_request("'failRecipients' must be a list of phone numbers.")
    delay = payload.get("delaySeconds", 0)
    if type(delay) not in (int, float) or not 0 <= delay <= MAX_DELAY_SECONDS:
        raise bad_request(f"'delaySeconds' must be a number from 0 to {MAX_DELAY_SECONDS}.")
    return Faults(status=status, fail_recipients=frozenset(fail), delay_seconds=float(delay))


def fault_error(status: int) -> ApiError:
    if status == 429:
        return ApiError(429, "TooManyRequests", "Emulated throttling.", {"Retry-After": "1"})
    return ApiError(503, "ServiceUnavailable", "Emulated outage.")
