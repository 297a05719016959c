"""L5: SMS send limits per user, phone, source IP and number prefix, the daily budget and the country
allow-list, against Azurite with an injected clock. Over a limit: 429 with Retry-After, nothing sent
(inline) and nothing queued."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from shared.channels.sms import Outbox
from shared.flows import enrolment, signin, verify
from shared.kernel.errors import CountryNotAllowed, RateLimited
from shared.kernel.results import ChallengeStarted
from shared.wiring import build_deps
from tests.helpers import sms_code_for


def queued(deps) -> int:
    """SMS sent (inline, at the emulator) plus SMS queued (the outbox exists once something was queued)."""
    from azure.core.exceptions import ResourceNotFoundError

    memory = getattr(deps.sms, "sent", None)  # the in-memory gateway (tests/memory_deps.py), else the emulator
    sent = len(memory) if memory is not None else len(
        requests.get(f"{deps.settings.acs_endpoint}/messages", timeout=5).json())
    try:
        return sent + deps.outbox.queue.get_queue_properties().approximate_message_count
    except ResourceNotFoundError:
        return sent


def enrol(deps, user: str, phone: str) -> None:
    view = enrolment.enrol_phone(deps, user, {"phoneNumber": phone}).view
    verify.verify(deps, view["challengeId"], {"code": sms_code_for(deps, view["challengeId"])})


def begin(deps, user: str, ip: str | None = None):
    body = {"userId": user, **({"context": {"ip": ip}} if ip else {})}
    return signin.begin(deps, body)


def test_per_user_limit_and_its_window(make_deps, clock):
    deps = make_deps(MFA_SMS_PER_USER_PER_HOUR="3")
    enrol(deps, "alice", "+14255550101")  # the enrolment SMS counts too
    begin(deps, "alice")
    begin(deps, "alice")
    before = queued(deps)
    with pytest.raises(RateLimited) as err:
        begin(deps, "alice")
    assert err.value.retry_after == 30 * 60  # the clock is at 19:30; the window ends at 20:00
    assert queued(deps) == before  # nothing enqueued
    clock.advance(30 * 60)
    assert isinstance(begin(deps, "alice"), ChallengeStarted)


def test_per_phone_limit_spans_users(make_deps):
    deps = make_deps(MFA_SMS_PER_PHONE_PER_HOUR="2", MFA_SMS_PER_USER_PER_HOUR="50")
    enrolment.enrol_phone(deps, "u1", {"phoneNumber": "+14255550102"})
    enrolment.enrol_phone(deps, "u2", {"phoneNumber": "+14255550102"})
    with pytest.raises(RateLimited):
        enrolment.enrol_phone(deps, "u3", {"phoneNumber": "+14255550102"})
    enrolment.enrol_phone(deps, "u3", {"phoneNumber": "+14255550103"})


def test_per_ip_limit_groups_an_ipv6_64(make_deps):
    deps = make_deps(MFA_SMS_PER_IP_PER_HOUR="2")
    for i, user in enumerate(("a", "b", "c")):
        enrol(deps, user, f"+1425555011{i}")
    begin(deps, "a", ip="2001:db8:1:2::1")
    begin(deps, "b", ip="2001:db8:1:2::ffff")
    with pytest.raises(RateLimited):
        begin(deps, "c", ip="2001:db8:1:2:abcd::9")
    assert isinstance(begin(deps, "c", ip="2001:db8:1:3::1"), ChallengeStarted)
    assert isinstance(begin(deps, "c", ip="203.0.113.9"), ChallengeStarted)


def test_per_prefix_limit(make_deps):
    deps = make_deps(MFA_SMS_PER_PREFIX_PER_HOUR="2")
    enrolment.enrol_phone(deps, "p1", {"phoneNumber": "+14255550120"})
    enrolment.enrol_phone(deps, "p2", {"phoneNumber": "+14255550121"})
    with pytest.raises(RateLimited):
        enrolment.enrol_phone(deps, "p3", {"phoneNumber": "+14255550122"})
    enrolment.enrol_phone(deps, "p3", {"phoneNumber": "+12065550122"})  # another prefix


def test_daily_budget_holds_under_concurrency(make_deps, base_env, clock):
    setup = make_deps(MFA_SMS_PER_PREFIX_PER_HOUR="1000")
    users = [f"budget{i}" for i in range(20)]
    for i, user in enumerate(users):
        enrol(setup, user, f"+1425555{(200 + i):04d}")
    from shared.settings import load_settings

    settings = load_settings({**base_env, "MFA_TABLE_NAME": setup.settings.table_name,
                              "MFA_SMS_PER_PREFIX_PER_HOUR": "1000", "MFA_SMS_DAILY_BUDGET": "25"})
    deps = build_deps(settings, clock=clock)  # same table: 20 of today's 25 are spent
    deps.outbox = Outbox(setup.outbox.queue)

    def one(user):
        try:
            return "started" if isinstance(begin(deps, user), ChallengeStarted) else "other"
        except RateLimited as err:
            assert err.retry_after == 4 * 3600 + 30 * 60  # until midnight UTC
            return "rate_limited"

    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, users))
    assert results.count("started") == 5 and results.count("rate_limited") == 15


def test_country_allow_list(make_deps):
    deps = make_deps(MFA_SMS_ALLOWED_COUNTRIES="CA")
    with pytest.raises(CountryNotAllowed):
        enrolment.enrol_phone(deps, "us-user", {"phoneNumber": "+14255550130"})
    enrolment.enrol_phone(deps, "ca-user", {"phoneNumber": "+16135550130"})


def test_totp_is_not_limited(make_deps, clock):
    from datetime import timedelta

    from shared.crypto.otp import totp
    from tests.helpers import secret_bytes
    deps = make_deps(MFA_SMS_PER_USER_PER_HOUR="1", MFA_SMS_DAILY_BUDGET="1")
    view = enrolment.enrol_totp(deps, "t", {}).view
    verify.verify(deps, view["challengeId"],
                      {"code": totp(secret_bytes(view["secret"]), clock.now() - timedelta(seconds=30))})
    for _ in range(5):
        assert isinstance(begin(deps, "t"), ChallengeStarted)
