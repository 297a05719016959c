"""Configuration is validated: bad or missing key material, unresolved Key Vault references and
out-of-bounds limits refuse to load (C2, L1, L2, B3 bounds)."""
import base64
import os

import pytest

from shared.kernel.clock import install_test_clock
from shared.kernel.environment import AZURE_MARKERS, running_in_azure
from shared.kernel.errors import ConfigError
from shared.settings import load_settings
from shared.settings_keys import parse_keys

GOOD = {
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "MFA_HMAC_KEYS": "k1:" + "DOnqjsrh+XcIWz+yV1vrj9KXUbh1wxzf/bs17E5Sqh4=",
    "MFA_ENCRYPTION_KEYS": "k1:" + "Q8rJgxdbuK+9TiW1wk136KkaP9236ws1yQMLPjjsA1A=",
    "MFA_OTP_HOST": "login.contoso.com",
    "ACS_ENDPOINT": "http://127.0.0.1:7072",
    "ACS_SENDER": "+18005550100",
}
KEY2 = "baFsO+RXrNNa8YNvvZd3zKnhgL6C7dWVaF5BR454ck4="  # sha256("twostep-test-hmac-2")


def test_defaults():
    s = load_settings(GOOD)
    assert (s.code_ttl_seconds, s.code_digits, s.max_attempts) == (300, 6, 5)
    assert (s.lockout_threshold, s.lockout_minutes, s.bypass_default_seconds, s.bypass_max_seconds) == (10, 15, 300, 1800)
    assert (s.fraud_block_days, s.totp_algorithm, s.totp_digits) == (90, "SHA1", 6)


