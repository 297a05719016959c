"""Authentication strengths (W8): the policy can require a phishing-resistant method for a group or for a
risk level asserted in the request's `context.riskLevel`. The rule is pure and asks the method table, never
a method by name: a method says whether it is `phishing_resistant`, and the recovery path is the method
marked `strength_recovery` (the temporary access pass, issued by support).

Under the strength, sign-in uses a phishing-resistant method only; the one exception is the access pass of
a user who holds no phishing-resistant method (the recovery path). A step-up proof counts only if it was
signed in with a phishing-resistant method, or, for enrolling a phishing-resistant method only, with the
access pass. Anything else is refused with `strength_required`, naming the allowed methods (and, for a
step-up proof, `reason: strength`, as the other step-up refusals give theirs).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..kernel.errors import InvalidRequest, StrengthRequired
from . import factors

PHISHING_RESISTANT = "phishingResistant"
STRENGTHS = (PHISHING_RESISTANT,)


def parse(value: Any, risk_levels: Iterable[str], group_re: Any) -> tuple[dict[str, str], dict[str, str]]:
    """The `strengths` document ({"groups": {...}, "riskLevels": {...}}) as (groups, risk levels); a 400 that
    names the field otherwise."""
    if not isinstance(value, dict) or not set(value) <= {"groups", "riskLevels"}:
        raise InvalidRequest("strengths: must be {\"groups\": {...}, \"riskLevels\": {...}}", field="strengths")
    out: list[dict[str, str]] = []
    for key, accept, what in (("groups", group_re.fullmatch, "a group name (1-128 characters)"),
                              ("riskLevels", set(risk_levels).__contains__, "one of none, low, medium, high")):
        table = value.get(key, {})
        if not isinstance(table, dict) or len(table) > 500:
            raise InvalidRequest(f"strengths.{key}: must be an object of at most 500 entries",
                                 field=f"strengths.{key}")
        for name, strength in table.items():
            if not accept(name):
                raise InvalidRequest(f"strengths.{key}: each key must be {what}", field=f"strengths.{key}")
            if strength not in STRENGTHS:
                raise InvalidRequest(f"strengths.{key}.{name}: must be phishingResistant",
                                     field=f"strengths.{key}.{name}")
        out.append(dict(table))
    return out[0], out[1]


def required(groups: Mapping[str, str], risk_levels: Mapping[str, str], user_groups: Iterable[str],
             risk_level: str | None) -> str | None:
    """The strength the policy requires of this user at this risk level, or None."""
    if any(g in groups for g in user_groups) or (risk_level is not None and risk_level in risk_levels):
        return PHISHING_RESISTANT
    return None


def _flag(method: str, attribute: str) -> bool:
    return bool(getattr(factors.get(method), attribute, False))


def allowed_methods() -> list[str]:
    """The registered phishing-resistant methods, as a refusal names them."""
    return factors.names(lambda m: bool(getattr(m, "phishing_resistant", False)))


def refuse() -> StrengthRequired:
    return StrengthRequired(allowedMethods=allowed_methods())


def signin_method(strength: str | None, chosen: str | None, usable: Iterable[str]) -> str | None:
    """The method a begin may use: `chosen` (or None for the usual default) when no strength applies; under
    the strength, the chosen phishing-resistant method, the first one the user can use, or the access pass
    of a user who has no phishing-resistant method. StrengthRequired otherwise."""
    if strength is None:
        return chosen
    strong = [m for m in usable if _flag(m, "phishing_resistant")]
    if chosen is None:
        if strong:
            return strong[0]
        raise refuse()
    if _flag(chosen, "phishing_resistant") and chosen in strong:
        return chosen
    if _flag(chosen, "strength_recovery") and not strong:
        return chosen  # the recovery path: its proof only lets the user register a phishing-resistant method
    raise refuse()


def check_proof(strength: str | None, proof_method: str, enrolling: str | None) -> None:
    """Whether a step-up proof signed in with `proof_method` may change the factors of a user under
    `strength` (`enrolling`: the method being enrolled, None for any other change)."""
    if strength is None or _flag(proof_method, "phishing_resistant"):
        return
    if _flag(proof_method, "strength_recovery") and enrolling is not None and _flag(enrolling, "phishing_resistant"):
        return
    allowed = allowed_methods()
    only = " (it only enrols a phishing-resistant method)" if _flag(proof_method, "strength_recovery") else ""
    raise StrengthRequired(
        f"The step-up proof was signed in with {proof_method}{only}; this user's sign-in policy requires a "
        f"phishing-resistant method for a factor change: sign in with {' or '.join(allowed)} and send that "
        "challenge as proofChallengeId.", reason="strength", allowedMethods=allowed)
