"""Associated data of sealed values: it binds a sealed phone or TOTP secret to its user, so a value
moved to another user's row does not open."""
from __future__ import annotations


def phone_aad(user_id: str) -> str:
    return f"twostep/phone/{user_id}"


def totp_aad(user_id: str) -> str:
    return f"twostep/totp/{user_id}"
