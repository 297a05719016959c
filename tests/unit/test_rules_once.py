"""Each rule once: the lockout rule and its defaults (model/lockout.py, from the settings' bounds), which
phone numbers are accepted (model/phone.py; the SMS limits only count) and the crypto-error -> 503 mapping
(functions/http.py, the HTTP edge) each live in one place."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from shared.kernel.errors import CountryNotAllowed
from shared.model import lockout
from shared.model.phone import refuse_country
from shared.model.policy import KNOBS, LOCKOUT, Policy
from shared.settings import BOUNDS

ROOT = Path(__file__).resolve().parents[2]


def test_every_policy_default_is_its_settings_default():
    policy = Policy()
    for attr in [*LOCKOUT.values(), *(setting for _, setting in KNOBS.values())]:
        assert getattr(policy, attr) == BOUNDS[attr][1], attr
    assert (lockout.DEFAULT_THRESHOLD, lockout.DEFAULT_RESET_MINUTES, lockout.DEFAULT_LOCK_MINUTES) == (
        BOUNDS["lockout_threshold"][1], BOUNDS["lockout_reset_minutes"][1], BOUNDS["lockout_minutes"][1])


def test_the_lockout_rule_is_written_once():
    """The counting, the growth and the caps are defined in model/lockout.py and nowhere else in shared/."""
    defining = {str(p.relative_to(ROOT)) for p in (ROOT / "shared").rglob("*.py")
                if re.search(r"^def (register_failure|clear_failures|locked_error)\b|^(MAX_LOCK|LOCKED_FOR_GOOD|"
                             r"MAX_CONSECUTIVE_FAILURES) =", p.read_text(), re.M)}
    assert defining == {"shared/model/lockout.py"}


def test_the_phone_module_decides_the_country_and_the_limits_only_count():
    refuse_country("+16135550130", frozenset({"CA"}))
    refuse_country("+14255550130", None)  # no list: every country
    with pytest.raises(CountryNotAllowed):
        refuse_country("+14255550130", frozenset({"CA"}))
    limits = (ROOT / "shared" / "methods" / "limits.py").read_text()
    assert not re.search(r"CountryNotAllowed|allowed_countries|region_code|parse_e164|SMS_TYPES", limits)


def test_crypto_errors_become_a_503_only_at_the_http_edge():
    users = {str(p.relative_to(ROOT)) for d in ("shared", "functions") for p in (ROOT / d).rglob("*.py")
             if "crypto_problem(" in p.read_text() and not p.read_text().count("def crypto_problem(")}
    assert users == {"functions/http.py"}
