"""Phone numbers: which ones are accepted, decided here whole (E.164 validation with phonenumbers, an
allow-list of the number types that can receive an SMS in a geographic country (L9), and the operator's
country allow-list, MFA_SMS_ALLOWED_COUNTRIES), and masking for responses and logs. The SMS limits
(methods/limits.py) only count.

An allow-list, not a deny-list: a type the list does not name (a new one in a phonenumbers release, or
UNKNOWN) is refused. Toll fraud pays out on numbers whose termination rate is high: satellite and other
non-geographic codes (+870, +881, +882, +883, ...), UK personal numbers (+44 70), premium rate, shared
cost, UAN, VoIP, pager and toll-free numbers; none of them is a phone a person reliably reads an SMS on.
"""
from __future__ import annotations

import phonenumbers
from phonenumbers import PhoneNumberType

from ..kernel.errors import CountryNotAllowed, InvalidRequest

SMS_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
NON_GEOGRAPHIC = "001"  # phonenumbers' region code for country codes that belong to no country
E164_HINT = "phoneNumber must be an E.164 number such as +14255550100"


def _refused(detail: str) -> InvalidRequest:
    return InvalidRequest(detail, field="phoneNumber")


def parse_e164(value: object) -> str:
    """The number in E.164 form, or 400 `invalid_request` (field `phoneNumber`) before anything is sent."""
    if not isinstance(value, str) or not value.startswith("+") or len(value) > 16:
        raise _refused(E164_HINT)
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise _refused(E164_HINT) from None
    if phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164) != value:
        raise _refused("phoneNumber must be in E.164 form, e.g. +14255550100")
    if not phonenumbers.is_valid_number(number):
        raise _refused("phoneNumber is not a valid number")
    region = phonenumbers.region_code_for_number(number)
    if region in (None, "", "ZZ", NON_GEOGRAPHIC) or phonenumbers.number_type(number) not in SMS_TYPES:
        raise _refused("phoneNumber cannot receive sign-in codes: only mobile numbers of a country are accepted")
    return value


def refuse_country(e164: str, allowed: frozenset[str] | None) -> None:
    """403 `country_not_allowed` unless the number's country is on the allow-list (None: every country).
    Checked when a code is about to be sent, so a number enrolled before its country left the list is
    refused too."""
    if allowed is not None and phonenumbers.region_code_for_number(phonenumbers.parse(e164)) not in allowed:
        raise CountryNotAllowed()


def mask(e164: str) -> str:
    """`+14255550100` -> `+1*******00`: country code and last two digits, fixed-width stars."""
    try:
        country = str(phonenumbers.parse(e164, None).country_code)
    except phonenumbers.NumberParseException:
        country = ""
    return f"+{country}*******{e164[-2:]}"


def region(e164: str) -> str:
    """The number's country as a region code (`US`), the only trace of a number a metric may carry."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(e164, None)) or "ZZ"
    except phonenumbers.NumberParseException:
        return "ZZ"
