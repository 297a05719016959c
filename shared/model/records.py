"""The rows twostep keeps, one partition per user: profile, challenges, bypasses and audit events.

Keeping them together lets one entity-group transaction decide atomically (approve a challenge and
reset the user's failure count; use a bypass and record it) and lets one query read a challenge with
its user's profile. Each model keeps the row it was read from, so a write can carry that row's ETag.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..kernel.ids import BYPASS_PREFIX, CHALLENGE_PREFIX
from . import factors

MAX_TOTP_DEVICES = 5
CHALLENGE_KEEP = timedelta(days=1)  # expired challenges stay readable (status "expired") this long


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
    # R7: once True, never False again; None for a row stored before the flag (see step_up.claimed).
    # Neither it nor the version is content: a profile holding the same things compares equal.
    claimed: bool | None = field(default=False, compare=False)
    methods_version: int = field(default=0, compare=False)  # E1: grows with every change of factors
    extra: dict[str, Any] = field(default_factory=dict)  # state of a method with no field here, by its name
    row: Any = None  # the stored row this was read from (opaque here: the store writes it back If-Match)

    def active_methods(self) -> list[str]:
        """The sign-in methods the user holds (not the recovery factors), in the registry's order."""
        return factors.names(lambda m: not m.recovery and m.held(self, None))

    def has_method(self, method: str) -> bool:
        return method in self.active_methods()

    def can_challenge(self, method: str) -> bool:
        """A method can be challenged once active, and an imported hardware token before its first code
        (verifying that code is what activates it), and a recovery factor the user holds."""
        return self.has_method(method) or method in self.provisioned_methods() or method in self.recovery_methods()

    def recovery_methods(self, now: datetime | None = None) -> list[str]:
        """Recovery factors the user holds (unexpired at `now`, when given). They sign in and prove a
        step-up, but are never a default method."""
        return factors.names(lambda m: m.recovery and m.held(self, now))

    def held_a_factor(self) -> bool:
        """Whether the profile itself shows a factor held now or before (R7), by each method's rule."""
        return any(m.ever_held(self) for m in factors.registered())

    def is_claimed(self) -> bool:
        """Claimed (R7): binding a method needs a step-up proof from now on, even with no factor left."""
        return self.claimed is True or self.held_a_factor()

    def provisioned_methods(self) -> list[str]:
        """Methods on the profile, active or not: an imported hardware token is challenged before its first
        code (which activates it)."""
        return factors.names(lambda m: not m.recovery and m.provisioned(self))

    def pick_default(self) -> None:
        methods = self.active_methods()
        if self.default_method not in methods:
            self.default_method = methods[0] if methods else None

    def factor_state(self) -> tuple[Any, ...]:
        """What binding, activating, replacing, spending or removing a factor changes (never a sign-in's
        bookkeeping: a device's last step, failures, locks), each registered method saying its part."""
        return tuple(m.factor_state(self) for m in factors.registered())

    def record_changes(self, before: Profile | None) -> None:
        """Run by the unit of work on every write of the profile: `methods_version` grows by one when the
        factors differ from the profile as read (`before`; None for a new profile), so it never repeats a
        value (E1), and `claimed` becomes True for good once a factor is held (R7)."""
        base = before if before is not None else Profile(user_id=self.user_id, created_at=self.created_at)
        if self.factor_state() != base.factor_state():
            self.methods_version = base.methods_version + 1
        if self.is_claimed():
            self.claimed = True

    def is_blocked(self, now: datetime) -> bool:
        return self.blocked_until is not None and self.blocked_until > now

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


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
    methods_version: int | None = None  # enrolment: the profile's methods_version when it started (E1)
    access_pass_id: str | None = None  # access_pass: the pass it was begun under (E1)
    sms_attempt: int = 0  # send attempt the provider has not refused yet (repeatability id input)
    sms_attempt_at: datetime | None = None  # when that attempt began (None: at creation)
    extra: dict[str, Any] = field(default_factory=dict)  # a method's own challenge state (plain JSON)
    row: Any = None  # the stored row this was read from (opaque here: the store writes it back If-Match)

    @property
    def token(self) -> str:
        return self.row_key[len(CHALLENGE_PREFIX):]

    def effective_status(self, now: datetime) -> str:
        if self.status == "pending" and now >= self.expires_at:
            return "expired"
        return self.status

    def purged(self, now: datetime) -> bool:
        """Past the time its row is purged: gone for every reader, whether or not the purge has run."""
        return now >= self.expires_at + CHALLENGE_KEEP

    def attempts_remaining(self) -> int:
        return max(self.max_attempts - self.attempts, 0)


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
    row: Any = None  # the stored row this was read from (opaque here: the store writes it back If-Match)

    @property
    def bypass_id(self) -> str:
        return self.row_key[len(BYPASS_PREFIX):]

    def effective_status(self, now: datetime) -> str:
        if self.status == "active" and now >= self.expires_at:
            return "expired"
        return self.status


