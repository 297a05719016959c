"""What a flow decided, as values: the domain says *what* happened, functions/ alone says how that is
answered over HTTP (status code, headers, the `Location` derived from the route it serves).

Every result carries `view`, the public body of the answer.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ChallengeStarted:
    """A sign-in challenge exists (created now, or the one a repeated request created): it is a resource
    under the route that created it."""

    view: dict[str, Any]


@dataclass(frozen=True)
class CodeSent:
    """A phone enrolment's code is on its way: delivery happens later, through the queue."""

    view: dict[str, Any]


@dataclass(frozen=True)
class SecretIssued:
    """An authenticator enrolment started: the view holds the new secret, shown this once (and to a
    repeat of the same request while the enrolment is pending)."""

    view: dict[str, Any]


@dataclass(frozen=True)
class NotRequired:
    """No second factor is needed for this sign-in, and why (`bypass`, `trusted_network`, ...)."""

    reason: str

    @property
    def view(self) -> dict[str, Any]:
        return {"status": "not_required", "reason": self.reason}


@dataclass(frozen=True)
class CodesIssued:
    """A new set of recovery codes: the view holds them, shown this once (a repeat never shows them)."""

    view: dict[str, Any]


Started = ChallengeStarted | CodeSent | SecretIssued  # what starting a challenge answers
BeginResult = ChallengeStarted | NotRequired
Result = ChallengeStarted | CodeSent | SecretIssued | NotRequired | CodesIssued
