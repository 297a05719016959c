"""The rows twostep keeps, one partition per user: profile, challenges, bypasses and audit events.

Keeping them together lets one entity-group transaction decide atomically (approve a challenge and
reset the user's failure count; use a bypass and record it) and lets one query read a challenge with
its user's profile. Each model keeps the row it was read from, so a write can carry that row's ETag.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .ids import BYPASS_PREFIX, CHALLENGE_PREFIX, PROFILE_RK
from .store import Entity, new_row, same_version

MAX_TOTP_DEVICES = 5
MAX_CONSECUTIVE_FAILURES = 100  # L7 (NIST 800-63B-4 3.2.2): past this, locked until an admin unblocks
LOCKED_FOR_GOOD = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc)  # `lockedUntil` of that lock
CHALLENGE_KEEP = timedelta(days=1)  # expired challenges stay readable (status "expired") this long


def _entity(pk: str, rk: str, source: Entity | None, props: dict[str, Any]) -> Entity:
    # keep the ETag of the row read, for a conditional write
    return same_version(new_row(pk, rk, **{k: v for k, v in props.items() if v is not None}), source)


@dataclass
class TotpDevice:
    id: str
    secret: str  # sealed (AES-GCM), never plaintext
    algorithm: str = "SHA1"
    digits: int = 6
    period: int = 30
    last_step: int = -1
    kind: str = "app"  # app | hardware
    serial: str | None = None
    active: bool = True
    created_at: str | None = None  # ISO 8601; None for devices enrolled before it was recorded
    last_used_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "secret": self.secret, "algorithm": self.algorithm, "digits": self.digits,
                "period": self.period, "lastStep": self.last_step, "kind": self.kind, "serial": self.serial,
                "active": self.active, "createdAt": self.created_at, "lastUsedAt": self.last_used_at}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TotpDevice:
        return cls(id=d["id"], secret=d["secret"], algorithm=d["algorithm"], digits=d["digits"],
                   period=d["period"], last_step=d["lastStep"], kind=d.get("kind", "app"),
                   serial=d.get("serial"), active=d.get("active", True), created_at=d.get("createdAt"),
                   last_used_at=d.get("lastUsedAt"))


@dataclass
class AccessPassState:
    """The user's one active temporary access pass (R2): its keyed hash, never the pass."""

    id: str
    hash: str  # Deps.index over the normalised pass, bound to the user and the pass id
    expires_at: datetime
    one_time: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "hash": self.hash, "expiresAt": self.expires_at.isoformat(), "oneTime": self.one_time}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> AccessPassState:
        return cls(id=d["id"], hash=d["hash"], expires_at=datetime.fromisoformat(d["expiresAt"]),
                   one_time=d["oneTime"])


