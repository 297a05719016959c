"""Phone numbers: E.164 validation with phonenumbers, refusal of numbers that cannot or must not get
an SMS (premium rate, shared cost), and masking for responses and logs."""
from __future__ import annotations

import phonenumbers
from phonenumbers import PhoneNumberType

from .errors import InvalidRequest

REFUSED_TYPES = {PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST, PhoneNumberType.UAN,
                 PhoneNumberType.VOICEMAIL, PhoneNumberType.FIXED_LINE}


def parse_e164(value: object) -> str:
    if not isinstance(value, str) or not value.startswith("+") or len(value) > 16:
        raise InvalidRequest("phoneNumber must be an E.164 number such as +14255550100")
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise InvalidRequest("phoneNumber must be an E.164 number such as +14255550100") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidRequest("phoneNumber is not a valid number")
    if phonenumbers.number_type(number) in REFUSED_TYPES:
        raise InvalidRequest("phoneNumber cannot receive sign-in codes (premium-rate or fixed-line number)")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if e164 != value:
        raise InvalidRequest("phoneNumber must be in E.164 form, e.g. +14255550100")
    return e164


def mask(e164: str) -> str:
    """`+14255550100` -> `+1*******00`: country code and last two digits, fixed-width stars."""
    try:
        country = str(phonenumbers.parse(e164, None).country_code)
    except phonenumbers.NumberParseException:
        country = ""
    return f"+{country}*******{e164[-2:]}"
