"""Sign-in: whether a second factor is needed (`evaluate`, in the documented order), and `begin`, which
answers `not_required` (a skipped factor, audited, or the one-time bypass, spent under the profile's
ETag) or starts a challenge of the user's method. A lost race re-reads and decides again.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from . import device_tokens
from .challenge_rows import (
    audited_refusals,
    challenge_view,
    load_with_replay,
    new_challenge,
    refuse_if_barred,
    replay_challenge,
    start,
)
from .context import parse_context, risk_action
from .deps import Deps
from .errors import IdempotentResultGone, NotEnrolled, RiskBlocked, UserBlocked
from .idempotency import BYPASS, CHALLENGE, Idempotency, Replay
from .ids import validate_user_id
from .methods import METHODS, SIGNIN
from .models import Challenge, Profile
from .policy import Policy
from .results import BeginResult, ChallengeStarted, NotRequired
from .store import Tx, retry_on_conflict
from .validation import choice


def evaluate(policy: Policy, profile: Profile | None, context: dict[str, Any], now: datetime,
             device_ok: Callable[[], bool]) -> str:
    """Whether a second factor is needed, in the documented order: blocked user, risk block, bypass, risk
    requires MFA, excluded group, trusted network, remembered device, else a challenge.

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
    if action == "require_mfa":
        return "challenge"
    if profile is not None and set(profile.groups) & set(policy.excluded_groups):
        return "excluded_group"
    if context.get("ip") and context["ip"] in policy.networks:
        return "trusted_network"
    if context.get("deviceToken") and device_ok():
        return "remembered_device"
    return "challenge"


def begin(d: Deps, body: dict[str, Any], idempotency_key: str | None = None) -> BeginResult:
    user_id = validate_user_id(body.get("userId"))
    method = choice(body, "method", tuple(METHODS))
    context = parse_context(body.get("context"))
    idem = Idempotency.from_request(d.index, idempotency_key, "begin", body)

    def attempt() -> BeginResult:
        now = d.clock.now()
        policy = d.policy()
        profile, _, replay = load_with_replay(d, user_id, idem, now)
        if replay is not None:  # what a new request would refuse, a repeat refuses too
            if profile is not None and profile.is_blocked(now):
                raise UserBlocked()
            if risk_action(policy, context) == "block":
                raise RiskBlocked()
            if replay.kind == CHALLENGE:
                return replay_challenge(d, user_id, profile, replay, now, created)
            return _replay_bypass(d, user_id, profile, replay, now)
        decision = evaluate(policy, profile, context, now, lambda: device_tokens.is_valid(
            d.hmac_keys, context["deviceToken"], user_id, now, profile.sessions_revoked_at if profile else None,
            policy.remember_device_days))
        if decision == "user_blocked":
            raise UserBlocked()
        if decision == "risk_blocked":
            raise RiskBlocked()
        if decision == "bypass":
            tx = Tx()
            if idem is not None:
                idem.add_record(tx, user_id, Replay(BYPASS, profile.bypass_rk), now, policy.code_ttl_seconds)
            use_bypass(d, profile, now, tx)
            return NotRequired("bypass")
        if decision != "challenge":  # a skipped second factor is a decision too: audit it
            d.store.transact(Tx().create(d.audit(user_id, now, "mfa_skipped", "application", reason=decision,
                                                   ip=context.get("ip"), riskLevel=context.get("riskLevel"))))
            return NotRequired(decision)
        if profile is None:
            raise NotEnrolled()
        refuse_if_barred(profile, now)
        chosen = method or profile.default_method or next(iter(profile.provisioned_methods()), None)
        if chosen is None or not profile.can_challenge(chosen):
            raise NotEnrolled()
        fields = METHODS[chosen].prepare(d, profile, context)
        ch = new_challenge(d, policy, user_id, SIGNIN, chosen, now, profile, **fields)
        return start(d, ch, Tx(), now, "challenge_created", created, idem, riskLevel=context.get("riskLevel"))

    def created(ch: Challenge) -> ChallengeStarted:  # functions/ adds the Location, from the route it serves
        return ChallengeStarted(challenge_view(ch, d.clock.now(), created=True))

    return audited_refusals(d, user_id, "begin", lambda: retry_on_conflict(attempt))


def _replay_bypass(d: Deps, user_id: str, profile: Profile | None, replay: Replay, now: datetime) -> NotRequired:
    """A repeat of the begin that spent a bypass answers `bypass` again only for that very bypass, and
    never for a user blocked or locked since (the caller has checked the risk action)."""
    if profile is None:
        raise IdempotentResultGone()
    refuse_if_barred(profile, now)
    row = d.store.get(user_id, replay.ref)
    if row is None or row.get("status") != "used":
        raise IdempotentResultGone()
    return NotRequired("bypass")


def use_bypass(d: Deps, profile: Profile, now: datetime, tx: Tx) -> None:
    """Spend the user's one-time bypass: the profile's ETag makes sure only one begin can."""
    bypass_rk = profile.bypass_rk
    profile.bypass_rk = profile.bypass_expires_at = None
    tx.replace(profile.to_entity())
    tx.merge_existing({"PartitionKey": profile.user_id, "RowKey": bypass_rk, "status": "used", "usedAt": now})
    tx.create(d.audit(profile.user_id, now, "bypass_used", "application",
                        bypassId=bypass_rk.split("|", 1)[1]))
    d.store.transact(tx)
