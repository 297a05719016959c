"""Stale writes forced, not hoped for (C3, B2, L3, step-up): a competing decision is made through the
public functions *between* the flow's read and its first commit. With ETag-conditional writes the flow's
commit is refused, it re-reads and decides again on what the competitor left: exactly one winner. Without
them the flow's write lands on top (two approvals, two bypass uses, a lost failure, a proof used twice).
The 20/50-request races over HTTP (test_http_concurrency.py) show the same under real concurrency."""
from __future__ import annotations

import pytest

from shared.flows import admin, challenge_rows, enrolment, verify
from shared.flows import signin as signin_flow
from shared.kernel.errors import AlreadyUsed, IncorrectCode, StepUpRequired, TwostepError
from shared.kernel.ids import PROFILE_RK, parse_challenge_id
from shared.kernel.results import ChallengeStarted, NotRequired, SecretIssued
from shared.store import StaleWrite
from tests.helpers import other_code, sms_code_for
from tests.integration.test_flows import enrol_sms

PHONE = "+14255550161"


@pytest.fixture
def race(deps, monkeypatch):
    """race(competitor) -> trace: runs `competitor` once, just before the first commit of whatever runs
    next, and records the flow's storage steps ("read", "commit", "stale") after that point."""
    def install(competitor):
        trace: list = []
        phase = ["before"]
        real_transact, real_get_many, real_get = deps.store.transact, deps.store.get_many, deps.store.get

        def transact(tx):
            if phase[0] == "competing":  # the competitor's own commits pass straight through
                return real_transact(tx)
            if phase[0] == "before":
                phase[0] = "competing"
                trace.append(("competitor", outcome(competitor)))
                phase[0] = "after"
            try:
                real_transact(tx)
            except StaleWrite:
                trace.append("stale")
                raise
            trace.append("commit")

        def reading(real):
            def read(*args, **kwargs):
                if phase[0] == "after":  # only the flow's reads after the competitor's decision
                    trace.append("read")
                return real(*args, **kwargs)
            return read

        monkeypatch.setattr(deps.store, "transact", transact)
        monkeypatch.setattr(deps.store, "get_many", reading(real_get_many))
        monkeypatch.setattr(deps.store, "get", reading(real_get))
        return trace
    return install


def outcome(fn):
    """What a call returned, or the error it raised (a refusal is an outcome too)."""
    try:
        return fn()
    except TwostepError as exc:
        return exc


def lost_then_reread(trace) -> bool:
    """The competitor committed, the flow's own commit was refused as stale, and it read again after."""
    steps = trace[1:]
    return "stale" in steps and "read" in steps[steps.index("stale"):]


@pytest.fixture
def alice(deps):
    enrol_sms(deps, "alice", PHONE)
    return "alice"


def signin(deps) -> str:
    return signin_flow.begin(deps, {"userId": "alice", "method": "sms"}).view["challengeId"]


def audit(deps, event: str, **match) -> list[dict]:
    return [e for e in admin.audit_events(deps, "alice")["events"]
            if e["event"] == event and all(e.get(k) == v for k, v in match.items())]


def test_approve_has_one_winner(deps, alice, race):  # C3
    cid = signin(deps)
    code = sms_code_for(deps, cid)
    trace = race(lambda: verify.verify(deps, cid, {"code": code}))
    with pytest.raises(AlreadyUsed):
        verify.verify(deps, cid, {"code": code})
    assert trace[0] == ("competitor", {"status": "approved", "userId": "alice", "method": "sms"})
    assert lost_then_reread(trace), trace
    assert len(audit(deps, "verify_approved", challengeId=cid)) == 1
    assert challenge_rows.get(deps, cid)["status"] == "approved"


def test_bypass_is_spent_once(deps, alice, race):  # B2
    admin.create_bypass(deps, "alice", {"seconds": 300, "reason": "ticket"}, "ops")
    trace = race(lambda: signin_flow.begin(deps, {"userId": "alice"}))
    result = signin_flow.begin(deps, {"userId": "alice"})
    view = result.view
    assert trace[0] == ("competitor", NotRequired("bypass"))
    # the loser saw the bypass gone: a challenge
    assert isinstance(result, ChallengeStarted) and view["status"] == "pending"
    assert lost_then_reread(trace), trace
    assert len(audit(deps, "bypass_used")) == 1
    assert deps.store.get("alice", PROFILE_RK).get("bypassRk") is None


def test_no_failure_is_lost(deps, alice, race):  # L3
    cid = signin(deps)
    wrong = other_code(sms_code_for(deps, cid))
    trace = race(lambda: verify.verify(deps, cid, {"code": wrong}))
    with pytest.raises(IncorrectCode) as err:
        verify.verify(deps, cid, {"code": wrong})
    competitor = trace[0][1]
    assert isinstance(competitor, IncorrectCode) and competitor.extra == {"attemptsRemaining": 4}
    assert err.value.extra == {"attemptsRemaining": 3}  # decided on the competitor's count
    assert lost_then_reread(trace), trace
    assert deps.store.get("alice", PROFILE_RK)["failures"] == 2
    assert deps.store.get(*parse_challenge_id(cid))["attempts"] == 2


def test_a_proof_is_used_once(deps, alice, race):  # step-up
    proof = signin(deps)
    verify.verify(deps, proof, {"code": sms_code_for(deps, proof)})
    trace = race(lambda: type(enrolment.enrol_totp(deps, "alice", {"proofChallengeId": proof})))
    with pytest.raises(StepUpRequired):
        enrolment.delete_method(deps, "alice", "sms", {"proofChallengeId": proof})
    assert trace[0] == ("competitor", SecretIssued)  # the app enrolment took the proof first
    assert lost_then_reread(trace), trace
    assert enrolment.get_user(deps, "alice")["methods"] == [{"type": "sms", "destination": "+1*******61"}]
    assert audit(deps, "method_removed") == []