@dataclass
class Profile:
    user_id: str
    created_at: datetime
    phone: str | None = None  # sealed E.164
    phone_masked: str | None = None
    totp: list[TotpDevice] = field(default_factory=list)
    default_method: str | None = None
    failures: int = 0  # failures in the current reset window: what triggers the next timed lock
    failure_window_start: datetime | None = None
    consecutive_failures: int = 0  # since the last success or admin unblock; windows and locks do not clear it
    lock_count: int = 0  # timed locks since then: each lasts twice as long as the one before
    totp_last_at: int = -1  # start (Unix seconds) of the newest TOTP time step accepted from any device
    # (stored as a DateTime: a Unix time passes the SDK's Int32 in 2038)
    locked_until: datetime | None = None
    blocked_until: datetime | None = None
    bypass_rk: str | None = None
    bypass_expires_at: datetime | None = None
    groups: list[str] = field(default_factory=list)
    sessions_revoked_at: datetime | None = None
    access_pass: AccessPassState | None = None
    access_pass_history: list[dict[str, Any]] = field(default_factory=list)  # newest first, bounded
    recovery_codes: list[str] = field(default_factory=list)  # keyed hashes of the unspent codes
    recovery_codes_at: datetime | None = None  # when the current set was generated
    row: Entity | None = None

    def active_methods(self) -> list[str]:
        methods = []
        if self.phone:
            methods.append("sms")
        if any(d.active for d in self.totp):
            methods.append("totp")
        return methods

    def has_method(self, method: str) -> bool:
        return method in self.active_methods()

    def can_challenge(self, method: str) -> bool:
        """A method can be challenged once active, and an imported hardware token before its first code
        (verifying that code is what activates it), and a recovery factor the user holds."""
        return self.has_method(method) or method in self.provisioned_methods() or method in self.recovery_methods()

    def recovery_methods(self, now: datetime | None = None) -> list[str]:
        """Recovery factors the user holds: an access pass (unexpired at `now`, when given) and unspent
        recovery codes. They sign in and prove a step-up, but are never a default method."""
        methods = []
        if self.access_pass is not None and (now is None or self.access_pass.expires_at > now):
            methods.append("access_pass")
        if self.recovery_codes:
            methods.append("recovery_code")
        return methods

    def has_factor(self, now: datetime) -> bool:
        """Whether anything of the user's proves a second factor: then changing methods needs a step-up (R6)."""
        return bool(self.active_methods() or self.recovery_methods(now))

    def provisioned_methods(self) -> list[str]:
        """Methods with a device on the profile, active or not: an imported hardware token is challenged
        before its first code (which activates it)."""
        return ["totp"] if self.totp else []

    def pick_default(self) -> None:
        methods = self.active_methods()
        if self.default_method not in methods:
            self.default_method = methods[0] if methods else None

    def methods_tag(self) -> str:
        """A short digest of the enrolled methods: it changes whenever a method is added, activated,
        replaced or removed, so a challenge can be bound to the enrolment state it was issued under."""
        state: list[Any] = [self.phone, [(d.id, d.active) for d in self.totp]]
        if self.access_pass is not None or self.recovery_codes_at is not None:  # older tags stay as they were
            state += [self.access_pass.id if self.access_pass else None, _seconds(self.recovery_codes_at)]
        state = json.dumps(state)
        return hashlib.sha256(state.encode()).hexdigest()[:16]

    def is_blocked(self, now: datetime) -> bool:
        return self.blocked_until is not None and self.blocked_until > now

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now

    def to_entity(self) -> Entity:
        return _entity(self.user_id, PROFILE_RK, self.row, {
            "createdAt": self.created_at, "phone": self.phone, "phoneMasked": self.phone_masked,
            "totp": json.dumps([d.to_json() for d in self.totp]), "defaultMethod": self.default_method,
            "failures": self.failures, "failureWindowStart": self.failure_window_start,
            "consecutiveFailures": self.consecutive_failures, "lockCount": self.lock_count,
            "totpLastAt": datetime.fromtimestamp(self.totp_last_at, timezone.utc) if self.totp_last_at >= 0 else None,
            "lockedUntil": self.locked_until, "blockedUntil": self.blocked_until,
            "bypassRk": self.bypass_rk, "bypassExpiresAt": self.bypass_expires_at,
            "groups": json.dumps(self.groups) if self.groups else None, "sessionsRevokedAt": self.sessions_revoked_at,
            "accessPass": json.dumps(self.access_pass.to_json()) if self.access_pass else None,
            "accessPassHistory": json.dumps(self.access_pass_history) if self.access_pass_history else None,
            "recoveryCodes": json.dumps(self.recovery_codes) if self.recovery_codes_at else None,
            "recoveryCodesAt": self.recovery_codes_at,
        })

    @classmethod
    def from_entity(cls, e: Entity) -> Profile:
        return cls(
            user_id=e["PartitionKey"], created_at=e["createdAt"], phone=e.get("phone"),
            phone_masked=e.get("phoneMasked"),
            totp=[TotpDevice.from_json(d) for d in json.loads(e.get("totp") or "[]")],
            default_method=e.get("defaultMethod"), failures=e.get("failures", 0),
            failure_window_start=e.get("failureWindowStart"), locked_until=e.get("lockedUntil"),
            consecutive_failures=e.get("consecutiveFailures", 0), lock_count=e.get("lockCount", 0),
            totp_last_at=int(e["totpLastAt"].timestamp()) if e.get("totpLastAt") else -1,
            blocked_until=e.get("blockedUntil"), bypass_rk=e.get("bypassRk"),
            bypass_expires_at=e.get("bypassExpiresAt"), groups=json.loads(e.get("groups") or "[]"),
            sessions_revoked_at=e.get("sessionsRevokedAt"),
            access_pass=AccessPassState.from_json(json.loads(e["accessPass"])) if e.get("accessPass") else None,
            access_pass_history=json.loads(e.get("accessPassHistory") or "[]"),
            recovery_codes=json.loads(e.get("recoveryCodes") or "[]"), recovery_codes_at=e.get("recoveryCodesAt"),
            row=e,
        )


def _seconds(at: datetime | None) -> int | None:
    return int(at.timestamp()) if at is not None else None


