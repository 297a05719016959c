"""What a flow, method, delivery step or ops job is handed: small protocols, one per collaborator, and the
named combinations the code asks for. A function annotates its collaborator parameter with the narrowest
of these, so mypy proves it touches nothing else; `deps.Deps`, built by the composition root
(`wiring.py`), satisfies all of them structurally and is imported by no code that receives it.

Every member is read-only (a property or a method): what is handed over is used, never rewired.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from .channels.due import Sweeps
from .channels.events import EventPublisher
from .channels.sms import Outbox, SmsGateway
from .crypto.keys import Keyring, Sealer
from .crypto.webauthn import RelyingParty
from .kernel.clock import Clock
from .model.policy import Policy
from .settings import Settings
from .store import Entity, Store, UserRows
from .store.policy_store import PolicyStore

T = TypeVar("T")

# -- one collaborator each ------------------------------------------------------------------------------


class Clocked(Protocol):
    """The injected clock: a rule never reads the system's time."""

    @property
    def clock(self) -> Clock: ...


class Configured(Protocol):
    @property
    def settings(self) -> Settings: ...


class Stored(Protocol):
    """The table itself, for rows outside a user's unit of work (indexes, counters, cursors, scans)."""

    @property
    def store(self) -> Store: ...


class Units(Protocol):
    """Units of work over one user's partition (store/unit.py), with the audit retention set once."""

    def load_unit(self, user_id: str, *row_keys: str | None, with_profile: bool = True) -> UserRows: ...

    def in_unit(self, user_id: str, fn: Callable[[UserRows], T], *row_keys: str | None,
                with_profile: bool = True) -> T: ...


class Auditing(Protocol):
    """Audit rows outside a unit of work, and the coalesced count of refused requests (D7)."""

    def audit(self, user_id: str, now: datetime, event: str, actor: str, **detail: Any) -> Entity: ...

    def refusal(self, user_id: str, now: datetime, action: str, code: str) -> None: ...


class Keys(Protocol):
    """The key rings and the keyed index (D6) over personal data."""

    @property
    def hmac_keys(self) -> Keyring: ...

    @property
    def sealer(self) -> Sealer: ...

    def index(self, kind: str, value: str) -> str: ...


class IndexKeyed(Protocol):
    """The raw index key: only the re-encryption job, which makes sure it exists before counting it."""

    @property
    def index_key(self) -> bytes: ...


class PolicySource(Protocol):
    """The sign-in policy in force; a decision reads it once and passes it on."""

    def policy(self) -> Policy: ...


class Policies(Protocol):
    """The policy document itself, to read and change (admin)."""

    @property
    def policies(self) -> PolicyStore: ...


class Outboxes(Protocol):
    """The ways out: the SMS outbox, the security events, the due-item sweep chain."""

    @property
    def outbox(self) -> Outbox: ...

    @property
    def events(self) -> EventPublisher: ...

    @property
    def sweeps(self) -> Sweeps: ...


class Texting(Protocol):
    """The SMS gateway (ACS): the begin's inline attempt and the queue-triggered sender send."""

    @property
    def sms(self) -> SmsGateway: ...


class RelyingParties(Protocol):
    """The WebAuthn relying party (W5); None: passkeys are off."""

    @property
    def webauthn_rp(self) -> RelyingParty | None: ...


# -- named combinations ---------------------------------------------------------------------------------


class Deciding(Clocked, Units, Protocol):
    """A decision on one user's rows at the present time."""


class KeyedStore(Keys, Stored, Protocol):
    """Rows keyed or sealed outside a user's unit: the OATH serial and passkey indexes, erasure records."""


class KeysAndSettings(Keys, Configured, Protocol):
    """A method's challenge fields (key id, digits, sealed secret) and the SMS limits' counter keys."""


class Counting(Clocked, KeysAndSettings, Stored, Protocol):
    """The SMS limits (methods/limits.py): counters keyed by the index, in their own partition."""


class Refusing(Clocked, Auditing, Protocol):
    """An audited refusal."""


class Governed(Deciding, PolicySource, Protocol):
    """A decision under the policy in force (read once by the decision and passed on)."""


class Proving(Deciding, Refusing, Protocol):
    """A change run on a unit that also holds a step-up proof, its refusals audited (flows/step_up.py)."""


class StepUp(Proving, Governed, Protocol):
    """A change by the user behind a step-up proof, under the policy in force."""


class Ceremonies(Keys, PolicySource, RelyingParties, Protocol):
    """A WebAuthn ceremony begun: the user's sealed credentials, the policy's strength, the relying party."""


class MethodPreparing(Counting, Ceremonies, Protocol):
    """A method's `prepare` and `enrolment_fields`: limits spent, a destination sealed, a ceremony begun."""


class MethodChecking(KeysAndSettings, RelyingParties, Protocol):
    """A method's `check`: compare an answer (a keyed code, a sealed secret, an assertion)."""


class MethodApproving(Refusing, KeysAndSettings, Stored, PolicySource, Protocol):
    """A method's `approve`: its own changes, including an index row of its own (a passkey's)."""


class Challenging(StepUp, MethodPreparing, Outboxes, Texting, Protocol):
    """Sign-in begin and enrolment: a challenge prepared by its method, committed, its SMS sent inline or queued."""


class Verifying(StepUp, MethodChecking, MethodApproving, Protocol):
    """Verify: the method checks and approves inside the decision's unit."""


class Recovering(StepUp, Keys, Protocol):
    """Access passes and recovery codes: issued as keyed hashes, behind a step-up for the user's own."""


class Administering(Deciding, Configured, Stored, PolicySource, Policies, Protocol):
    """The admin flows: bypasses, blocks, groups, sessions, the audit trail, the policy document."""


class Scanning(Clocked, KeyedStore, Protocol):
    """A bounded scan over the table (user listing, purge, key status), resumed from a signed cursor."""


class Sending(Deciding, KeysAndSettings, Texting, Outboxes, Protocol):
    """The SMS sender: the challenge re-read, its code derived, its phone opened, the SMS sent."""


class Queuing(Stored, Outboxes, Protocol):
    """A challenge's SMS handed over: its due marker first, then its outbox message."""


class Starting(Sending, Queuing, Protocol):
    """A new challenge committed and its SMS sent inline (delivery/inline.py), else handed to the queue."""


class Redriving(Units, Queuing, Protocol):
    """The SMS kind of due item: a challenge's outbox message handed over again."""


class Sweeping(Clocked, Redriving, Protocol):
    """The due sweep over every kind of due item."""


class Importing(Deciding, KeyedStore, Protocol):
    """The OATH import: the serial index reserved, each user's devices written in their unit."""


class Erasing(Clocked, Configured, Outboxes, KeyedStore, Protocol):
    """Erasure: every row of a user and their index entries, and a keyed record of it."""


class Resealing(Scanning, Auditing, IndexKeyed, Protocol):
    """The re-encryption job: sealed values re-sealed under the current key, each run audited."""
