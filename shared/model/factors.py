"""The registry of sign-in methods, as the profile and the store see them: what each method keeps on a
profile and how it is stored, so that the profile's derived lists, its version counter (E1), the claimed
flag (R7), the row mapping and the re-seal list all come from one table.

The methods themselves live in shared/methods/ (one module each) and register there; this layer only
holds the table, so that the model and the store, which sit below the methods, can read it. Registration
order is the order of `Profile.active_methods()` (the first is the default a profile falls back to).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

if TYPE_CHECKING:
    from .records import Profile


@dataclass(frozen=True)
class SealedField:
    """A sealed column of a method: on the profile row (`row="profile"`) or on its challenge rows
    (`row="challenge"`, only rows whose `method` is the method's own); `label` names its associated data
    (crypto.aad.bound_aad); `json_list` marks a JSON list of objects whose `secret` is the sealed value."""

    row: str
    column: str
    label: str
    json_list: bool = False


class StoredFactor(Protocol):
    """What the profile and the store need of a method: whether a profile holds it, what of it a change
    of factors changes, and its columns. State a method keeps outside its own profile fields goes into
    `Profile.extra[name]` (serialised by `to_columns`/`from_columns`) or into rows of its own in the
    user's partition, read and written through the unit of work (store.UserRows)."""

    name: ClassVar[str]
    recovery: ClassVar[bool]
    sealed: ClassVar[tuple[SealedField, ...]]

    def held(self, profile: Profile, now: datetime | None) -> bool:
        """Usable for a sign-in (`now`: also unexpired; None: whatever the time)."""
        ...

    def provisioned(self, profile: Profile) -> bool:
        """On the profile, usable or not (an imported token before its first code)."""
        ...

    def ever_held(self, profile: Profile) -> bool:
        """The profile shows it held now or before (R7: the account is claimed)."""
        ...

    def factor_state(self, profile: Profile) -> Any:
        """What binding, activating, replacing, spending or removing it changes (E1); never bookkeeping."""
        ...

    def to_columns(self, profile: Profile) -> dict[str, Any]:
        """Its profile columns (None: not written)."""
        ...

    def from_columns(self, row: dict[str, Any], profile: Profile) -> None:
        """Set its state on `profile` from the stored profile row (a row the old code wrote included)."""
        ...


_REGISTRY: dict[str, StoredFactor] = {}


def registered() -> list[StoredFactor]:
    return list(_REGISTRY.values())


def get(name: str) -> StoredFactor | None:
    return _REGISTRY.get(name)


def add(method: StoredFactor) -> None:
    if method.name in _REGISTRY:
        raise ValueError(f"method {method.name!r} is registered already")
    _REGISTRY[method.name] = method


def remove(name: str) -> None:
    del _REGISTRY[name]


@contextmanager
def registered_for(method: StoredFactor) -> Iterator[StoredFactor]:
    """Register `method` for the block, then take it out again (a test's throw-away method)."""
    add(method)
    try:
        yield method
    finally:
        remove(method.name)


def names(select: Callable[[StoredFactor], bool]) -> list[str]:
    return [m.name for m in _REGISTRY.values() if select(m)]
