"""Adding a sign-in method is adding its module (docs/extending.md): a throw-away "static PIN" method is
defined here, registered for the test only, and enrolled, listed, used to sign in, re-sealed under a new
key and removed through the real flows against Azurite, with no edit outside its own definition."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, ClassVar

import pytest

from shared.crypto.aad import bound_aad
from shared.crypto.keys import codes_equal, sealed_key_id
from shared.flows import enrolment, signin, verify
from shared.kernel.errors import IncorrectCode, InvalidRequest, StepUpRequired
from shared.kernel.ids import PROFILE_RK
from shared.kernel.results import ChallengeStarted
from shared.methods.base import SIGNIN
from shared.methods.registry import METHODS, register
from shared.model.factors import SealedField
from shared.model.records import Challenge, Profile
from shared.ops import reseal
from tests.integration.test_key_rotation import ENC_RETIRED, OLD, ROTATED

PIN_RE = re.compile(r"[0-9]{6}")


def _pin(value: object) -> str:
    if not isinstance(value, str) or not PIN_RE.fullmatch(value):
        raise InvalidRequest("pin must be 6 digits.")
    return value


class StaticPin:
    """A PIN the user chooses: sealed on the challenge while it is being enrolled, then on the profile
    (`Profile.extra`, stored in a column of its own), compared in constant time."""

    name: ClassVar[str] = "static_pin"
    delivered: ClassVar[bool] = False
    recovery: ClassVar[bool] = False
    sealed: ClassVar[tuple[SealedField, ...]] = (SealedField("profile", "staticPin", "pin"),
                                                 SealedField("challenge", "pendingSecret", "pin"))
    enrols: ClassVar[bool] = True
    enrol_action: ClassVar[str] = "enrol_static_pin"
    enrol_scope: ClassVar[str] = "pin"

    # stored state
    def held(self, profile: Profile, now: datetime | None) -> bool:
        return self.name in profile.extra

    provisioned = ever_held = lambda self, profile: self.name in profile.extra  # noqa: E731

    def factor_state(self, profile: Profile) -> Any:
        return profile.extra.get(self.name)

    def to_columns(self, profile: Profile) -> dict[str, Any]:
        return {"staticPin": profile.extra.get(self.name)}

    def from_columns(self, row: dict[str, Any], profile: Profile) -> None:
        if row.get("staticPin"):
            profile.extra[self.name] = row["staticPin"]

    # enrolment
    def parse_enrolment(self, body: dict[str, Any]) -> Any:
        return _pin(body.get("pin"))

    def refuse_enrolment(self, profile: Profile | None) -> None:
        return None

    def enrolment_fields(self, d, user_id: str, parsed: Any, context: dict[str, Any], unit) -> dict[str, Any]:
        return {"pending_secret": d.sealer.seal(parsed.encode(), bound_aad("pin", user_id))}

    def enrolment_answer(self, d, ch: Challenge, view: dict[str, Any]) -> ChallengeStarted:
        return ChallengeStarted(view)

    # sign-in
    def challenge_fields(self, d) -> dict[str, Any]:
        return {"digits": 6, "key_id": None, "delivery": None}

    def prepare(self, d, profile: Profile, context: dict[str, Any]) -> dict[str, Any]:
        return {}

    def still_enrolled(self, ch: Challenge, profile: Profile | None, now: datetime) -> bool:
        return profile is not None and self.held(profile, now)

    def view_fields(self, ch: Challenge, created: bool) -> dict[str, Any]:
        return {}

    def parse_code(self, code: str) -> str:
        return _pin(code)

    def check(self, d, ch: Challenge, profile: Profile, code: str, now: datetime, unit) -> object | None:
        sealed = ch.pending_secret if ch.purpose != SIGNIN else profile.extra[self.name]
        kind = "challenge" if ch.purpose != SIGNIN else "profile"
        held = d.sealer.open(sealed, bound_aad("pin", ch.user_id), kind=kind).decode()
        return True if codes_equal(held, code) else None

    def approve(self, d, ch: Challenge, profile: Profile, proof: object, unit) -> dict[str, Any]:
        if ch.purpose != SIGNIN:
            profile.extra[self.name] = ch.pending_secret
        return {}

    def activates(self, proof: object) -> bool:
        return False

    def enrolled_views(self, profile: Profile) -> list[dict[str, Any]]:
        return [{"type": self.name}] if self.name in profile.extra else []

    def remove(self, profile: Profile, unit) -> None:
        profile.extra.pop(self.name, None)


@pytest.fixture
def pin_method():
    with register(StaticPin()) as method:
        yield method
    assert method.name not in METHODS  # taken out again after the test


def pin_signin(d, code="482913", user="pia"):
    ch = signin.begin(d, {"userId": user, "method": "static_pin"}).view
    return verify.verify(d, ch["challengeId"], {"code": code})


def test_a_method_defined_in_a_test_works_through_every_flow(make_deps, pin_method):
    d = make_deps(**OLD)
    started = enrolment.enrol(d, "static_pin", "pia", {"pin": "482913"})
    assert isinstance(started, ChallengeStarted) and started.view["method"] == "static_pin"
    with pytest.raises(InvalidRequest):
        verify.verify(d, started.view["challengeId"], {"code": "48291"})  # its own answer format
    assert verify.verify(d, started.view["challengeId"], {"code": "482913"})["status"] == "approved"

    user = enrolment.get_user(d, "pia")  # listed, and the default as the only method
    assert user["methods"] == [{"type": "static_pin"}] and user["defaultMethod"] == "static_pin"
    row = d.store.get("pia", PROFILE_RK)
    assert sealed_key_id(row["staticPin"]) == "e1" and row["methodsVersion"] == 1 and row["claimed"] is True

    with pytest.raises(IncorrectCode):
        pin_signin(d, code="111111")
    assert pin_signin(d)["status"] == "approved"
    with pytest.raises(StepUpRequired):  # a claimed account: a second PIN needs a proof
        enrolment.enrol(d, "static_pin", "pia", {"pin": "000000"})

    rotated = make_deps(MFA_TABLE_NAME=d.settings.table_name, **ROTATED)
    reseal.run(rotated, 500, "ops")
    assert sealed_key_id(rotated.store.get("pia", PROFILE_RK)["staticPin"]) == "e2"
    retired = make_deps(MFA_TABLE_NAME=d.settings.table_name, **ENC_RETIRED)  # e1 gone: only e2 opens it
    assert pin_signin(retired)["status"] == "approved"

    proof = signin.begin(retired, {"userId": "pia", "method": "static_pin"}).view["challengeId"]
    verify.verify(retired, proof, {"code": "482913"})
    enrolment.delete_method(retired, "pia", "static_pin", {"proofChallengeId": proof})
    after = enrolment.get_user(retired, "pia")
    assert after["methods"] == [] and after["defaultMethod"] is None
    assert "staticPin" not in retired.store.get("pia", PROFILE_RK)
    assert retired.store.get("pia", PROFILE_RK)["methodsVersion"] == 2


def test_a_profile_written_before_the_method_existed_loads_and_keeps_its_version(deps):
    """A row stored before the method was registered has none of its columns: it holds nothing of it, and
    writing it again (a sign-in) neither adds a column nor counts as a change of factors."""
    from tests.integration.test_flows import approved_signin, enrol_sms

    enrol_sms(deps, user="bo")
    before = deps.store.get("bo", PROFILE_RK)
    with register(StaticPin()):
        assert [m["type"] for m in enrolment.get_user(deps, "bo")["methods"]] == ["sms"]
        approved_signin(deps, user="bo")
        after = deps.store.get("bo", PROFILE_RK)
    assert after["methodsVersion"] == before["methodsVersion"] and "staticPin" not in after
