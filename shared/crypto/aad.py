"""Associated data of sealed values: it binds a sealed value to its user and to what it is (a method's
label), so a value moved to another user's row, or into another method's column, does not open."""
from __future__ import annotations


def bound_aad(label: str, user_id: str) -> str:
    """The associated data of a value sealed under `label` (a method's own, see model.factors.SealedField)."""
    return f"twostep/{label}/{user_id}"

