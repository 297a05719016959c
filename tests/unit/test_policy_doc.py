"""The sign-in policy: document validation, network matching, the evaluation order, and remembered-device
tokens, all pure with an injected clock."""
from datetime import datetime, timedelta, timezone

import pytest

from shared.crypto import device_tokens
from shared.crypto.keys import Keyring
from shared.flows.signin import evaluate
from shared.kernel.errors import InvalidRequest
from shared.model.networks import NetworkSet
from shared.model.policy import Policy, apply_patch, defaults
from shared.model.records import Profile
from shared.settings import load_settings
from tests.unit.test_config import GOOD

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)
BASE = defaults(load_settings(GOOD))
FULL = {
    "trustedNetworks": [{"name": "hq", "cidrs": ["203.0.113.0/24", "2001:db8::/48"]}],
    "excludedGroups": ["break-glass"],
    "risk": {"none": "allow_skip", "low": "allow_skip", "medium": "require_mfa", "high": "block"},
    "rememberDeviceDays": 14, "lockout": {"threshold": 20, "resetMinutes": 30, "lockMinutes": 60},
    "bypassMaxSeconds": 900, "fraudBlockDays": 30, "codeTtlSeconds": 120, "maxAttempts": 3,
    "passkeyProfiles": {"default": {"passkeyTypes": ["deviceBound", "synced"]},
                        "groups": {"kiosk": {"passkeyTypes": ["deviceBound"],
                                             "aaguidBlock": ["01020304-0506-0708-0102-030405060708"]}}},
}


def test_documented_shape_round_trips():
    policy = apply_patch(BASE, FULL)
    assert policy.to_doc() == FULL
    assert (policy.lockout_threshold, policy.code_ttl_seconds, policy.max_attempts) == (20, 120, 3)


def test_defaults_come_from_settings():
    doc = BASE.to_doc()
    assert doc["risk"] == FULL["risk"] and doc["rememberDeviceDays"] == 0 and doc["trustedNetworks"] == []
    assert doc["lockout"] == {"threshold": 10, "resetMinutes": 15, "lockMinutes": 15}
    assert (doc["bypassMaxSeconds"], doc["fraudBlockDays"], doc["codeTtlSeconds"], doc["maxAttempts"]) == (1800, 90, 300, 5)


def test_patch_replaces_only_the_keys_it_names():
    policy = apply_patch(apply_patch(BASE, FULL), {"maxAttempts": 4})
    assert policy.max_attempts == 4 and policy.excluded_groups == ("break-glass",)


@pytest.mark.parametrize("patch,field", [
    ({"trustedNetworks": [{"name": "a", "cidrs": ["10.0.0.0/8"]}]}, "trustedNetworks[0].cidrs[0]"),
    ({"trustedNetworks": [{"name": "a", "cidrs": ["203.0.113.1/24"]}]}, "trustedNetworks[0].cidrs[0]"),
    ({"trustedNetworks": [{"name": "a", "cidrs": ["not-an-ip"]}]}, "trustedNetworks[0].cidrs[0]"),
    ({"trustedNetworks": [{"name": "a", "cidrs": ["::/0"]}]}, "trustedNetworks[0].cidrs[0]"),
    ({"trustedNetworks": [{"name": "a", "cidrs": ["192.0.2.0/24"]}, {"name": "a", "cidrs": ["198.51.100.0/24"]}]},
     "trustedNetworks[1].name"),
    ({"trustedNetworks": [{"name": f"n{i}", "cidrs": ["192.0.2.0/24"]} for i in range(196)]}, "trustedNetworks"),
    ({"trustedNetworks": [{"name": "big", "cidrs": ["192.0.2.0/32"] * 2001}]}, "trustedNetworks[0].cidrs"),
    ({"excludedGroups": ["ok", ""]}, "excludedGroups"),
    ({"risk": {"none": "allow_skip"}}, "risk"),
    ({"risk": {**FULL["risk"], "high": "deny"}}, "risk.high"),
    ({"rememberDeviceDays": 366}, "rememberDeviceDays"),
    ({"lockout": {"threshold": 101, "resetMinutes": 15, "lockMinutes": 15}}, "lockout.threshold"),
    ({"bypassMaxSeconds": 3601}, "bypassMaxSeconds"),
    ({"codeTtlSeconds": 601}, "codeTtlSeconds"),
    ({"maxAttempts": 11}, "maxAttempts"),
    ({"maxAttempts": True}, "maxAttempts"),
    ({"unknown": 1}, "unknown"),
])
def test_invalid_documents_name_the_field(patch, field):
    with pytest.raises(InvalidRequest) as err:
        apply_patch(BASE, patch)
    assert err.value.extra["field"] == field


def test_network_set_matches_ipv4_ipv6_and_mapped_addresses():
    nets = NetworkSet(["203.0.113.0/24", "2001:db8::/48", "198.51.100.0/25", "198.51.100.128/25"])
    assert "203.0.113.7" in nets and "203.0.114.1" not in nets
    assert "2001:db8:0:1::5" in nets and "2001:db9::1" not in nets
    assert "::ffff:203.0.113.9" in nets and "198.51.100.255" in nets
    assert "nonsense" not in nets


