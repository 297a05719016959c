"""The relying party from settings (W5) and passkey profiles (W7), both pure."""
from __future__ import annotations

import pytest

from shared.crypto.webauthn_settings import relying_party
from shared.kernel.errors import ConfigError, InvalidRequest
from shared.model.passkey_profile import parse_profile, profile_refusal

YUBIKEY = "ee882879-721c-4913-9775-3dfcce97072a"
CHROMIUM = "01020304-0506-0708-0102-030405060708"


def test_local_defaults_are_localhost_and_the_dev_host():
    rp = relying_party({}, in_azure=False)
    assert (rp.rp_id, rp.rp_name, rp.origins) == ("localhost", "twostep", ("http://localhost:7071",))


def test_origins_are_listed_exactly_and_deduplicated():
    env = {"MFA_WEBAUTHN_RP_ID": "example.com", "MFA_WEBAUTHN_RP_NAME": "Example",
           "MFA_WEBAUTHN_ORIGINS": "https://login.example.com, https://example.com:8443,https://login.example.com"}
    rp = relying_party(env, in_azure=True)
    assert rp.origins == ("https://login.example.com", "https://example.com:8443") and rp.rp_name == "Example"


def test_in_azure_nothing_set_means_passkeys_are_off():
    assert relying_party({}, in_azure=True) is None


@pytest.mark.parametrize("env", [
    {"MFA_WEBAUTHN_RP_ID": "example.com"},  # no origins in Azure
    {"MFA_WEBAUTHN_RP_ID": "localhost", "MFA_WEBAUTHN_ORIGINS": "http://localhost:7071"},
    {"MFA_WEBAUTHN_RP_ID": "example.com", "MFA_WEBAUTHN_ORIGINS": "http://login.example.com"},
    {"MFA_WEBAUTHN_RP_ID": "example.com", "MFA_WEBAUTHN_ORIGINS": "https://login.example.com/"},
    {"MFA_WEBAUTHN_RP_ID": "example.com", "MFA_WEBAUTHN_ORIGINS": "https://example.org"},
    {"MFA_WEBAUTHN_RP_ID": "example.com", "MFA_WEBAUTHN_ORIGINS": "https://badexample.com"},
    {"MFA_WEBAUTHN_RP_ID": "example.com", "MFA_WEBAUTHN_ORIGINS": "https://example.com:0"},
    {"MFA_WEBAUTHN_RP_ID": "example.com", "MFA_WEBAUTHN_ORIGINS": "https://example.com:443"},
    {"MFA_WEBAUTHN_RP_ID": "Example.com", "MFA_WEBAUTHN_ORIGINS": "https://example.com"},
    {"MFA_WEBAUTHN_RP_ID": "example.com", "MFA_WEBAUTHN_ORIGINS": "https://example.com",
     "MFA_WEBAUTHN_RP_NAME": "bad\nname"},
    {"MFA_WEBAUTHN_RP_ID": "example.com", "MFA_WEBAUTHN_ORIGINS": ",".join(f"https://a{i}.example.com" for i in range(11))},
])
def test_settings_that_could_never_work_or_are_unsafe_stop_the_app(env):
    with pytest.raises(ConfigError):
        relying_party(env, in_azure=True)


def test_http_is_for_localhost_only_and_only_locally():
    with pytest.raises(ConfigError):
        relying_party({"MFA_WEBAUTHN_ORIGINS": "http://sub.localhost:7071"}, in_azure=False)
    assert relying_party({"MFA_WEBAUTHN_ORIGINS": "http://localhost:8080"}, in_azure=False).origins == (
        "http://localhost:8080",)


def test_a_synced_passkey_is_refused_under_a_device_bound_only_profile():
    profile = parse_profile({"passkeyTypes": ["deviceBound"]})
    assert profile_refusal("synced", CHROMIUM, profile) == "passkey_type_not_allowed"
    assert profile_refusal("deviceBound", CHROMIUM, profile) is None


def test_aaguid_block_and_allow_lists():
    blocked = parse_profile({"passkeyTypes": ["deviceBound", "synced"], "aaguidBlock": [CHROMIUM.upper()]})
    assert profile_refusal("synced", CHROMIUM, blocked) == "aaguid_blocked"
    assert profile_refusal("synced", YUBIKEY, blocked) is None
    allowed = parse_profile({"passkeyTypes": ["deviceBound"], "aaguidAllow": [YUBIKEY]})
    assert profile_refusal("deviceBound", YUBIKEY, allowed) is None
    assert profile_refusal("deviceBound", CHROMIUM, allowed) == "aaguid_not_allowed"
    both = parse_profile({"passkeyTypes": ["deviceBound"], "aaguidAllow": [YUBIKEY], "aaguidBlock": [YUBIKEY]})
    assert profile_refusal("deviceBound", YUBIKEY, both) == "aaguid_blocked"


@pytest.mark.parametrize("doc", [
    None, [], {}, {"passkeyTypes": []}, {"passkeyTypes": ["roaming"]}, {"passkeyTypes": "synced"},
    {"passkeyTypes": ["synced"], "aaguidAllow": ["not-a-guid"]}, {"passkeyTypes": ["synced"], "aaguidBlock": "x"},
    {"passkeyTypes": ["synced"], "other": 1}, {"passkeyTypes": ["synced"], "aaguidAllow": [CHROMIUM + "\n"]},
])
def test_a_malformed_profile_is_refused_whole(doc):
    with pytest.raises(InvalidRequest):
        parse_profile(doc)