@dataclass
class Challenge:
    user_id: str
    row_key: str
    purpose: str  # signin | enrol_sms | enrol_totp
    method: str  # sms | totp
    created_at: datetime
    expires_at: datetime
    max_attempts: int
    status: str = "pending"  # pending | approved | max_attempts_reached | canceled (expired is derived)
    attempts: int = 0
    key_id: str | None = None  # HMAC key that derives the SMS code
    digits: int = 6
    destination: str | None = None  # sealed E.164 (sms)
    destination_masked: str | None = None
    delivery: str | None = None  # queued | sent | failed (sms)
    pending_secret: str | None = None  # sealed TOTP secret being enrolled
    approved_at: datetime | None = None
    proof_used_at: datetime | None = None
    methods_tag: str | None = None  # enrolment: the user's Profile.methods_tag() when it started
    sms_attempt: int = 0  # send attempt the provider has not refused yet (repeatability id input)
    sms_attempt_at: datetime | None = None  # when that attempt began (None: at creation)
    row: Entity | None = None

    @property
    def token(self) -> str:
        return self.row_key[len(CHALLENGE_PREFIX):]

    def effective_status(self, now: datetime) -> str:
        if self.status == "pending" and now >= self.expires_at:
            return "expired"
        return self.status

    def attempts_remaining(self) -> int:
        return max(self.max_attempts - self.attempts, 0)

    def to_entity(self) -> Entity:
        return _entity(self.user_id, self.row_key, self.row, {
            "purpose": self.purpose, "method": self.method, "createdAt": self.created_at,
            "expiresAt": self.expires_at, "purgeAfter": self.expires_at + CHALLENGE_KEEP,
            "maxAttempts": self.max_attempts, "status": self.status, "attempts": self.attempts,
            "keyId": self.key_id, "digits": self.digits, "destination": self.destination,
            "destinationMasked": self.destination_masked, "delivery": self.delivery,
            "pendingSecret": self.pending_secret, "approvedAt": self.approved_at,
            "proofUsedAt": self.proof_used_at, "methodsTag": self.methods_tag,
            "smsAttempt": self.sms_attempt or None, "smsAttemptAt": self.sms_attempt_at,
        })

    @classmethod
    def from_entity(cls, e: Entity) -> Challenge:
        return cls(
            user_id=e["PartitionKey"], row_key=e["RowKey"], purpose=e["purpose"], method=e["method"],
            created_at=e["createdAt"], expires_at=e["expiresAt"], max_attempts=e["maxAttempts"],
            status=e["status"], attempts=e.get("attempts", 0), key_id=e.get("keyId"),
            digits=e.get("digits", 6), destination=e.get("destination"),
            destination_masked=e.get("destinationMasked"), delivery=e.get("delivery"),
            pending_secret=e.get("pendingSecret"), approved_at=e.get("approvedAt"),
            proof_used_at=e.get("proofUsedAt"), methods_tag=e.get("methodsTag"),
            sms_attempt=e.get("smsAttempt", 0), sms_attempt_at=e.get("smsAttemptAt"), row=e,
        )


@dataclass
class Bypass:
    user_id: str
    row_key: str
    created_at: datetime
    expires_at: datetime
    reason: str
    created_by: str
    status: str = "active"  # active | used | revoked (expired is derived)
    used_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    purge_after: datetime | None = None
    row: Entity | None = None

    @property
    def bypass_id(self) -> str:
        return self.row_key[len(BYPASS_PREFIX):]

    def effective_status(self, now: datetime) -> str:
        if self.status == "active" and now >= self.expires_at:
            return "expired"
        return self.status

    def to_entity(self) -> Entity:
        return _entity(self.user_id, self.row_key, self.row, {
            "createdAt": self.created_at, "expiresAt": self.expires_at, "reason": self.reason,
            "createdBy": self.created_by, "status": self.status, "usedAt": self.used_at,
            "revokedAt": self.revoked_at, "revokedBy": self.revoked_by, "purgeAfter": self.purge_after,
        })

    @classmethod
    def from_entity(cls, e: Entity) -> Bypass:
        return cls(
            user_id=e["PartitionKey"], row_key=e["RowKey"], created_at=e["createdAt"],
            expires_at=e["expiresAt"], reason=e["reason"], created_by=e["createdBy"], status=e["status"],
            used_at=e.get("usedAt"), revoked_at=e.get("revokedAt"), revoked_by=e.get("revokedBy"),
            purge_after=e.get("purgeAfter"), row=e,
        )