def test_network_set_scales_to_azure_limits():
    """195 locations x 2000 ranges, none adjacent to the next (every other /24), so nothing merges: each
    of the 390,000 ranges stays its own interval and the gaps between them stay outside."""
    def net(i: int, gap: int = 0) -> str:
        return f"{10 + i // 32768}.{i // 128 % 256}.{i % 128 * 2 + gap}"
    count = 195 * 2000
    nets = NetworkSet(f"{net(i)}.0/24" for i in range(count))
    for i in [*range(0, count, 997), count - 1]:
        assert f"{net(i)}.0" in nets and f"{net(i)}.255" in nets
        assert f"{net(i, gap=1)}.0" not in nets and f"{net(i, gap=1)}.255" not in nets
    assert "9.255.255.255" not in nets and f"{net(count)}.0" not in nets


def profile(**kw) -> Profile:
    return Profile("alice", T0, **kw)


def decide(policy: Policy, prof, context, device=False):
    return evaluate(policy, prof, context, T0, lambda: device)


class TestEvaluationOrder:
    policy = apply_patch(BASE, FULL)
    trusted = {"ip": "203.0.113.7"}

    def test_blocked_user_first(self):
        p = profile(blocked_until=T0 + timedelta(days=1), bypass_rk="bp|x", bypass_expires_at=T0 + timedelta(minutes=5),
                    groups=["break-glass"])
        assert decide(self.policy, p, {**self.trusted, "riskLevel": "high"}, True) == "user_blocked"

    def test_risk_block_before_bypass(self):
        p = profile(bypass_rk="bp|x", bypass_expires_at=T0 + timedelta(minutes=5))
        assert decide(self.policy, p, {"riskLevel": "high"}) == "risk_blocked"
        assert decide(self.policy, p, {"riskLevel": "medium"}) == "bypass"

    def test_bypass_before_risk_requires_mfa(self):
        p = profile(bypass_rk="bp|x", bypass_expires_at=T0 + timedelta(minutes=5))
        assert decide(self.policy, p, {"riskLevel": "medium", **self.trusted}) == "bypass"

    def test_risk_requires_mfa_beats_group_network_and_device(self):
        p = profile(groups=["break-glass"])
        assert decide(self.policy, p, {"riskLevel": "medium", **self.trusted, "deviceToken": "t"}, True) == "challenge"

    def test_excluded_group_before_trusted_network(self):
        assert decide(self.policy, profile(groups=["break-glass"]), self.trusted) == "excluded_group"
        assert decide(self.policy, profile(groups=["staff"]), self.trusted) == "trusted_network"

    def test_trusted_network_before_remembered_device(self):
        assert decide(self.policy, profile(), {**self.trusted, "deviceToken": "t"}, True) == "trusted_network"
        assert decide(self.policy, profile(), {"ip": "192.0.2.1", "deviceToken": "t"}, True) == "remembered_device"
        assert decide(self.policy, profile(), {"ip": "192.0.2.1", "deviceToken": "t"}, False) == "challenge"

    def test_absent_risk_level_is_none_and_expired_bypass_ignored(self):
        p = profile(bypass_rk="bp|x", bypass_expires_at=T0)
        assert decide(self.policy, p, {}) == "challenge"
        low_blocks = apply_patch(self.policy, {"risk": {**FULL["risk"], "none": "block"}})
        assert decide(low_blocks, p, {}) == "risk_blocked"


class TestDeviceTokens:
    keys = Keyring((("k1", b"k" * 32),))

    def test_valid_for_its_user_until_expiry(self):
        token, expires = device_tokens.issue(self.keys, "alice", T0, 14)
        assert expires == T0 + timedelta(days=14)
        assert device_tokens.is_valid(self.keys, token, "alice", T0 + timedelta(days=13), None, 14)
        assert not device_tokens.is_valid(self.keys, token, "alice", T0 + timedelta(days=14), None, 14)
        assert not device_tokens.is_valid(self.keys, token, "bob", T0, None, 14)

    def test_forged_or_foreign_tokens_refused(self):
        token, _ = device_tokens.issue(self.keys, "alice", T0, 14)
        prefix, kid, payload, mac = token.split(".")
        other, _ = device_tokens.issue(self.keys, "bob", T0, 14)
        forged = ".".join([prefix, kid, other.split(".")[2], mac])
        assert not device_tokens.is_valid(self.keys, forged, "bob", T0, None, 14)
        assert not device_tokens.is_valid(self.keys, forged, "alice", T0, None, 14)
        assert not device_tokens.is_valid(Keyring((("k1", b"j" * 32),)), token, "alice", T0, None, 14)
        for junk in ("", "a.b.c.d", token + "x", "dt1.k1.%%%.%%%"):
            assert not device_tokens.is_valid(self.keys, junk, "alice", T0, None, 14)

    def test_revocation_and_policy_period(self):
        token, _ = device_tokens.issue(self.keys, "alice", T0, 14)
        assert not device_tokens.is_valid(self.keys, token, "alice", T0 + timedelta(hours=1), T0, 14)
        assert device_tokens.is_valid(self.keys, token, "alice", T0 + timedelta(hours=1), T0 - timedelta(seconds=1), 14)
        # period shortened
        assert not device_tokens.is_valid(self.keys, token, "alice", T0 + timedelta(days=2), None, 1)
        assert not device_tokens.is_valid(self.keys, token, "alice", T0, None, 0)  # feature off
