"""The error hierarchy as a client groups it: every 410 is a ChallengeGone, every problem code is one
class's, and an error carries its own headers."""
from shared.kernel import errors
from shared.kernel.errors import ChallengeGone, Expired, Locked, RateLimited, StorageUnavailable, TwostepError


def _problems() -> list[type[TwostepError]]:
    found, todo = [], [TwostepError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return [cls for cls in found if cls.__module__ == errors.__name__]


def test_every_410_is_a_challenge_gone():
    gone = {cls for cls in _problems() if cls.status == 410}
    assert {cls.code for cls in gone} >= {"expired", "max_attempts_reached", "already_used", "canceled"}
    assert all(issubclass(cls, ChallengeGone) for cls in gone)


def test_problem_codes_are_unique_but_for_subclasses_that_share_their_parents():
    by_code: dict[str, type] = {}
    for cls in _problems():
        other = by_code.setdefault(cls.code, cls)
        assert other is cls or issubclass(cls, other) or issubclass(other, cls), cls.code


def test_idempotency_problems_live_in_the_hierarchy():
    assert errors.IdempotencyKeyReused.status == 422 and errors.IdempotentResultGone.status == 409


def test_an_error_carries_its_own_retry_after():
    assert Locked(retry_after=900).headers() == {"Retry-After": "900"}
    assert RateLimited(retry_after=1).headers() == {"Retry-After": "1"}
    assert Locked().headers() == {} and Expired().headers() == {}
    assert StorageUnavailable(retry_after=2).headers() == {"Retry-After": "2"}
