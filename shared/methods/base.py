"""Sign-in methods: one class per method, one small protocol, one table (`METHODS`).

A flow never asks which method it holds; it asks the method. A method says what a new challenge of
its kind carries (`challenge_fields`, `prepare`), whether it is delivered (`delivered`: an SMS goes
through the queue and the sweeper), whether a pending sign-in challenge still matches the profile
(`still_enrolled`), what an answer must look like (`parse_code`: a malformed one is 400 and uses no
attempt), checks an answer in constant time (`check` returns a proof, or None when wrong, or a `WrongAnswer`
when it can say why without giving anything away, such as a TOTP code already used) and applies
what approval changes on the profile (`approve`, which returns any fields the verify answer adds).

`check` and `approve` also get the decision's unit of work (`store.UserRows`): the rows of the user's
partition as read, where a method whose state lives outside the profile reads its row (`unit.read`) and
registers its change (`unit.save`, `unit.put`, `unit.patch`, `unit.delete`) and its own audit event
(`unit.audit`), all committed with the approval in its one ETag-conditional transaction.

Each method also declares what it keeps (model.factors.StoredFactor: whether a profile holds it, its part
of the version counter and of R7's claim, its profile columns, its sealed fields) and how it is enrolled
(`Enrolment`: parse the request, refuse before the step-up, the fields of the enrolment challenge, the
answer). The registry (registry.py) is the one list every flow, the row mapping and the re-seal job read;
docs/extending.md walks through adding a method.

The recovery methods (`recovery = True`) are the temporary access pass (R2) and recovery codes (R3):
not delivered, typed secrets compared as keyed hashes on the profile, never a default method and never
removed through the method routes (a pass is revoked, a set of codes replaced). The access pass's `check`
compares the pass and `approve` spends a one-time pass; a recovery code's `check` returns the index of
the matched code and `approve` removes that one. The profile's ETag makes sure either is spent once.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ..channels import events
from ..kernel.errors import InvalidRequest, NotFound
from ..kernel.results import Started
from ..kernel.validation import CODE_RE
from ..model.factors import SealedField, StoredFactor
from ..model.records import Challenge, Profile

if TYPE_CHECKING:
    from ..ports import KeysAndSettings, MethodApproving, MethodChecking, MethodPreparing
    from ..store import UserRows

SIGNIN, ENROL_SMS, ENROL_TOTP = "signin", "enrol_sms", "enrol_totp"
ENROL_PREFIX = events.ENROL_PREFIX  # an enrolment challenge's purpose: this and the method's name
ACCESS_PASS_LABEL, RECOVERY_CODE_LABEL = "access-pass", "recovery-code"  # labels of their keyed hashes


@dataclass(frozen=True)
class WrongAnswer:
    """A wrong answer the method can say more about (`detail` of the 403 `incorrect_code`); it counts as a
    failure exactly as None does."""
    detail: str


def enrol_purpose(method: str) -> str:
    return f"{ENROL_PREFIX}{method}"


class Method(StoredFactor, Protocol):
    name: ClassVar[str]
    delivered: ClassVar[bool]
    recovery: ClassVar[bool]
    sealed: ClassVar[tuple[SealedField, ...]]
    # W8 (model.strength): a phishing-resistant method (a passkey) satisfies the `phishingResistant` strength;
    # the strength's recovery method (the access pass) signs in a user who holds none, and its proof only
    # enrols a phishing-resistant method. A method that does not declare them is neither.
    phishing_resistant: ClassVar[bool] = False
    strength_recovery: ClassVar[bool] = False

    def challenge_fields(self, d: KeysAndSettings) -> dict[str, Any]:
        """Fields of every new challenge of this method (digits, key id, delivery state)."""
        ...

    def prepare(self, d: MethodPreparing, profile: Profile, context: dict[str, Any]) -> dict[str, Any]:
        """Before a sign-in challenge is created: limits to spend, destination fields to add."""
        ...

    def still_enrolled(self, ch: Challenge, profile: Profile | None, now: datetime) -> bool:
        """Whether a pending sign-in challenge still matches what the user has enrolled at `now` (E1)."""
        ...

    def view_fields(self, ch: Challenge, created: bool) -> dict[str, Any]:
        """Method-specific fields of the challenge's public view."""
        ...

    def parse_code(self, code: str) -> str:
        """The answer in the form `check` compares, or InvalidRequest (400, no attempt used)."""
        ...

    def check(self, d: MethodChecking, ch: Challenge, profile: Profile, code: str, now: datetime,
              unit: UserRows) -> object | None:
        """A proof that `code` answers `ch` (compared in constant time), or None (or a `WrongAnswer`).
        `unit` holds the user's rows of this decision: a method whose secret lives in a row of its own reads it there
        (`unit.read(row_key)`, one more point read)."""
        ...

    def approve(self, d: MethodApproving, ch: Challenge, profile: Profile, proof: object,
                unit: UserRows) -> dict[str, Any]:
        """What approval changes on the profile (an enrolled phone or device, a spent step or code); a change
        to another row of the user, or an audit event of the method's own, goes into `unit` and is committed
        with the approval, in its one transaction. Returns the fields the verify answer adds."""
        ...

    def activates(self, proof: object) -> bool:
        """Whether approving `proof` activates a factor the user held but could not sign in with yet (an
        imported token's first code): the `method.activated` security event."""
        ...

    def enrolled_views(self, profile: Profile) -> list[dict[str, Any]]:
        """The method's entries in a user's method list (none when not enrolled)."""
        ...

    def remove(self, profile: Profile, unit: UserRows) -> None:
        """Take the method off the profile (and any rows of its own, through `unit`)."""
        ...


