"""P1: the policy refresh is single-flight per instance, against a real Azurite with an injected monotonic
clock. A gate on the Store holds the refreshing thread inside its storage call, so the test can see what
every other thread does meanwhile."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor, wait

import pytest

from shared.store import Store
from shared.store.policy_store import CACHE_SECONDS, PolicyStore

LIVENESS = 20  # seconds: only so that a broken build fails instead of hanging; no timing is asserted


class GatedStore(Store):
    """The real Store over the real table; reads can be made to wait until the test releases them."""

    def __init__(self, table) -> None:
        super().__init__(table)
        self.reads = 0
        self.armed = False
        self.entered = threading.Event()
        self.release = threading.Event()
        self._count = threading.Lock()

    def _gate(self) -> None:
        with self._count:
            self.reads += 1
        if self.armed:
            self.entered.set()
            assert self.release.wait(LIVENESS)

    def get(self, pk, rk):
        self._gate()
        return super().get(pk, rk)

    def query(self, flt, params, select=None):
        self._gate()
        return super().query(flt, params, select)


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup(deps):
    mono = Monotonic()
    gated = GatedStore(deps.store.table)
    yield PolicyStore(gated, deps.settings, monotonic=mono), gated, mono, PolicyStore(deps.store, deps.settings)
    gated.release.set()


def test_one_refresh_at_a_time_while_the_others_keep_the_cached_policy(setup, clock):
    instance, gated, mono, other_instance = setup
    assert instance.current().max_attempts == 5
    other_instance.patch({"maxAttempts": 3}, "ops", clock.now())
    mono.now += CACHE_SECONDS
    reads = gated.reads
    gated.armed = True
    with ThreadPoolExecutor(max_workers=9) as pool:
        refresher = pool.submit(instance.current)
        assert gated.entered.wait(LIVENESS)
        others = [pool.submit(instance.current) for _ in range(40)]
        done, _ = wait(others, timeout=LIVENESS)
        assert len(done) == 40, "requests waited for the refresh instead of using the cached policy"
        assert {f.result().max_attempts for f in others} == {5}  # the cached policy, not a wait
        assert gated.reads == reads + 1  # one refresh in flight
        gated.release.set()
        assert refresher.result(LIVENESS).max_attempts == 3
    gated.armed = False
    assert instance.current().max_attempts == 3
    assert gated.reads == reads + 2  # the version check, then the changed document; nothing since


def test_a_first_load_waits_and_reads_once(setup):
    instance, gated, _, _ = setup
    gated.armed = True
    with ThreadPoolExecutor(max_workers=8) as pool:
        first = pool.submit(instance.current)
        assert gated.entered.wait(LIVENESS)
        waiting = [pool.submit(instance.current) for _ in range(7)]
        gated.release.set()
        policies = [f.result(LIVENESS) for f in [first, *waiting]]
    assert gated.reads == 1
    assert all(p is policies[0] for p in policies)


def test_an_unchanged_version_is_not_parsed_again(setup, clock):
    instance, gated, mono, other_instance = setup
    other_instance.patch({"trustedNetworks": [{"name": "hq", "cidrs": ["203.0.113.0/24"]}]}, "ops", clock.now())
    first = instance.current()
    networks = first.networks
    for _ in range(3):
        mono.now += CACHE_SECONDS
        again = instance.current()
        assert again is first and again.networks is networks  # no new parse, no new NetworkSet
    mono.now += CACHE_SECONDS / 2
    assert instance.current() is first

