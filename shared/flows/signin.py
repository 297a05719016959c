"""Sign-in: whether a second factor is needed (`evaluate`, in the documented order), and `begin`, which
answers `not_required` (a skipped factor, audited, or the one-time bypass, spent under the profile's
ETag) or starts a challenge of the user's method. A lost race re-reads and decides again.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..crypto import device_tokens
from ..kernel.errors import IdempotentResultGone, NotEnrolled, RiskBlocked, UserBlocked
from ..kernel.ids import validate_user_id
from ..kernel.results import BeginResult, ChallengeStarted, NotRequired
from ..kernel.validation import choice
from ..methods.base import SIGNIN
from ..methods.registry import METHODS
from ..model import strength
from ..model.context import parse_context, risk_action
from ..model.policy import Policy
from ..model.records import Challenge, Profile
from ..ports import Challenging
from ..store import UserRows
from ..store.idempotency import BYPASS, CHALLENGE, Idempotency, Replay
from .challenge_rows import (
    audited_refusals,
    challenge_view,
    new_challenge,
    prepare_with_marker,
    refuse_if_barred,
    replay_challenge,
    replay_of,
    start,
)


def evaluate(policy: Policy, profile: Profile | None, context: dict[str, Any], now: datetime,
             device_ok: Callable[[], bool], strict: bool = False) -> str:
    """Whether a second factor is needed, in the documented order: blocked user, risk block, bypass, risk
    requires MFA or an authentication strength applies (`strict`, W8: no skip), excluded group, trusted
    network, remembered device, else a challenge.

    Returns "user_blocked", "risk_blocked", "bypass", "excluded_group", "trusted_network",
    "remembered_device" or "challenge".
    """
    if profile is not None and profile.is_blocked(now):
        return "user_blocked"
    action = risk_action(policy, context)
    if action == "block":
        return "risk_blocked"
    if profile is not None and profile.bypass_rk and profile.bypass_expires_at and profile.bypass_expires_at > now:
        return "bypass"
    if action == "require_mfa" or strict:
        return "challenge"
    if profile is not None and set(profile.groups) & set(policy.excluded_groups):
        return "excluded_group"
    if context.get("ip") and context["ip"] in policy.networks:
        return "trusted_network"
    if context.get("deviceToken") and device_ok():
        return "remembered_device"
    return "challenge"


def begin(d: Challenging, body: dict[str, Any], idempotency_key: str | None = None) -> BeginResult:
    user_id = validate_user_id(body.get("userId"))
    method = choice(body, "method", tuple(METHODS))
    context = parse_context(body.get("context"))
    idem = Idempotency.from_request(d.index, idempotency_key, "begin", body)

    def attempt(unit: UserRows) -> BeginResult:
        now = d.clock.now()
        policy = d.policy()
        profile, replay = unit.profile, replay_of(unit, idem, now)
        if replay is not None:  # what a new request would refuse, a repeat refuses too
            if profile is not None and profile.is_blocked(now):
                raise UserBlocked()
            if risk_action(policy, context) == "block":
                raise RiskBlocked()
            if replay.kind == CHALLENGE:
                return replay_challenge(d, unit, replay, now, created)
            return _replay_bypass(unit, replay, now)
        required = strength.required(policy.strength_groups, policy.strength_risk,
                                     profile.groups if profile else (), context.get("riskLevel"))
        decision = evaluate(policy, profile, context, now, lambda: device_tokens.is_valid(
            d.hmac_keys, context["deviceToken"], user_id, now, profile.sessions_revoked_at if profile else None,
            policy.remember_device_days), strict=required is not None)
        if decision == "user_blocked":
            raise UserBlocked()
        if decision == "risk_blocked":
            raise RiskBlocked()
        if decision == "bypass":
            assert profile is not None and profile.bypass_rk  # evaluate answers "bypass" only for a live bypass
            if idem is not None:
                idem.add_record(unit, Replay(BYPASS, profile.bypass_rk), now, policy.code_ttl_seconds)
            use_bypass(unit, now)
            return NotRequired("bypass")
        if decision != "challenge":  # a skipped second factor is a decision too: audit it
            unit.audit(now, "mfa_skipped", "application", reason=decision, ip=context.get("ip"),
                       riskLevel=context.get("riskLevel"))
            unit.commit()
            return NotRequired(decision)
        if profile is None:
            raise NotEnrolled()
        refuse_if_barred(profile, now)
        usable = [m for m in dict.fromkeys([profile.default_method, *profile.provisioned_methods()])
                  if m is not None and profile.can_challenge(m)]
        chosen = strength.signin_method(required, method, usable)  # W8: refused unless strong enough
        chosen = chosen or profile.default_method or next(iter(profile.provisioned_methods()), None)
        if chosen is None or not profile.can_challenge(chosen):
            raise NotEnrolled()
        keyed = idem is not None  # a keyed begin commits before it sends (delivery/inline.py)
        row_key, fields = prepare_with_marker(d, policy, user_id, chosen, now,
                                              lambda: METHODS[chosen].prepare(d, profile, context), marked=keyed)
        ch = new_challenge(d, policy, user_id, SIGNIN, chosen, now, profile, row_key, **fields)
        return start(d, unit, ch, now, "challenge_created", created, idem, marked=keyed, send_first=not keyed,
                     riskLevel=context.get("riskLevel"))

    def created(ch: Challenge) -> ChallengeStarted:  # functions/ adds the Location, from the route it serves
        return ChallengeStarted(challenge_view(ch, d.clock.now(), created=True))

    return audited_refusals(d, user_id, "begin", lambda: d.in_unit(user_id, attempt,
                                                                        idem.row_key if idem else None))


def _replay_bypass(unit: UserRows, replay: Replay, now: datetime) -> NotRequired:
    """A repeat of the begin that spent a bypass answers `bypass` again only for that very bypass, and
    never for a user blocked or locked since (the caller has checked the risk action)."""
    if unit.profile is None:
        raise IdempotentResultGone()
    refuse_if_barred(unit.profile, now)
    bypass = unit.bypass(replay.ref) if unit.read(replay.ref) else None
    if bypass is None or bypass.status != "used":
        raise IdempotentResultGone()
    return NotRequired("bypass")


def use_bypass(unit: UserRows, now: datetime) -> None:
    """Spend the user's one-time bypass: the profile's ETag makes sure only one begin can."""
    profile = unit.profile
    assert profile is not None and profile.bypass_rk is not None  # evaluate() said "bypass"
    bypass_rk = profile.bypass_rk
    profile.bypass_rk = profile.bypass_expires_at = None
    unit.save(profile)
    unit.patch(bypass_rk, status="used", usedAt=now)
    unit.audit(now, "bypass_used", "application", bypassId=bypass_rk.split("|", 1)[1])
    unit.commit()
