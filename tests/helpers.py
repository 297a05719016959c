"""Small helpers shared by tests: read the SMS code the way the sender derives it, decode secrets,
scan every row of a table for a forbidden string."""
from __future__ import annotations

import base64
import json

from shared.crypto.keys import derive_code
from shared.kernel.ids import parse_challenge_id


def sms_code_for(deps, challenge_id: str) -> str:
    user_id, row_key = parse_challenge_id(challenge_id)
    row = deps.store.get(user_id, row_key)
    return derive_code(deps.hmac_keys.get(row["keyId"]), row_key[3:], row["digits"])


def other_code(code: str) -> str:
    return str((int(code) + 1) % 10 ** len(code)).zfill(len(code))


def secret_bytes(b32: str) -> bytes:
    return base64.b32decode(b32 + "=" * (-len(b32) % 8))


def all_rows_text(deps) -> str:
    return json.dumps([dict(r) for r in deps.store.table.list_entities()], default=str)
