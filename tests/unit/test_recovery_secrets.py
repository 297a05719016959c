"""The typed secrets of the recovery methods (R2, R3): size, alphabet, and the one accepted way of typing
them (C10)."""
from __future__ import annotations

import math

from shared.crypto.recovery_secrets import ALPHABET, BITS, keyed_hash, new_secret, normalize
from shared.kernel.validation import is_typed_shape


def test_a_secret_has_at_least_80_bits_from_an_unambiguous_alphabet():
    assert len(set(ALPHABET)) == 32 and not set("01IO") & set(ALPHABET)
    assert BITS == 16 * math.log2(len(ALPHABET)) == 80
    shown = [new_secret() for _ in range(200)]
    assert len(set(shown)) == 200
    for s in shown:
        groups = s.split("-")
        assert [len(g) for g in groups] == [4, 4, 4, 4] and set("".join(groups)) <= set(ALPHABET)
    lower = new_secret(lower=True)
    assert lower == lower.lower() and normalize(lower) == lower.replace("-", "").upper()


def test_typed_forms_fold_to_one_and_anything_else_is_malformed():
    s = "ABCD-EFGH-JKLM-NPQR"
    for typed in (s, s.lower(), s.replace("-", " "), s.replace("-", ""), "abcd efgh-JKLM npqr"):
        assert normalize(typed) == "ABCDEFGHJKLMNPQR", typed
    for bad in (s + " ", s + "\n", " " + s, s.replace("-", "--"), s.replace("-", "_"), s[:-1], s + "A",
                s.replace("A", "0"), s.replace("B", "I"), "ABCD-EFGH-JKLM-NPQ\u0130", "x" * 65):
        assert normalize(bad) is None, bad
    assert is_typed_shape("123456") and not is_typed_shape("123456\n") and not is_typed_shape("")


def test_the_stored_hash_is_keyed_and_bound_to_the_user():
    calls = []

    def index(label, value):
        calls.append((label, value))
        return f"h({label},{value})"

    assert keyed_hash(index, "recovery-code", "alice", "ABCD") != keyed_hash(index, "recovery-code", "bob", "ABCD")
    assert calls[0] == ("recovery-code", "alice\x00ABCD")
