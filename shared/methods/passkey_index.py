"""What a passkey registration checks beyond its ceremony: the user's passkey profile (W7) and that no
other user holds the same credential id (W4).

Uniqueness: one row per credential id in the bookkeeping partition `~passkey`, RowKey `cred|` + the id's
keyed index (`ports.Keys.index`), holding the owner as a keyed index too (no personal data in plain text, and
nothing to re-seal). A registration creates its row (create-only: of two users racing, one wins) before
its own transaction commits; a row already there for another user refuses it (409). A row is kept when
its passkey is removed (credential ids are random: only a copied credential would ever meet it again), so
the same user may register it again, and nobody else.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..crypto.webauthn import RegisteredCredential
from ..crypto.webauthn_json import b64url
from ..kernel.errors import Conflict, PasskeyNotAllowed
from ..model.passkey_profile import profile_for, profile_refusal
from ..model.records import Profile
from ..store import StaleWrite, Tx, new_row

if TYPE_CHECKING:
    from ..ports import KeyedStore, Keys, MethodApproving

INDEX_PK = "~passkey"
PREFIX = "cred|"
OWNER = "owner"


def row_key(d: Keys, credential_id: bytes) -> str:
    return PREFIX + d.index("passkey-credential", b64url(credential_id))


def claim(d: KeyedStore, user_id: str, credential_id: bytes) -> None:
    """Reserve `credential_id` for `user_id`, or Conflict when another user holds it."""
    rk, owner = row_key(d, credential_id), d.index("passkey-owner", user_id)
    row = d.store.get(INDEX_PK, rk)
    if row is None:
        try:
            d.store.transact(Tx().create(new_row(INDEX_PK, rk, **{OWNER: owner})))
            return
        except StaleWrite:  # created concurrently: whose is it?
            row = d.store.get(INDEX_PK, rk)
    if row is None or row.get(OWNER) != owner:
        raise Conflict("This passkey is registered to another user.")


def refuse_by_profile(d: MethodApproving, profile: Profile, cred: RegisteredCredential) -> None:
    """403 `passkey_not_allowed` (audited as a refusal) when the user's passkey profile refuses it."""
    reason = profile_refusal(cred.device_type, cred.aaguid, profile_for(d.policy().passkey_profiles,
                                                                        profile.groups))
    if reason is not None:
        d.refusal(profile.user_id, d.clock.now(), "enrol_passkey", PasskeyNotAllowed.code)
        raise PasskeyNotAllowed(reason=reason)
