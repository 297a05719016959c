"""A page of profile rows across partitions, as models: what an operator's listing of users by state reads
(shared/flows/user_listing.py). A cross-partition scan, so never for a hot path."""
from __future__ import annotations

from typing import Any

from ..kernel.ids import PROFILE_RK
from ..model.records import Profile
from .mapping import profile_from
from .table import Store


def profiles_page(store: Store, condition: str, params: dict[str, Any], size: int,
                  token: dict[str, str] | None) -> tuple[list[Profile], dict[str, str] | None]:
    """At most `size` profiles matching `RowKey eq 'profile'` and `condition` (if any), and the service's
    continuation token of the next page (None at the end). System partitions (`~...`) are no user."""
    flt = "RowKey eq @profile_rk" + (f" and {condition}" if condition else "")
    rows, token = store.page(flt, {**params, "profile_rk": PROFILE_RK}, size, token)
    return [profile_from(r) for r in rows if not str(r["PartitionKey"]).startswith("~")], token
