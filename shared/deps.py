"""The service's collaborators, built once per process on first use (lazily: the Functions host imports
the app to index its functions before any setting needs to be valid). `Deps` is the one concrete object
the composition root (`wiring.py`) builds; the code it is handed to asks for the narrow protocols of
`ports.py`, which it satisfies structurally, and never imports this module."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any, TypeVar

from .channels.due import Sweeps
from .channels.events import EventPublisher
from .channels.sms import Outbox, SmsGateway
from .crypto.keys import Keyring, Sealer, blind_index
from .crypto.webauthn import RelyingParty
from .kernel.clock import Clock
from .model.policy import Policy
from .settings import Settings
from .store import Entity, Store, UserRows, audit_row, in_unit
from .store.audit import record_refusal
from .store.index_key import load_or_create as load_index_key
from .store.policy_store import PolicyStore

T = TypeVar("T")


@dataclass
class Deps:
    settings: Settings
    store: Store
    outbox: Outbox
    clock: Clock
    events: EventPublisher  # security events (N1), fed by the store's commit hooks
    sweeps: Sweeps  # the due-item sweep chain this process starts or owes (shared/channels/due.py)
    sms_gateway: Callable[[], SmsGateway]  # builds the ACS gateway on the first send (the composition root's)
    webauthn_rp: RelyingParty | None = None  # passkeys' relying party (W5); None: passkeys are off

    def audit(self, user_id: str, now: datetime, event: str, actor: str, **detail: Any) -> Entity:
        """An audit row to add to the decision's transaction; the retention is set here, once."""
        return audit_row(user_id, now, event, actor, self.settings.audit_retention_days, **detail)

    def refusal(self, user_id: str, now: datetime, action: str, code: str) -> None:
        """Count a refused request (D7), with the same retention as every other audit event."""
        record_refusal(self.store, user_id, now, action, code, self.settings.audit_retention_days)

    def load_unit(self, user_id: str, *row_keys: str | None, with_profile: bool = True) -> UserRows:
        """One user's profile and named rows, read once, to change and commit together (store/unit.py)."""
        return UserRows.load(self.store, user_id, row_keys, self.settings.audit_retention_days, with_profile)

    def in_unit(self, user_id: str, fn: Callable[[UserRows], T], *row_keys: str | None,
                with_profile: bool = True) -> T:
        """Run a decision `fn` on a fresh unit of the user's rows; a lost race re-reads and decides again."""
        return in_unit(self.store, self.settings.audit_retention_days, user_id, fn, *row_keys,
                       with_profile=with_profile)

    @cached_property
    def hmac_keys(self) -> Keyring:
        return Keyring(self.settings.hmac_keys, "MFA_HMAC_KEYS")

    def index(self, kind: str, value: str) -> str:
        """The keyed index of a value derived from personal data (D6), for row keys and fingerprints.
        Every such index goes through here, so moving them to a dedicated key is this one line."""
        return blind_index(self.index_key, kind, value)

    @cached_property
    def sealer(self) -> Sealer:
        return Sealer(Keyring(self.settings.encryption_keys, "MFA_ENCRYPTION_KEYS"))

    @cached_property
    def index_key(self) -> bytes:
        """The key of every lookup index and counter over personal data; no rotation changes it."""
        return load_index_key(self.store, self.sealer)

    @cached_property
    def policies(self) -> PolicyStore:
        return PolicyStore(self.store, self.settings)

    def policy(self) -> Policy:
        """The sign-in policy in force (cached for a few seconds)."""
        return self.policies.current()

    @cached_property
    def sms(self) -> SmsGateway:
        return self.sms_gateway()
