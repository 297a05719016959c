"""Which storage account holds a partition (several accounts when one is not enough; docs/scale.md).

Every user partition (PartitionKey = the folded user id) lives in account `home(pk, N)`: the first 8 bytes
of SHA-256 of the folded id, big-endian, mod N. The function is stable across processes, versions and
platforms (not Python's salted `hash`), and the id is no secret from the operator, so no key is needed.
Every bookkeeping partition (PartitionKey starting with `~`: policy, keys, limits, due items, the OATH and
passkey indexes, cursors, erasure receipts) lives in account 0: index rows are looked up before the user
is known, and the counters and the policy are one per deployment.

Changing N changes the home of most users; while a rebalance (shared/ops/rebalance.py) moves them, the
settings name the previous count too and `Layout.moving` says which partitions may still be in their old
account. Within a move, the account that holds a partition is decided by a marker row in the OLD account
(see shared/store/router.py).
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

SYSTEM_PREFIX = "~"  # no user id can hold "~" (kernel/ids.py)
MOVE_RK = "!move"  # the marker row of a partition being moved; sorts before every row key the app writes
MAX_ACCOUNTS = 32


def home(partition_key: str, count: int) -> int:
    """The account index of `partition_key` when there are `count` accounts."""
    if count <= 1 or partition_key.startswith(SYSTEM_PREFIX):
        return 0
    digest = hashlib.sha256(partition_key.lower().encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count


@dataclass(frozen=True)
class Layout:
    """`count` accounts now; `previous`: the count before, while a rebalance is in progress (else None)."""

    count: int = 1
    previous: int | None = None

    @property
    def accounts(self) -> int:
        """How many accounts the store needs clients for (both layouts during a rebalance)."""
        return max(self.count, self.previous or 0)

    def home(self, partition_key: str) -> int:
        return home(partition_key, self.count)

    def moving(self, partition_key: str) -> tuple[int, int] | None:
        """(old account, new account) of a partition a rebalance may be moving, else None."""
        if self.previous is None:
            return None
        old, new = home(partition_key, self.previous), home(partition_key, self.count)
        return (old, new) if old != new else None


_EQ = re.compile(r"PartitionKey eq @(\w+)(?: and (.*))?", re.DOTALL)
_RANGE = re.compile(r"PartitionKey g[te] @(\w+) and PartitionKey l[te] @(\w+)(?: and (.*))?", re.DOTALL)


def _no_top_level_or(rest: str | None) -> bool:
    """Whether the conjuncts after the partition condition hold no `or` outside parentheses (which would
    widen the filter beyond that partition, since `and` binds tighter)."""
    depth = 0
    for word in (rest or "").split():
        depth += word.count("(") - word.count(")")
        if word == "or" and depth == 0:
            return False
    return True


def filter_scope(flt: str, params: dict[str, Any]) -> str | None:
    """The one partition a filter is confined to; SYSTEM_PREFIX for a range of bookkeeping partitions (all in
    account 0); None when it may span user partitions (the query then runs on every account)."""
    eq = _EQ.fullmatch(flt)
    if eq and _no_top_level_or(eq.group(2)):
        return str(params[eq.group(1)])
    rng = _RANGE.fullmatch(flt)
    if rng and _no_top_level_or(rng.group(3)):
        lo, hi = str(params[rng.group(1)]), str(params[rng.group(2)])
        if lo.startswith(SYSTEM_PREFIX) and hi.startswith(SYSTEM_PREFIX):  # every key between starts with ~
            return SYSTEM_PREFIX
    return None
