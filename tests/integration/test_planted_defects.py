"""Tests written against two defects that once passed the whole suite:

- the SMS sender deriving the code with the *current* HMAC key instead of the key the challenge names,
  which only shows when a rotation falls between begin and send; the rotation tests computed the expected
  code themselves, so here the code is the one the emulator actually received;
- the index-key creation race, where the instance that loses the create keeps its own random key; here
  two cold `Deps` both miss the read for real (on one Azurite) and race the create.
"""
from __future__ import annotations

import json
import re
import threading

import requests

from shared.delivery.sender import deliver
from shared.flows import enrolment, signin, verify
from shared.kernel.results import ChallengeStarted
from shared.store import index_key
from tests.integration.test_key_rotation import OLD, ROTATED

PHONE = "+14255550187"


def received_codes(emulator, phone: str) -> list[str]:
    """The codes in the SMS the emulator accepted for `phone`, oldest first (the autofill line's `#code`)."""
    messages = requests.get(f"{emulator.url}/messages", params={"to": phone}, timeout=5).json()
    return [re.fullmatch(r".*#(\d{6,8})", m["message"], re.DOTALL).group(1) for m in messages]


def send(d, challenge_id: str) -> str:
    return deliver(d, json.dumps({"v": 1, "challengeId": challenge_id}).encode())


def test_an_sms_begun_before_an_hmac_rotation_and_sent_after_it_carries_a_code_verify_accepts(
        make_deps, emulator, queue_path):  # the queue sender runs after the rotation, not the inline attempt
    old = make_deps(**OLD)
    before = len(received_codes(emulator, PHONE))
    enrolled = enrolment.enrol_phone(old, "rita", {"phoneNumber": PHONE}).view
    assert send(old, enrolled["challengeId"]) == "sent"
    code = received_codes(emulator, PHONE)[-1]
    assert verify.verify(old, enrolled["challengeId"], {"code": code})["status"] == "approved"

    started = signin.begin(old, {"userId": "rita", "method": "sms"})  # keyed with h1 ...
    assert isinstance(started, ChallengeStarted)
    rotated = make_deps(MFA_TABLE_NAME=old.settings.table_name, **ROTATED)  # ... h2 becomes current ...
    assert send(rotated, started.view["challengeId"]) == "sent"  # ... and the sender runs after the rotation
    codes = received_codes(emulator, PHONE)
    assert len(codes) == before + 2
    assert verify.verify(rotated, started.view["challengeId"], {"code": codes[-1]})["status"] == "approved"


def test_two_cold_instances_racing_to_create_the_index_key_both_end_with_the_stored_key(make_deps, monkeypatch):
    first = make_deps()
    second = make_deps(MFA_TABLE_NAME=first.settings.table_name)
    both_missed = threading.Barrier(2, timeout=30)
    real_get = index_key.Store.get
    reads: list[bool] = []

    def get_then_wait(store, partition, row):
        found = real_get(store, partition, row)
        if (partition, row) == (index_key.PARTITION, index_key.ROW) and len(reads) < 2:
            reads.append(found is None)
            both_missed.wait()  # neither creates before both have read: both really miss
        return found

    monkeypatch.setattr(index_key.Store, "get", get_then_wait)
    keys: dict[str, bytes] = {}
    # `Deps.index_key` is a cached_property, which before Python 3.12 serialises its first computation
    # across all instances of the class (one lock per class), so the threads call what it calls; in
    # production the two instances are two processes and nothing serialises them.
    threads = [threading.Thread(target=lambda n=n, d=d: keys.__setitem__(n, index_key.load_or_create(
        d.store, d.sealer))) for n, d in (("first", first), ("second", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    monkeypatch.undo()

    assert reads == [True, True]  # both read before either created: the create was raced
    stored = first.sealer.open(first.store.get(index_key.PARTITION, index_key.ROW)[index_key.FIELD],
                               index_key.AAD, kind="index key")
    assert keys == {"first": stored, "second": stored}
    restarted = make_deps(MFA_TABLE_NAME=first.settings.table_name)  # and a restart reads the same key
    assert restarted.index_key == stored
    assert first.index("phone", PHONE) == second.index("phone", PHONE) == restarted.index("phone", PHONE)
