"""The secret material among the settings: the HMAC and encryption key rings and the webhook secret.

Checked apart from the other settings because these are the values whose weakness breaks the product:
each is refused unless it is real random data, one spelling, not a published example (in Azure), and
never reused across rings. Messages name the setting and key id, never the key.
"""
from __future__ import annotations

import base64
import binascii
import re

from .kernel.errors import ConfigError
from .kernel.validation import KEY_ID_RE

# Keys shipped in local.settings.example.json; refused when running in Azure.
# Compared by decoded bytes, so another spelling of the same key is refused too.
EXAMPLE_KEYS = frozenset(base64.b64decode(k) for k in (
    "D26zCIwKupkQo0X2l9H8KpeB9JLmww5LD9HIbwYz9Mg=",
    "57ozCCYZXvWHRZkDmpVWcyi7eQldkuqrgplfnOwjJq4=",
))
MAX_KEYS_PER_RING = 8
_MIN_DISTINCT_BYTES = 16
# The webhook secret shipped in local.settings.example.json; refused when running in Azure.
EXAMPLE_WEBHOOK_SECRET = "whsec_UojVTf8/zMTXMA8ERux/Ws03fDPYgyqM2jPslxlX6EI="  # noqa: S105 - public, refused in Azure
_WEBHOOK_SECRET_RE = re.compile(r"whsec_[A-Za-z0-9+/]{32,256}={0,2}")


def _low_entropy(key: bytes) -> bool:
    """Random key bytes have many distinct values and are not all printable text: 32 random bytes have
    fewer than 16 distinct values with probability ~1e-16 and are all printable ASCII with ~1e-14, while
    zero keys, repeated patterns and base64-encoded passphrases fail one of the two."""
    return len(set(key)) < _MIN_DISTINCT_BYTES or all(0x20 <= b < 0x7F for b in key)


def parse_keys(name: str, raw: str, in_azure: bool) -> tuple[tuple[str, bytes], ...]:
    """`kid:base64key,kid:base64key`; the first key is current, the rest still verify (rotation).

    Each key id and key is matched whole, in its one canonical base64 spelling; messages name the setting
    and the key id, never the key."""
    keys: list[tuple[str, bytes]] = []
    parts = raw.split(",")
    if len(parts) > MAX_KEYS_PER_RING:
        raise ConfigError(f"{name} lists more than {MAX_KEYS_PER_RING} keys: remove retired ones")
    for part in parts:
        kid, sep, b64 = part.strip().partition(":")
        if not sep or not KEY_ID_RE.fullmatch(kid):
            raise ConfigError(f"{name} must be a comma-separated list of keyid:base64key "
                              "(key ids: 1-32 of A-Z a-z 0-9 _ -)")
        try:
            key = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(f"{name}: key '{kid}' is not valid base64") from None
        if base64.b64encode(key).decode() != b64:
            raise ConfigError(f"{name}: key '{kid}' is not valid base64 (not in its canonical spelling)")
        if not 32 <= len(key) <= 128:
            raise ConfigError(f"{name}: key '{kid}' must be 32 to 128 bytes of random data (base64)")
        if in_azure and key in EXAMPLE_KEYS:
            raise ConfigError(f"{name}: key '{kid}' is the published local example key")
        if _low_entropy(key):
            raise ConfigError(f"{name}: key '{kid}' is not random data (too few distinct bytes, or text)")
        if kid in dict(keys):
            raise ConfigError(f"{name}: key id '{kid}' appears twice")
        if key in dict(keys).values():
            raise ConfigError(f"{name}: key '{kid}' repeats the key bytes of another key id")
        keys.append((kid, key))
    return tuple(keys)


def distinct_rings(hmac_keys: tuple[tuple[str, bytes], ...], encryption_keys: tuple[tuple[str, bytes], ...]) -> None:
    shared = {kid for kid, key in encryption_keys if key in {k for _, k in hmac_keys}}
    if shared:
        raise ConfigError(f"MFA_ENCRYPTION_KEYS: key '{sorted(shared)[0]}' is also in MFA_HMAC_KEYS; "
                          "each ring needs its own keys")


def check_webhook_secret(secret: str, in_azure: bool) -> None:
    """`whsec_` + the base64 of at least 24 random bytes, not the published example in Azure."""
    if not _WEBHOOK_SECRET_RE.fullmatch(secret):
        raise ConfigError("MFA_WEBHOOK_SECRET must be whsec_ followed by the base64 of 24 to 192 random bytes")
    try:
        key = base64.b64decode(secret[len("whsec_"):], validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError("MFA_WEBHOOK_SECRET is not valid base64 after whsec_") from None
    if len(key) < 24 or _low_entropy(key):
        raise ConfigError("MFA_WEBHOOK_SECRET must be the base64 of at least 24 random bytes")
    if in_azure and secret == EXAMPLE_WEBHOOK_SECRET:
        raise ConfigError("MFA_WEBHOOK_SECRET is the published local example secret")
