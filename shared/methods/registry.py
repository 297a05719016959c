"""The table of sign-in methods, by name (`METHODS`), and what flows ask of it."""
from __future__ import annotations

from .access_pass import AccessPass
from .base import Method
from .recovery_code import RecoveryCode
from .sms import Sms
from .totp import Totp

METHODS: dict[str, Method] = {m.name: m for m in (Sms(), Totp(), AccessPass(), RecoveryCode())}


def delivers(method: str) -> bool:
    """Whether challenges of `method` are sent through the queue (a row of an unknown method is not)."""
    m = METHODS.get(method)
    return m is not None and m.delivered
