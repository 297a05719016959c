"""The typed secrets of the recovery methods: temporary access passes (R2) and recovery codes (R3).

Both are 16 symbols of a 32-letter alphabet without the look-alikes 0, 1, I and O (5 bits each: 80 bits,
above R2's 80 and R3's 64), from `secrets`, shown in groups of four. A user may type them with spaces or
dashes between groups and in either case: `normalize` removes single separators between groups and folds
to upper case, and refuses anything else whole (C10: a trailing space or newline is malformed). What is
stored is a keyed hash (`Deps.index`, HMAC under the index key) bound to the user and a label, never
the secret and never an unkeyed hash (D6).
"""
from __future__ import annotations

import re
import secrets
from collections.abc import Callable

from ..kernel.validation import is_typed_shape

ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
LENGTH = 16
GROUP = 4
BITS = LENGTH * 5  # len(ALPHABET) == 32
_NORMAL = re.compile(f"[{ALPHABET}]{{{LENGTH}}}")


def new_secret(lower: bool = False) -> str:
    """A fresh secret as shown to its holder: `XXXX-XXXX-XXXX-XXXX` (lower case for recovery codes)."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    shown = "-".join(raw[i:i + GROUP] for i in range(0, LENGTH, GROUP))
    return shown.lower() if lower else shown


def normalize(code: str) -> str | None:
    """The canonical form of a typed secret (separators removed, upper case), or None when malformed."""
    if not is_typed_shape(code):
        return None
    folded = code.replace(" ", "").replace("-", "").upper()
    return folded if _NORMAL.fullmatch(folded) else None


def keyed_hash(index: Callable[[str, str], str], label: str, user_id: str, normalized: str) -> str:
    """The stored stand-in of a secret: `index` is `Deps.index` (HMAC-SHA256 under the index key)."""
    return index(label, f"{user_id}\x00{normalized}")
