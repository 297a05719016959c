"""Identifiers: the user-id grammar, challenge ids that carry their user, and that any malformed id is
simply not found. The row-key prefixes are the stored layout (existing tables depend on them)."""
import base64

import pytest

from shared.kernel import ids
from shared.kernel.errors import InvalidRequest, NotFound


@pytest.mark.parametrize("user", ["a", "A" * 128, "alice@contoso.com", "first.last+tag_x-1", "0", "Alice@Contoso.COM"])
def test_valid_user_ids(user):
    assert ids.validate_user_id(user) == user.lower()  # one spelling per user (C13)


@pytest.mark.parametrize("user", ["", "A" * 129, "al ice", "alice/x", "ali'ce", "é", None, 7, ["a"], "a\x00"])
def test_invalid_user_ids(user):
    with pytest.raises(InvalidRequest) as err:
        ids.validate_user_id(user)
    assert str(err.value) == "userId must be 1-128 characters of A-Z a-z 0-9 . _ @ + -"


def test_stored_layout():
    assert (ids.PROFILE_RK, ids.CHALLENGE_PREFIX, ids.BYPASS_PREFIX, ids.AUDIT_PREFIX) == ("profile", "ch|", "bp|",
                                                                                           "au|")


@pytest.mark.parametrize("user", ["alice@contoso.com", "a" * 128, "x.y", "abw",  # "abw" encodes to "YWJ3"
                                  *("abcdefghij"[:n] for n in range(1, 11))])  # every padding length
def test_challenge_id_round_trip(user):
    challenge_id, row_key = ids.new_challenge_id(user)
    encoded, token = challenge_id.rsplit(".", 1)
    assert base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode() == user and "=" not in encoded
    assert row_key == "ch|" + token and len(token) == 22  # 128 random bits
    assert ids.parse_challenge_id(challenge_id) == (user, row_key)
    assert ids.challenge_id_for(user, row_key) == challenge_id


@pytest.mark.parametrize("user", ["abW", "Alice@Contoso.COM", "W", "xyW"])  # "abW" encodes to "YWJX"
def test_an_unfolded_user_id_is_carried_whole_and_its_id_is_not_found(user):
    """Rows written before ids were folded keep their old spelling (README, migration): an id built for
    one still carries exactly that spelling, as every challenge id carries its user, and parsing it is
    404 (C12: an unfolded user part is not an alias)."""
    challenge_id, row_key = ids.new_challenge_id(user)
    encoded = challenge_id.rsplit(".", 1)[0]
    assert base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode() == user
    assert ids.challenge_id_for(user, row_key) == challenge_id
    with pytest.raises(NotFound):
        ids.parse_challenge_id(challenge_id)


def test_tokens_are_random():
    assert len({ids.new_challenge_id("alice")[1] for _ in range(500)}) == 500
    assert len(ids.random_token()) == 22 and len(ids.random_token(6)) == 8


def enc(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode("latin-1")).decode().rstrip("=")


TOKEN = "A" * 22


@pytest.mark.parametrize("cid", [
    "", ".", TOKEN, f"{enc('alice')}{TOKEN}", f"{enc('alice')}.", f".{TOKEN}",
    f"{enc('alice')}.{'A' * 15}", f"{enc('alice')}.{'A' * 33}", f"{enc('alice')}.{'A' * 21}!",
    f"a.{TOKEN}", f"{'QU' * 87}.{TOKEN}",  # encoded part of 1 and of 174 characters
    f"{enc('al ice')}.{TOKEN}", f"{enc('é')}.{TOKEN}", f"{enc('')}x.{TOKEN}", f"al=ce.{TOKEN}",
    f"{enc('alice')}.{TOKEN}/x", f"../{enc('alice')}.{TOKEN}",
    f"QQ==.{TOKEN}", f"QQ!!.{TOKEN}",  # would decode to "A": the grammar check must refuse them first
])
def test_malformed_challenge_ids_are_not_found(cid):
    with pytest.raises(NotFound):
        ids.parse_challenge_id(cid)


def test_length_edges_of_challenge_ids():
    user = "a" * 128  # encodes to 171 characters, the longest a valid user id gives
    assert len(enc(user)) == 171
    assert ids.parse_challenge_id(f"{enc(user)}.{'A' * 16}") == (user, "ch|" + "A" * 16)
    assert ids.parse_challenge_id(f"{enc(user)}.{'A' * 32}") == (user, "ch|" + "A" * 32)
    assert ids.parse_challenge_id(f"{enc('ab')}.{'_-' * 8}") == ("ab", "ch|" + "_-" * 8)
    assert ids.parse_challenge_id(f"cQ.{TOKEN}") == ("q", "ch|" + TOKEN)  # two characters, one byte
