"""Sign-in methods: one class per method, one small protocol, one table (`METHODS`).

A flow never asks which method it holds; it asks the method. A method says what a new challenge of
its kind carries (`challenge_fields`, `prepare`), whether it is delivered (`delivered`: an SMS goes
through the queue and the sweeper), whether a pending sign-in challenge still matches the profile
(`still_enrolled`), what an answer must look like (`parse_code`: a malformed one is 400 and uses no
attempt), checks an answer in constant time (`check` returns a proof, or None when wrong) and applies
what approval changes on the profile (`approve`, which returns any fields the verify answer adds).

`check` and `approve` also get the decision's unit of work (`store.UserRows`): the rows of the user's
partition as read, where a method whose state lives outside the profile reads its row (`unit.read`) and
registers its change (`unit.save`, `unit.put`, `unit.patch`, `unit.delete`) and its own audit event
(`unit.audit`), all committed with the approval in its one ETag-conditional transaction.

The recovery methods (`recovery = True`) are the temporary access pass (R2) and recovery codes (R3):
not delivered, typed secrets compared as keyed hashes on the profile, never a default method and never
removed through the method routes (a pass is revoked, a set of codes replaced). The access pass's `check`
compares the pass and `approve` spends a one-time pass; a recovery code's `check` returns the index of
the matched code and `approve` removes that one. The profile's ETag makes sure either is spent once.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from ..kernel.errors import InvalidRequest
from ..kernel.validation import CODE_RE
from ..model.records import Challenge, Profile

if TYPE_CHECKING:
    from ..deps import Deps
    from ..store import UserRows

SIGNIN, ENROL_SMS, ENROL_TOTP = "signin", "enrol_sms", "enrol_totp"
ACCESS_PASS_LABEL, RECOVERY_CODE_LABEL = "access-pass", "recovery-code"  # labels of their keyed hashes


class Method(Protocol):
    name: ClassVar[str]
    delivered: ClassVar[bool]
    recovery: ClassVar[bool]

    def challenge_fields(self, d: Deps) -> dict[str, Any]:
        """Fields of every new challenge of this method (digits, key id, delivery state)."""
        ...

    def prepare(self, d: Deps, profile: Profile, context: dict[str, Any]) -> dict[str, Any]:
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

    def check(self, d: Deps, ch: Challenge, profile: Profile, code: str, now: datetime,
              unit: UserRows) -> object | None:
        """A proof that `code` answers `ch` (compared in constant time), or None. `unit` holds the user's
        rows of this decision: a method whose secret lives in a row of its own reads it there
        (`unit.read(row_key)`, one more point read)."""
        ...

    def approve(self, d: Deps, ch: Challenge, profile: Profile, proof: object, unit: UserRows) -> dict[str, Any]:
        """What approval changes on the profile (an enrolled phone or device, a spent step or code); a change
        to another row of the user, or an audit event of the method's own, goes into `unit` and is committed
        with the approval, in its one transaction. Returns the fields the verify answer adds."""
        ...

    def enrolled_views(self, profile: Profile) -> list[dict[str, Any]]:
        """The method's entries in a user's method list (none when not enrolled)."""
        ...

    def remove(self, profile: Profile) -> None:
        """Take the method off the profile."""
        ...


def parse_digits(code: str) -> str:
    if not CODE_RE.fullmatch(code):
        raise InvalidRequest("code must be a string of 6 to 8 digits.")
    return code
