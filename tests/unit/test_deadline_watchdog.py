"""The exchange deadlines' watchdog (shared/clients.py): one thread serves every deadline of the process;
a short deadline armed after a long one still fires first, a disarmed one never fires. Liveness bounds
(seconds of slack), not speed measurements."""
from __future__ import annotations

import threading

from shared.clients import _Watchdog


def test_a_later_shorter_deadline_fires_first_and_alone():
    dog = _Watchdog()
    long = dog.arm(30.0)
    short = dog.arm(0.05)
    assert short.fired.wait(5.0)
    assert not long.fired.is_set()
    dog.disarm(long)


def test_a_disarmed_deadline_never_fires():
    dog = _Watchdog()
    gone = dog.arm(0.05)
    dog.disarm(gone)
    marker = dog.arm(0.1)  # fires after `gone` would have
    assert marker.fired.wait(5.0)
    assert not gone.fired.is_set()


def test_every_deadline_shares_one_thread():
    dog = _Watchdog()
    before = threading.active_count()
    deadlines = [dog.arm(30.0) for _ in range(50)]
    assert threading.active_count() <= before + 1
    for d in deadlines:
        dog.disarm(d)
