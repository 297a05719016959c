"""Taking methods off an account (R5): an admin removes a whole method or one TOTP device with a
reason, and a user removes one of their devices with a step-up proof, refused while blocked or locked
(R7; the whole-method user route is enrolment.delete_method). Removal never makes an account unclaimed.

Each removal is one unit of work (`store.UserRows`): the profile saved If-Match with its
`method_removed` audit event (`by`: admin or user), and the method's pending challenges canceled with it
(E1): a code that was on its way to a lost phone is dead the moment support removes it.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..kernel.errors import NotFound
from ..kernel.ids import validate_user_id
from ..kernel.validation import text
from ..methods.registry import METHODS
from ..methods.totp import Totp
from ..model.records import Profile
from ..ports import Deciding, StepUp
from ..store import UserRows
from .challenge_rows import cancel_challenges
from .step_up import require_step_up, with_proof

DEVICE_ID_RE = re.compile(r"[A-Za-z0-9_\-]{1,64}")
TOTP = Totp.name


def _removable(method: str) -> str:
    if method not in METHODS or METHODS[method].recovery:  # a pass is revoked, codes replaced
        raise NotFound()
    return method


def _device_id(device_id: str) -> str:
    if not DEVICE_ID_RE.fullmatch(device_id):
        raise NotFound()
    return device_id


def _commit(unit: UserRows, profile: Profile, method: str, now: datetime, actor: str, **detail: Any) -> None:
    """Save the profile with its audit event and cancel the method's pending challenges with it."""
    profile.pick_default()
    pending = unit.pending_challenges(method, now)
    unit.save(profile)
    unit.audit(now, "method_removed", actor, method=method, challengesCanceled=len(pending) or None, **detail)
    cancel_challenges(unit, pending)
    unit.commit()


def _holding(profile: Profile | None, device_id: str) -> Profile:
    if profile is None or not any(dev.id == device_id for dev in profile.totp):
        raise NotFound()
    return profile


def _drop(profile: Profile, device_id: str) -> None:
    profile.totp = [dev for dev in profile.totp if dev.id != device_id]


def _admin_remove(d: Deciding, user_id: str, body: dict[str, Any], actor: str,
                  take: Callable[[Profile | None, UserRows], tuple[Profile, str, dict[str, Any]]]) -> None:
    """`take` checks the profile holds what is removed, removes it, and names the method and detail."""
    reason = text(body, "reason", max_len=256, required=True)

    def attempt(unit: UserRows) -> None:
        profile, method, detail = take(unit.profile, unit)
        _commit(unit, profile, method, d.clock.now(), actor, by="admin", reason=reason, **detail)

    d.in_unit(user_id, attempt)


def admin_remove_method(d: Deciding, user_id: str, method: str, body: dict[str, Any], actor: str) -> None:
    user_id = validate_user_id(user_id)
    method = _removable(method)

    def take(profile: Profile | None, unit: UserRows) -> tuple[Profile, str, dict[str, Any]]:
        if profile is None or not profile.can_challenge(method):  # an imported token not yet used included
            raise NotFound()
        METHODS[method].remove(profile, unit)
        return profile, method, {}

    _admin_remove(d, user_id, body, actor, take)


def admin_remove_device(d: Deciding, user_id: str, device_id: str, body: dict[str, Any], actor: str) -> None:
    user_id = validate_user_id(user_id)
    device_id = _device_id(device_id)

    def take(profile: Profile | None, unit: UserRows) -> tuple[Profile, str, dict[str, Any]]:
        profile = _holding(profile, device_id)
        _drop(profile, device_id)
        return profile, TOTP, {"deviceId": device_id}

    _admin_remove(d, user_id, body, actor, take)


def remove_device(d: StepUp, user_id: str, device_id: str, body: dict[str, Any]) -> None:
    """The user's own removal of one device: a step-up proof, as for every other method change."""
    user_id = validate_user_id(user_id)
    device_id = _device_id(device_id)
    proof_id = text(body, "proofChallengeId", max_len=256)

    def attempt(unit: UserRows, proof_rk: str | None) -> None:
        now = d.clock.now()
        profile = _holding(unit.profile, device_id)
        require_step_up(unit, proof_rk, now, d.policy())  # before the removal: the device itself may be the factor
        _drop(profile, device_id)
        _commit(unit, profile, TOTP, now, "application", by="user", deviceId=device_id)

    with_proof(d, user_id, "delete_device", proof_id, attempt)