class Enrolment(Protocol):
    """How a user adds a method (flows.enrolment.enrol runs these steps around the step-up proof, the
    idempotency record and the challenge's rows). A method that is not enrolled by its user (a recovery
    factor, issued by an admin or generated) has `enrols = False` and none of these is called."""

    enrols: ClassVar[bool]
    enrol_action: ClassVar[str]  # the refusal audit's action, e.g. "enrol_phone"
    enrol_scope: ClassVar[str]  # the idempotency scope's prefix

    def parse_enrolment(self, body: dict[str, Any]) -> Any:
        """The request's own input (a phone number, nothing), checked before anything is read: 400."""
        ...

    def refuse_enrolment(self, profile: Profile | None) -> None:
        """A refusal that needs no proof (a full list of devices: 409), before the step-up is spent."""
        ...

    def enrolment_fields(self, d: MethodPreparing, user_id: str, parsed: Any, context: dict[str, Any],
                         unit: UserRows) -> dict[str, Any]:
        """The enrolment challenge's own fields (a sealed destination or secret), after the step-up; spends
        the limits the enrolment consumes."""
        ...

    def enrolment_answer(self, d: KeysAndSettings, ch: Challenge, view: dict[str, Any]) -> Started:
        """What starting (or repeating) the enrolment answers, from its challenge."""
        ...


class NoEnrolment:
    """A method its user does not enrol through the enrolment flow."""

    enrols: ClassVar[bool] = False
    enrol_action: ClassVar[str] = ""
    enrol_scope: ClassVar[str] = ""

    def parse_enrolment(self, body: dict[str, Any]) -> Any:
        raise NotFound()

    def refuse_enrolment(self, profile: Profile | None) -> None:
        raise NotFound()

    def enrolment_fields(self, d: object, user_id: str, parsed: Any, context: dict[str, Any],
                         unit: UserRows) -> dict[str, Any]:
        raise NotFound()

    def enrolment_answer(self, d: object, ch: Challenge, view: dict[str, Any]) -> Started:
        raise NotFound()


class FullMethod(Method, Enrolment, Protocol):
    """A registered method: signs in, is stored, is enrolled (or says it is not)."""


def answer_field(method: object) -> str:
    """The verify body member a method's answer comes in: `code` (a string, the default) or `credential`
    (a JSON object: a method declares `answer_field = "credential"`)."""
    return str(getattr(method, "answer_field", "code"))


def parse_digits(code: str) -> str:
    if not CODE_RE.fullmatch(code):
        raise InvalidRequest("code must be a string of 6 to 8 digits.")
    return code
