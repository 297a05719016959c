"""The table of sign-in methods, by name (`METHODS`), and what flows ask of it.

The built-in methods register here, in this order (the order of a profile's `active_methods`). The table
itself lives in model.factors, below the store, so that the profile's derived lists and the row mapping
read the same one; `register` adds a method for a block (a test's throw-away method, see
tests/integration/test_extending.py and docs/extending.md).
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import cast

from ..model import factors
from .access_pass import AccessPass
from .base import FullMethod
from .passkey import Passkey
from .recovery_code import RecoveryCode
from .sms import Sms
from .totp import Totp

BUILT_IN: tuple[FullMethod, ...] = (Sms(), Totp(), AccessPass(), RecoveryCode(), Passkey())


class _Methods(Mapping[str, FullMethod]):
    """A read-only view of the registered methods (what is registered now, a test's own included)."""

    def __getitem__(self, name: str) -> FullMethod:
        method = factors.get(name)
        if method is None:
            raise KeyError(name)
        return cast(FullMethod, method)

    def __iter__(self) -> Iterator[str]:
        return iter(factors.names(lambda m: True))

    def __len__(self) -> int:
        return len(factors.registered())


METHODS: Mapping[str, FullMethod] = _Methods()


@contextmanager
def register(method: FullMethod) -> Iterator[FullMethod]:
    """Register `method` for the block and take it out afterwards."""
    with factors.registered_for(method):
        yield method


def delivers(method: str) -> bool:
    """Whether challenges of `method` are sent through the queue (a row of an unknown method is not)."""
    m = METHODS.get(method)
    return m is not None and m.delivered


for _method in BUILT_IN:
    if factors.get(_method.name) is None:  # once, even if this module is loaded again
        factors.add(_method)
