"""Authentication strengths (W8) as pure rules: which users a strength covers, which method a begin may use,
which step-up proof may change factors, the policy field and the CLI's local check, and that a strength
turns the skips off but leaves the admin's bypass. A throw-away phishing-resistant method (strong_pin) is
registered for the tests; the built-in methods are all phishable."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shared.flows.signin import evaluate
from shared.kernel.errors import InvalidRequest, StrengthRequired
from shared.methods.registry import METHODS, register
from shared.model import strength
from shared.model.policy import apply_patch, defaults
from shared.model.records import Profile
from shared.settings import load_settings
from tests.clocks import FixedClock
from tests.integration.strong_pin import NAME, StrongPin
from tests.unit.test_config import GOOD
from twostepctl.policy_shape import check

PR = strength.PHISHING_RESISTANT
BASE = defaults(load_settings(GOOD))
POLICY = apply_patch(BASE, {"strengths": {"groups": {"admins": PR}, "riskLevels": {"high": PR}},
                            "excludedGroups": ["admins"], "trustedNetworks": [{"name": "hq", "cidrs": ["203.0.113.0/24"]}]})


@pytest.fixture
def pin():
    with register(StrongPin()):
        yield


def allowed(exc: pytest.ExceptionInfo) -> list[str]:
    return exc.value.extra["allowedMethods"]


def strong() -> list[str]:
    """Every registered phishing-resistant method (the built-in passkey, and the test's PIN while registered)."""
    return [name for name, method in METHODS.items() if method.phishing_resistant]


def test_a_strength_covers_a_group_or_an_asserted_risk_level():
    groups, risk = POLICY.strength_groups, POLICY.strength_risk
    assert strength.required(groups, risk, ["admins"], None) == PR
    assert strength.required(groups, risk, ["staff"], "high") == PR
    assert strength.required(groups, risk, ["staff"], "medium") is None
    assert strength.required(groups, risk, [], None) is None
    assert strength.required(BASE.strength_groups, BASE.strength_risk, ["admins"], "high") is None  # default: none


def test_signin_under_a_strength_uses_only_a_phishing_resistant_method(pin):
    assert strength.signin_method(None, "sms", ["sms"]) == "sms"  # no strength: as before
    assert strength.signin_method(None, None, ["sms", NAME]) is None
    assert strength.signin_method(PR, None, ["sms", NAME]) == NAME  # picked, ahead of the default
    assert strength.signin_method(PR, NAME, ["sms", NAME]) == NAME
    for chosen, usable in (("sms", ["sms", NAME]), ("totp", ["totp"]), (None, ["sms"]), (NAME, ["sms"]),
                           ("recovery_code", ["sms"]), ("access_pass", ["sms", NAME])):
        with pytest.raises(StrengthRequired) as exc:
            strength.signin_method(PR, chosen, usable)
        assert allowed(exc) == strong() and NAME in strong() and exc.value.status == 403 and exc.value.code == "strength_required"
    assert strength.signin_method(PR, "access_pass", ["sms"]) == "access_pass"  # the recovery path


def test_a_step_up_proof_must_be_as_strong(pin):
    strength.check_proof(None, "sms", None)  # no strength: any proof
    strength.check_proof(PR, NAME, None)
    strength.check_proof(PR, NAME, "sms")
    strength.check_proof(PR, "access_pass", NAME)  # the pass's proof registers a phishing-resistant method
    for proof, enrolling in (("sms", None), ("totp", NAME), ("access_pass", "sms"), ("access_pass", None),
                             ("recovery_code", NAME)):
        with pytest.raises(StrengthRequired) as exc:
            strength.check_proof(PR, proof, enrolling)
        assert allowed(exc) == strong() and NAME in strong()
        assert exc.value.extra["reason"] == "strength" and f"signed in with {proof}" in exc.value.detail


def test_the_allowed_methods_are_the_registered_phishing_resistant_ones():
    with pytest.raises(StrengthRequired) as exc:
        strength.signin_method(PR, None, ["sms", "totp"])
    assert allowed(exc) == strong() == ["passkey"]  # the built-in passkey alone


def test_a_strength_turns_the_skips_off_but_not_the_bypass():
    clock = FixedClock(datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc))
    profile = Profile(user_id="ada", created_at=clock.now(), groups=["admins"])
    context = {"ip": "203.0.113.9"}
    assert evaluate(POLICY, profile, context, clock.now(), lambda: True) == "excluded_group"
    assert evaluate(POLICY, profile, context, clock.now(), lambda: True, strict=True) == "challenge"
    assert evaluate(POLICY, None, {**context, "deviceToken": "t"}, clock.now(), lambda: True, strict=True) == "challenge"
    profile.bypass_rk, profile.bypass_expires_at = "bypass|b1", clock.now() + timedelta(minutes=5)
    assert evaluate(POLICY, profile, context, clock.now(), lambda: True, strict=True) == "bypass"
    clock.advance(301)
    assert evaluate(POLICY, profile, context, clock.now(), lambda: True, strict=True) == "challenge"


@pytest.mark.parametrize("value,field", [
    ({"groups": {"admins": "strong"}}, "strengths.groups.admins"),
    ({"riskLevels": {"severe": PR}}, "strengths.riskLevels"),
    ({"groups": {"": PR}}, "strengths.groups"),
    ({"groups": ["admins"]}, "strengths.groups"),
    ({"devices": {}}, "strengths"),
    ("phishingResistant", "strengths"),
])
def test_the_policy_field_names_what_is_wrong(value, field):
    with pytest.raises(InvalidRequest) as err:
        apply_patch(BASE, {"strengths": value})
    assert err.value.extra["field"] == field


@pytest.mark.parametrize("value,field", [
    ({"groups": {"admins": "strong"}}, "strengths.groups.admins"),
    ({"riskLevels": {"severe": PR}}, "strengths.riskLevels"),
    ({"groups": ["admins"]}, "strengths.groups"),
    ({"devices": {}}, "strengths"),
])
def test_the_cli_checks_the_field_locally(value, field):
    assert check({"strengths": value}) == [(field, check({"strengths": value})[0][1])]


def test_the_policy_document_round_trips_strengths():
    doc = POLICY.to_doc()["strengths"]
    assert doc == {"groups": {"admins": PR}, "riskLevels": {"high": PR}}
    assert apply_patch(BASE, {"strengths": doc}).to_doc()["strengths"] == doc
    assert BASE.to_doc()["strengths"] == {"groups": {}, "riskLevels": {}}
    assert check({"strengths": doc}) == []
