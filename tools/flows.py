"""Storage round trips per flow, counted by instrumenting the SDK clients (used by the benchmark and by
a test that keeps the numbers from creeping up)."""
from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from shared import clients
from shared.channels.sms import Outbox, outbox_message
from shared.crypto.keys import derive_code
from shared.crypto.otp import totp
from shared.delivery import inline
from shared.delivery.sender import deliver
from shared.deps import Deps
from shared.flows import enrolment, signin, verify
from shared.kernel.ids import parse_challenge_id
from shared.settings import Settings
from shared.wiring import build_deps


def counted_deps(settings: Settings, clock: Any = None,
                 queue: str | None = None) -> tuple[Deps, clients.RequestCounter]:
    counter = clients.RequestCounter()
    deps = build_deps(settings, clock=clock, counter=counter)
    if queue:
        deps.outbox = Outbox(clients.queue_client(settings, counter, queue=queue))
    return deps, counter


def _code(deps: Deps, challenge_id: str) -> str:
    user_id, row_key = parse_challenge_id(challenge_id)
    row = deps.store.get(user_id, row_key)
    return derive_code(deps.hmac_keys.get(row["keyId"]), row_key[3:], row["digits"])


def measure(deps: Deps, counter: clients.RequestCounter, user: str, phone: str,
            waits: dict[str, int] | None = None) -> dict[str, int]:
    """Enrol `user` with a phone and an app, then count the round trips of each sign-in step: the calls
    made, and in `waits` (when given) how many of them came one after the other (concurrent calls count
    once). `sms.send` is the begin's inline send (delivery/inline.py); `sms.redelivered` what the queue
    sender spends on a message for an SMS already sent (a re-drive or a replay)."""
    view = enrolment.enrol_phone(deps, user, {"phoneNumber": phone}).view
    verify.verify(deps, view["challengeId"], {"code": _code(deps, view["challengeId"])})
    proof = _signin_sms(deps, user)
    app = enrolment.enrol_totp(deps, user, {"proofChallengeId": proof}).view
    secret = base64.b32decode(app["secret"] + "=" * (-len(app["secret"]) % 8))
    verify.verify(deps, app["challengeId"], {"code": totp(secret, deps.clock.now() - timedelta(seconds=30))})
    counts: dict[str, int] = {}
    waited: dict[str, int] = {} if waits is None else waits

    def step(name: str, fn: Any) -> Any:
        before = len(counter.calls)
        out = fn()
        counts[name], waited[name] = len(counter.calls) - before, counter.waits(before)
        return out

    sms = step("sms.begin", lambda: _begin_then_inline_send(deps, counter, user, counts, waited)).view
    counts["sms.begin"] -= counts["sms.send"]  # the inline send's own calls, counted apart
    waited["sms.begin"] -= waited["sms.send"]
    code = _code(deps, sms["challengeId"])
    step("sms.redelivered", lambda: deliver(deps, outbox_message(sms["challengeId"]).encode()))
    step("sms.verify", lambda: verify.verify(deps, sms["challengeId"], {"code": code}))
    ch = step("totp.begin", lambda: signin.begin(deps, {"userId": user, "method": "totp"})).view
    step("totp.verify", lambda: verify.verify(deps, ch["challengeId"], {"code": totp(secret, deps.clock.now())}))
    return {name: counts[name] for name in ("sms.begin", "sms.send", "sms.redelivered", "sms.verify",
                                            "totp.begin", "totp.verify")}


def _begin_then_inline_send(deps: Deps, counter: clients.RequestCounter, user: str, counts: dict[str, int],
                            waits: dict[str, int]) -> Any:
    """An SMS begin, with the calls of its inline send (made before the commit) counted apart as `sms.send`."""
    first_attempt = inline.send_first
    spans: list[int] = []

    def counted(*args: Any, **kwargs: Any) -> str:
        spans.append(len(counter.calls))
        try:
            return first_attempt(*args, **kwargs)
        finally:
            spans.append(len(counter.calls))

    inline.send_first = counted  # measured in place, restored below
    try:
        result = signin.begin(deps, {"userId": user, "method": "sms"})
    finally:
        inline.send_first = first_attempt
    sent_from, sent_to = spans
    counts["sms.send"] = sent_to - sent_from
    waits["sms.send"] = counter.waits(sent_from) - counter.waits(sent_to)
    return result


def _signin_sms(deps: Deps, user: str) -> str:
    ch = signin.begin(deps, {"userId": user, "method": "sms"}).view
    verify.verify(deps, ch["challengeId"], {"code": _code(deps, ch["challengeId"])})
    return ch["challengeId"]
