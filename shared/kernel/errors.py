"""One error hierarchy. Each class declares its HTTP status and stable problem `code` (authlib style).

Triggers map any TwostepError to an RFC 9457 problem+json body plus its own `headers()` (Retry-After);
`detail` is always a generic, safe sentence, never exception text from a library. Errors are grouped
as a client groups them: every 410 is a `ChallengeGone` (start a new sign-in), every 503 a
`StorageUnavailable` or `Misconfigured` (retry later / call the operator). Crypto's own `CryptoError`
stands outside the hierarchy and is mapped to its 503 at the edge (`crypto_problem`).
"""
from __future__ import annotations

from typing import Any


class TwostepError(Exception):
    status: int = 500
    code: str = "internal_error"
    title: str = "Internal error"
    detail: str = "The request could not be completed."

    def __init__(self, detail: str | None = None, *, retry_after: int | None = None, **extra: Any) -> None:
        super().__init__(detail or self.detail)
        if detail:
            self.detail = detail
        self.retry_after = retry_after
        self.extra = extra

    def headers(self) -> dict[str, str]:
        """The response headers this problem carries (RFC 9110 Retry-After on a 429 or 503 that ends)."""
        return {} if self.retry_after is None else {"Retry-After": str(self.retry_after)}

    def problem(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"urn:twostep:problem:{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        body.update(self.extra)
        return body


class InvalidRequest(TwostepError):
    status, code, title = 400, "invalid_request", "Invalid request"
    detail = "The request is malformed."


class Unauthorized(TwostepError):
    """No or a wrong key. Answered by the host before the app runs; the dev host says which key (README)."""
    status, code, title = 401, "unauthorized", "Unauthorized"
    detail = "This route needs a key."


class MethodNotAllowed(TwostepError):
    """A known path with a method it does not take; answered by the dev host, with `Allow`."""
    status, code, title = 405, "method_not_allowed", "Method not allowed"
    detail = "This route does not take this method."


class Forbidden(TwostepError):
    status, code, title = 403, "forbidden", "Forbidden"
    detail = "The caller may not use this route."


class IncorrectCode(TwostepError):
    status, code, title = 403, "incorrect_code", "Incorrect code"
    detail = "The code is not correct."


class StepUpRequired(TwostepError):
    """Why the proof does not do, as `reason` and in `detail`, so a client knows what to fetch anew."""
    status, code, title = 403, "step_up_required", "Step-up required"
    detail = "Changing methods needs proof of a second factor approved in the last 5 minutes."
    REASONS = {
        "missing": "no proofChallengeId names an approved sign-in of this user.",
        "used": "the proof was already spent on a change; one approval proves one change.",
        "expired": "the proof was approved more than 5 minutes ago.",
        "not_a_signin": "the proof is not an approved sign-in challenge.",
        "other_user": "the proof is another user's challenge.",
    }

    def __init__(self, reason: str = "missing") -> None:
        super().__init__(f"{self.detail} Refused: {self.REASONS[reason]}", reason=reason)


class StrengthRequired(TwostepError):
    """The policy requires a phishing-resistant method for this user (W8); `allowedMethods` names them."""
    status, code, title = 403, "strength_required", "Stronger method required"
    detail = "The sign-in policy requires a phishing-resistant method for this user."


class UserBlocked(TwostepError):
    status, code, title = 403, "user_blocked", "User blocked"
    detail = "The user is blocked after a fraud report."


class RiskBlocked(TwostepError):
    status, code, title = 403, "risk_blocked", "Blocked by risk policy"
    detail = "The sign-in risk is too high."


class PasskeyNotAllowed(TwostepError):
    status, code, title = 403, "passkey_not_allowed", "Passkey not allowed"
    detail = "The user's passkey profile does not allow this passkey."


class CountryNotAllowed(TwostepError):
    status, code, title = 403, "country_not_allowed", "Country not allowed"
    detail = "Sign-in codes are not sent to numbers in this country."


class NotFound(TwostepError):
    status, code, title = 404, "not_found", "Not found"
    detail = "No such resource."


class NotEnrolled(TwostepError):
    status, code, title = 409, "not_enrolled", "Not enrolled"
    detail = "The user has no active method of the kind asked."


class Conflict(TwostepError):
    status, code, title = 409, "conflict", "Conflict"
    detail = "The resource changed concurrently; retry the request."


class IdempotentResultGone(TwostepError):
    status, code, title = 409, "idempotency_result_gone", "Result no longer available"
    detail = ("What the first request with this Idempotency-Key created is no longer usable; "
              "send a new request with a new key.")


class ChallengeGone(TwostepError):
    """A challenge that can no longer be approved (410): the client starts a new sign-in."""

    status, code, title = 410, "gone", "Challenge gone"
    detail = "The challenge can no longer be used."


class Expired(ChallengeGone):
    status, code, title = 410, "expired", "Challenge expired"
    detail = "The challenge has expired."


class MaxAttemptsReached(ChallengeGone):
    status, code, title = 410, "max_attempts_reached", "Too many attempts"
    detail = "The challenge has no attempts left."


class AlreadyUsed(ChallengeGone):
    status, code, title = 410, "already_used", "Already used"
    detail = "The challenge was already approved."


class Canceled(ChallengeGone):
    status, code, title = 410, "canceled", "Challenge canceled"
    detail = "The challenge was canceled."


class PayloadTooLarge(TwostepError):
    status, code, title = 413, "payload_too_large", "Payload too large"
    detail = "The request body is too large."


class IdempotencyKeyReused(TwostepError):
    status, code, title = 422, "idempotency_key_reused", "Idempotency key reused"
    detail = "This Idempotency-Key was used with a different request."


class Locked(TwostepError):
    status, code, title = 429, "locked", "Locked"
    detail = "Too many failed attempts; the user is temporarily locked."


class RateLimited(TwostepError):
    status, code, title = 429, "rate_limited", "Rate limited"
    detail = "Too many requests; retry later."


class StorageUnavailable(TwostepError):
    status, code, title = 503, "unavailable", "Service unavailable"
    detail = "The service is temporarily unavailable; retry later."


class Misconfigured(TwostepError):
    status, code, title = 503, "misconfigured", "Service unavailable"
    detail = "The service is not configured correctly; the operator has been told in the logs."


class StoredDataUnreadable(Misconfigured):
    """A stored value is malformed or fails its integrity check (tampering, a moved value, a wrong key)."""

    status, code, title = 503, "stored_data_unreadable", "Service unavailable"
    detail = "Stored data could not be read; the operator has been told in the logs."


class CryptoError(Exception):
    """Low-level: stored material does not open. Not an HTTP problem: crypto knows nothing of status codes;
    the edge (functions/http.py) answers it with `crypto_problem`. Already logged as `crypto_failure`."""


class KeyNotListed(CryptoError):
    """A stored row names a key id the settings no longer list (retired too early)."""


class SealedValueUnreadable(CryptoError):
    """A stored value is malformed or fails its integrity check (tampering, a moved value, a wrong key)."""


def crypto_problem(error: CryptoError) -> Misconfigured:
    """The 503 a client sees for a crypto failure: `misconfigured` for a retired key id (the operator's
    settings), `stored_data_unreadable` for a value that does not open."""
    return StoredDataUnreadable() if isinstance(error, SealedValueUnreadable) else Misconfigured()


class ConfigError(Exception):
    """Bad settings: the app refuses to run rather than run insecurely."""