@pytest.mark.parametrize("name,value", [
    ("MFA_CODE_TTL_SECONDS", "601"), ("MFA_CODE_TTL_SECONDS", "0"), ("MFA_CODE_DIGITS", "5"),
    ("MFA_MAX_ATTEMPTS", "11"), ("MFA_LOCKOUT_THRESHOLD", "101"), ("MFA_BYPASS_MAX_SECONDS", "99999"),
    ("MFA_BYPASS_DEFAULT_SECONDS", "3000"), ("MFA_TOTP_DIGITS", "7"), ("MFA_TOTP_ALGORITHM", "MD5"),
    ("MFA_CODE_TTL_SECONDS", "five"), ("MFA_OTP_HOST", "https://login.contoso.com/x"),
])
def test_out_of_bounds_or_malformed_values_are_refused(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({**GOOD, name: value})


@pytest.mark.parametrize("name", ["MFA_HMAC_KEYS", "MFA_ENCRYPTION_KEYS", "MFA_OTP_HOST", "ACS_ENDPOINT"])
def test_missing_required_setting_is_refused(name):
    env = dict(GOOD)
    del env[name]
    with pytest.raises(ConfigError, match=name):
        load_settings(env)


@pytest.mark.parametrize("value", [
    "k1:short", "k1:" + "QUFB" * 4, "nokeyid", "k1:!!!notbase64!!!",
    "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/hmac/)",
])
def test_bad_key_material_is_refused(value):
    with pytest.raises(ConfigError, match="MFA_HMAC_KEYS"):
        load_settings({**GOOD, "MFA_HMAC_KEYS": value})


def test_unresolved_key_vault_reference_is_named():
    with pytest.raises(ConfigError, match="unresolved Key Vault reference"):
        load_settings({**GOOD, "MFA_ENCRYPTION_KEYS": "@Microsoft.KeyVault(VaultName=kv;SecretName=enc)"})


@pytest.mark.parametrize("marker", AZURE_MARKERS)
def test_example_keys_are_refused_in_azure(marker):
    example = {**GOOD, "MFA_HMAC_KEYS": "local1:D26zCIwKupkQo0X2l9H8KpeB9JLmww5LD9HIbwYz9Mg="}
    load_settings(example)  # fine locally
    with pytest.raises(ConfigError, match="published local example key"):
        load_settings({**example, marker: "abc"})


@pytest.mark.parametrize("env,expected", [
    ({}, False), ({"WEBSITE_INSTANCE_ID": ""}, False), ({"WEBSITE_SITE_NAME": "", "WEBSITE_INSTANCE_ID": ""}, False),
    ({"WEBSITE_INSTANCE_ID": "0123abcd"}, True), ({"WEBSITE_SITE_NAME": "twostep-prod"}, True),
    ({"WEBSITE_SITE_NAME": "twostep-prod", "WEBSITE_INSTANCE_ID": "0123abcd"}, True),
    ({"WEBSITE_AUTH_ENABLED": "true", "FUNCTIONS_WORKER_RUNTIME": "python"}, False),
])
def test_running_in_azure_is_any_platform_marker(env, expected):
    assert running_in_azure(env) is expected


@pytest.mark.parametrize("marker", AZURE_MARKERS)
def test_every_guard_asks_the_same_question(marker):
    """The example-key refusal and the test-clock guard agree for every marker: neither fails open alone."""
    azure = {marker: "x"}
    with pytest.raises(ConfigError, match="example"):
        load_settings({**GOOD, "MFA_ENCRYPTION_KEYS": "local1:57ozCCYZXvWHRZkDmpVWcyi7eQldkuqrgplfnOwjJq4=", **azure})
    with pytest.raises(RuntimeError, match="refused when running in Azure"):
        install_test_clock(object(), azure)


def test_plain_http_acs_endpoint_only_on_loopback():
    with pytest.raises(ConfigError, match="ACS_ENDPOINT"):
        load_settings({**GOOD, "ACS_ENDPOINT": "http://contoso.communication.azure.com"})
    assert load_settings({**GOOD, "ACS_ENDPOINT": "https://x.communication.azure.com/"}).acs_endpoint == \
        "https://x.communication.azure.com"


def test_key_rotation_list_keeps_order():
    s = load_settings({**GOOD, "MFA_HMAC_KEYS": "k2:" + KEY2 + "," + GOOD["MFA_HMAC_KEYS"]})
    assert [kid for kid, _ in s.hmac_keys] == ["k2", "k1"]


def test_storage_connection_is_required():
    env = {k: v for k, v in GOOD.items() if k != "AzureWebJobsStorage"}
    with pytest.raises(ConfigError, match="AzureWebJobsStorage"):
        load_settings(env)
    s = load_settings({**env, "AzureWebJobsStorage__tableServiceUri": "https://a.table.core.windows.net",
                       "AzureWebJobsStorage__queueServiceUri": "https://a.queue.core.windows.net"})
    assert s.storage_connection_string is None


class TestStrictKeys:
    """Strict keys: each refusal names the setting and never the key."""

    EXAMPLE = "D26zCIwKupkQo0X2l9H8KpeB9JLmww5LD9HIbwYz9Mg="

    def refused(self, name: str, value: str, match: str, **extra: str) -> None:
        with pytest.raises(ConfigError, match=match) as raised:
            load_settings({**GOOD, name: value, **extra})
        assert name in str(raised.value)
        for part in value.split(","):
            assert part.partition(":")[2] not in str(raised.value)

    def test_example_key_refused_by_its_bytes_in_any_spelling(self):
        respelled = self.EXAMPLE[:-2] + "h="  # same 32 bytes: the last character's unused bits differ
        assert base64.b64decode(respelled) == base64.b64decode(self.EXAMPLE)
        self.refused("MFA_HMAC_KEYS", f"k1:{self.EXAMPLE}", "published local example key", WEBSITE_INSTANCE_ID="x")
        self.refused("MFA_HMAC_KEYS", f"k1:{respelled}", "canonical spelling", WEBSITE_INSTANCE_ID="x")
        with pytest.raises(ConfigError, match="published local example key"):
            parse_keys("MFA_HMAC_KEYS", "k1:" + self.EXAMPLE, in_azure=True)

    @pytest.mark.parametrize("raw", [bytes(32), b"\xff" * 64, bytes(range(8)) * 4,
                                     b"correct horse battery staple!!!!"])
    def test_zero_repeated_or_text_keys_are_refused(self, raw):
        self.refused("MFA_ENCRYPTION_KEYS", "k1:" + base64.b64encode(raw).decode(), "not random data")

    def test_random_keys_of_every_allowed_length_pass(self):
        for length in (32, 48, 64, 128):
            parse_keys("MFA_HMAC_KEYS", "k1:" + base64.b64encode(os.urandom(length)).decode(), in_azure=True)

    def test_a_key_in_both_rings_is_refused(self):
        self.refused("MFA_ENCRYPTION_KEYS", "e1:" + KEY2 + ",e0:" + GOOD["MFA_HMAC_KEYS"][3:], "also in MFA_HMAC_KEYS")

    def test_duplicate_key_bytes_under_another_id_are_refused(self):
        self.refused("MFA_HMAC_KEYS", f"k2:{KEY2},k1:{KEY2}", "repeats the key bytes")

    def test_more_than_eight_keys_are_refused(self):
        many = ",".join(f"k{i}:{base64.b64encode(os.urandom(32)).decode()}" for i in range(9))
        self.refused("MFA_HMAC_KEYS", many, "more than 8 keys")
        assert len(load_settings({**GOOD, "MFA_HMAC_KEYS": many.rsplit(",", 1)[0]}).hmac_keys) == 8

    @pytest.mark.parametrize("kid", ["k1\n", "k1 x", "", "k" * 33, "k1\x00", "ké"])
    def test_key_ids_are_matched_whole(self, kid):
        self.refused("MFA_HMAC_KEYS", f"{kid}:{KEY2}", "keyid:base64key")

    @pytest.mark.parametrize("spelling", [KEY2.rstrip("="), KEY2 + "\n=", " " + KEY2[:-1] + "\n", KEY2[:10] + "\n" + KEY2[10:]])
    def test_key_base64_is_matched_whole(self, spelling):
        self.refused("MFA_HMAC_KEYS", f"k2:{spelling}", "not valid base64")


WEBHOOK_SECRET = "whsec_2vgMWgk1grFoTuhpw1iVF70IyCVMRIJq9Q5OlP4hr3Q="  # base64 of sha256("twostep-test-webhook")


def test_webhook_is_optional_and_takes_its_secret():
    assert load_settings(GOOD).webhook_url is None
    s = load_settings({**GOOD, "MFA_WEBHOOK_URL": "https://hooks.contoso.com/twostep/",
                       "MFA_WEBHOOK_SECRET": WEBHOOK_SECRET})
    assert (s.webhook_url, s.webhook_secret) == ("https://hooks.contoso.com/twostep", WEBHOOK_SECRET)


@pytest.mark.parametrize("url,secret,names", [
    ("https://hooks.contoso.com", None, "MFA_WEBHOOK_SECRET must be set"),
    ("http://hooks.contoso.com", WEBHOOK_SECRET, "MFA_WEBHOOK_URL must be an https URL"),
    ("ftp://hooks.contoso.com", WEBHOOK_SECRET, "MFA_WEBHOOK_URL"),
    ("https://hooks.contoso.com", WEBHOOK_SECRET[len("whsec_"):], "whsec_"),
    ("https://hooks.contoso.com", "whsec_" + "QUFB" * 11, "random"),  # 33 x 'A'
    ("https://hooks.contoso.com", "whsec_" + base64.b64encode(b"\x01\x02" * 8).decode(), "whsec_"),  # 16 bytes
])
def test_bad_webhook_settings_refuse_to_load(url, secret, names):
    env = {**GOOD, "MFA_WEBHOOK_URL": url, **({"MFA_WEBHOOK_SECRET": secret} if secret else {})}
    with pytest.raises(ConfigError, match=names) as info:
        load_settings(env)
    assert WEBHOOK_SECRET[6:] not in str(info.value)


def test_example_webhook_secret_is_refused_in_azure():
    from shared.settings_keys import EXAMPLE_WEBHOOK_SECRET

    env = {**GOOD, "MFA_WEBHOOK_URL": "https://hooks.contoso.com", "MFA_WEBHOOK_SECRET": EXAMPLE_WEBHOOK_SECRET}
    assert load_settings(env).webhook_secret == EXAMPLE_WEBHOOK_SECRET
    with pytest.raises(ConfigError, match="example"):
        load_settings({**env, "WEBSITE_INSTANCE_ID": "x"})
    with pytest.raises(ConfigError, match="example"):
        load_settings({**env, "WEBSITE_SITE_NAME": "twostep-prod"})


@pytest.mark.parametrize("name", ["MFA_EVENTS_QUEUE", "MFA_DUE_QUEUE"])
def test_events_and_due_queue_names_are_checked(name):
    with pytest.raises(ConfigError, match=name):
        load_settings({**GOOD, name: "Events!"})
