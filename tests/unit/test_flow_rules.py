"""Flow rules on the in-memory store: the very tests that run against Azurite in tests/integration/ (lockout
across challenges, a single winner under a forced stale write, step-up on a claimed account, a bypass used
once, the SMS limits), collected here again with `deps`/`make_deps` built on the in-memory table and queues.
Same assertions, no copy to drift, milliseconds instead of seconds; the Azurite runs keep proving the real
store, and tests/integration/test_store_contract.py proves the two stores answer alike."""
from __future__ import annotations

import pytest

from tests.integration import test_claimed_accounts, test_flows, test_limits, test_stale_writes
from tests.integration.test_stale_writes import alice, race  # noqa: F401 - fixtures of the ported races
from tests.memory_deps import memory_deps


@pytest.fixture
def make_deps(clock):
    return lambda **overrides: memory_deps(clock, **overrides)


@pytest.fixture
def deps(make_deps):
    return make_deps()


def test_the_deps_here_are_in_memory(deps):
    assert type(deps.store.table).__name__ == "MemoryTable"


TestLockout = test_flows.TestLockout  # L2, L4
TestBypass = test_flows.TestBypass  # B2-B5
TestClaimed = test_claimed_accounts.TestClaimed  # R7: step-up on a claimed account
test_approve_has_one_winner = test_stale_writes.test_approve_has_one_winner  # C3
test_bypass_is_spent_once = test_stale_writes.test_bypass_is_spent_once  # B2
test_no_failure_is_lost = test_stale_writes.test_no_failure_is_lost  # L3
test_a_proof_is_used_once = test_stale_writes.test_a_proof_is_used_once  # step-up
test_per_user_limit_and_its_window = test_limits.test_per_user_limit_and_its_window  # L5
test_per_phone_limit_spans_users = test_limits.test_per_phone_limit_spans_users  # L5
test_per_prefix_limit = test_limits.test_per_prefix_limit  # L5
