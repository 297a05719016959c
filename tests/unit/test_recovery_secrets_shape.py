"""What mutation testing found unstated about the typed recovery secrets (docs/testing.md): every
character of a new secret is drawn at random, and the typed shape is bounded at exactly 64 characters."""
from __future__ import annotations

from shared.crypto.recovery_secrets import ALPHABET, new_secret
from shared.kernel.validation import is_typed_shape


def test_every_position_of_a_new_secret_is_drawn_from_the_whole_alphabet():
    shown = [new_secret().replace("-", "") for _ in range(400)]
    for position in range(16):
        seen = {s[position] for s in shown}
        assert len(seen) > len(ALPHABET) // 2, (position, seen)  # 400 draws of 32: all but ~0 appear


def test_a_typed_secret_may_be_at_most_64_characters_long():
    assert is_typed_shape("A" * 64) and is_typed_shape("ABCD-" * 12 + "ABCD")  # 64 with separators
    assert not is_typed_shape("A" * 65) and not is_typed_shape("ABCD-" * 12 + "ABCDE")
