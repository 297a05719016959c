"""I3: the HMAC / encryption keys are generated at deployment, inside infra/scripts/ensure-keys.sh, and a
redeploy never replaces them. The script runs here against a fake `az` (tests/infra/fake_az.py) that keeps
the vault in a folder and logs every call."""
from __future__ import annotations

import json

import pytest

from shared.config import parse_keys
from tests.infra.bicep_model import Template, infra
from tests.infra.keys_script import SCRIPT, run_script, vault_folder

NAMES = ("mfa-hmac-keys", "mfa-encryption-keys")


@pytest.fixture
def vault(tmp_path):
    return vault_folder(tmp_path)


def leaked(vault, done, values) -> list[str]:
    """Every place a key value must never appear: output, error output, az arguments, script outputs."""
    places = {"stdout": done.stdout, "stderr": done.stderr, "az arguments": json.dumps(vault.calls())}
    outputs = vault.folder / "outputs.json"
    if outputs.exists():
        places["outputs"] = outputs.read_text()
    return [f"{value[:6]}... in {place}" for value in values for place, text in places.items()
            if value.split(":", 1)[1] in text]


def test_i3_creates_missing_keys_in_the_format_the_app_reads(vault):
    done = run_script(vault)
    assert done.returncode == 0, done.stderr
    values = [vault.secret(name) for name in NAMES]
    for name, value in zip(NAMES, values, strict=True):
        assert value is not None, f"{name} was not created"
        ((kid, key),) = parse_keys(name, value, in_azure=True)
        assert len(key) == 32 and kid.startswith("k")
    assert values[0] != values[1], "the HMAC and encryption keys must differ"
    assert not leaked(vault, done, values)
    assert json.loads((vault.folder / "outputs.json").read_text())["created"] == " ".join(NAMES)


def test_i3_a_redeploy_never_replaces_existing_keys(vault):
    assert run_script(vault).returncode == 0
    first = {name: vault.secret(name) for name in NAMES}
    writes, calls = len(vault.versions_written()), len(vault.calls())
    done = run_script(vault)
    assert done.returncode == 0, done.stderr
    assert {name: vault.secret(name) for name in NAMES} == first
    assert len(vault.versions_written()) == writes, "the second run wrote a new secret version"
    assert [c[2] for c in vault.calls()[calls:]] == ["list"], "a redeploy only lists secret names"
    assert "kept [mfa-hmac-keys mfa-encryption-keys]" in done.stdout


def test_i3_only_the_missing_key_is_created_and_the_existing_one_is_never_read(vault):
    existing = "old1:" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
    vault.put("mfa-hmac-keys", existing)
    done = run_script(vault)
    assert done.returncode == 0, done.stderr
    assert vault.secret("mfa-hmac-keys") == existing
    assert vault.secret("mfa-encryption-keys") is not None
    assert vault.versions_written() == ["mfa-encryption-keys"]
    assert all(call[2] in ("list", "list-deleted", "set") for call in vault.calls())
    assert not any(call[2] == "show" for call in vault.calls()), "the script must not read secret values"


def test_i3_a_soft_deleted_key_is_recovered_not_replaced(vault):
    old = "old1:" + "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI="
    vault.put("mfa-encryption-keys", old, deleted=True)
    done = run_script(vault)
    assert done.returncode == 0, done.stderr
    assert vault.secret("mfa-encryption-keys") == old
    assert vault.versions_written() == ["mfa-hmac-keys"]
    assert "recovered [mfa-encryption-keys]" in done.stdout


def test_i3_waits_for_the_role_assignment_to_reach_key_vault(vault):
    vault.fail_next_lists(3)
    done = run_script(vault)
    assert done.returncode == 0, done.stderr
    assert all(vault.secret(name) for name in NAMES)


def test_i3_gives_up_and_fails_the_deployment_when_access_never_arrives(vault):
    vault.fail_next_lists(100)
    done = run_script(vault, RETRIES="3")
    assert done.returncode != 0 and "giving up after 3 attempts" in done.stderr
    assert not any(vault.secret(name) for name in NAMES)


@pytest.mark.parametrize("key_bytes", ["16", "31", "129", "abc"])
def test_i3_refuses_key_sizes_the_app_would_refuse(vault, key_bytes):
    assert run_script(vault, KEY_BYTES=key_bytes).returncode == 2


def test_i3_the_deployment_runs_this_script_for_the_secrets_the_app_references():
    keys = infra().instance("modules/keys.bicep")
    script = Template.body(keys.template.resources["ensureKeys"])
    assert script["kind"] == "AzureCLI"
    loaded = script["properties"]["scriptContent"]["function"]
    assert loaded["type"] == "load_text_content"
    assert (SCRIPT.parent.parent / "modules" / loaded["parameters"]["file_path"]).resolve() == SCRIPT
    env = {e["name"]: keys.resolve(e["value"]) for e in keys.resolve(script["properties"]["environmentVariables"])}
    assert set(env) == {"VAULT_NAME", "SECRET_NAMES"}, "no key material may be passed to the script"
    secret_names = keys.symbol("secretNames")
    app_settings = infra().instance("modules/functionapp.bicep")
    referenced = {app_settings.symbol("hmacKeysSecretName"), app_settings.symbol("encryptionKeysSecretName")}
    assert set(secret_names) == referenced == set(NAMES)
    assert script["properties"]["cleanupPreference"] == "Always"
    # A separate identity, the only one allowed to write secrets; the app's own identity only reads them.
    identity = keys.resolve(script["identity"])
    assert identity["type"] == "UserAssigned"
    assert list(identity["userAssignedIdentities"]) == ["${scriptIdentity.id}"]
