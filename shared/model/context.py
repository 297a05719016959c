"""The calling application's `context`: what it asserts about the request it is serving (the end user's
IP, a risk level, a remembered-device token). Begin-challenge and the enrolment routes take the same
object, so an SMS sent by either counts against the per-IP limit (L8) and a risk block stops both.

It is never read from a header the end user controls: only the application's own assertion counts.
"""
from __future__ import annotations

import ipaddress
from typing import Any

from ..kernel.errors import InvalidRequest, RiskBlocked
from ..kernel.validation import choice, text
from .policy import RISK_LEVELS, Policy


def parse_context(value: object) -> dict[str, Any]:
    """The validated context object ({} when absent); any malformed field is a 400."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest("context must be an object.")
    ip = text(value, "ip", max_len=45)
    if ip is not None:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise InvalidRequest("context.ip must be an IPv4 or IPv6 address.") from None
    choice(value, "riskLevel", RISK_LEVELS)
    text(value, "deviceToken", max_len=2048)
    return value


def risk_action(policy: Policy, context: dict[str, Any]) -> str:
    """What the policy does at the asserted risk level: allow_skip, require_mfa or block."""
    return policy.risk[context.get("riskLevel") or "none"]


def refuse_if_risk_blocked(policy: Policy, context: dict[str, Any]) -> None:
    """Enrolment under a risk level the policy blocks is refused: an attacker holding a stolen password
    must not be able to add a phone of their own."""
    if risk_action(policy, context) == "block":
        raise RiskBlocked()
