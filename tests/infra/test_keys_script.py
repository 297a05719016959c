"""I3: the HMAC / encryption keys are created after provisioning by infra/scripts/ensure-keys.sh, azd's
postprovision hook, signed in as the deploying user; a re-provision never replaces them, and the app is
restarted when a key was created so its Key Vault references resolve. The script runs here against a fake
`az` (tests/infra/fake_az.py) that keeps the vault in a folder and logs every call."""
from __future__ import annotations

import base64
import json
import re

import pytest

from shared.settings import load_settings
from shared.settings_keys import parse_keys
from tests.infra import code_facts
from tests.infra.bicep_model import ROOT, Call, Param, infra, mutated
from tests.infra.keys_script import APP_NAME, RESOURCE_GROUP, SCRIPT, run_script, vault_folder

KEY_NAMES = ("mfa-hmac-keys", "mfa-encryption-keys")
WEBHOOK_SECRET_NAME = "mfa-webhook-secret"
NAMES = (*KEY_NAMES, WEBHOOK_SECRET_NAME)


@pytest.fixture
def vault(tmp_path):
    return vault_folder(tmp_path)


def leaked(vault, done, values) -> list[str]:
    """Every place a key value must never appear: output, error output (the hook's log), az arguments."""
    places = {"stdout": done.stdout, "stderr": done.stderr, "az arguments": json.dumps(vault.calls())}
    return [f"{value[:6]}... in {place}" for value in values for place, text in places.items()
            if value.split(":", 1)[1] in text]


def test_i3_creates_missing_keys_in_the_format_the_app_reads(vault):
    done = run_script(vault)
    assert done.returncode == 0, done.stderr
    values = [vault.secret(name) for name in KEY_NAMES]
    for name, value in zip(KEY_NAMES, values, strict=True):
        assert value is not None, f"{name} was not created"
        ((kid, key),) = parse_keys(name, value, in_azure=True)
        assert len(key) == 32 and kid.startswith("k")
    assert values[0] != values[1], "the HMAC and encryption keys must differ"
    webhook = vault.secret(WEBHOOK_SECRET_NAME)
    assert webhook is not None and webhook.startswith("whsec_")
    assert len(base64.b64decode(webhook[len("whsec_"):], validate=True)) == 32
    settings = load_settings({**code_facts.example_settings(), "MFA_WEBHOOK_URL": "https://hooks.example.com",
                              "MFA_WEBHOOK_SECRET": webhook, "WEBSITE_INSTANCE_ID": "x",
                              "MFA_HMAC_KEYS": values[0], "MFA_ENCRYPTION_KEYS": values[1]})
    assert settings.webhook_secret == webhook, "the app accepts the generated webhook secret"
    assert not leaked(vault, done, [*values, "whsec:" + webhook[len("whsec_"):]])
    assert "created [mfa-hmac-keys mfa-encryption-keys mfa-webhook-secret]" in done.stdout
    assert vault.restarts() == [f"{RESOURCE_GROUP}/{APP_NAME}"], "the app must restart once the keys exist"


def test_i3_a_redeploy_never_replaces_existing_keys(vault):
    assert run_script(vault).returncode == 0
    first = {name: vault.secret(name) for name in NAMES}
    writes, calls = len(vault.versions_written()), len(vault.calls())
    done = run_script(vault)
    assert done.returncode == 0, done.stderr
    assert {name: vault.secret(name) for name in NAMES} == first
    assert len(vault.versions_written()) == writes, "the second run wrote a new secret version"
    assert [c[2] for c in vault.calls()[calls:]] == ["list"], "a redeploy only lists secret names"
    assert "kept [mfa-hmac-keys mfa-encryption-keys mfa-webhook-secret]" in done.stdout
    assert len(vault.restarts()) == 1, "nothing changed: no restart"


def test_i3_only_the_missing_key_is_created_and_the_existing_one_is_never_read(vault):
    existing = "old1:" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
    vault.put("mfa-hmac-keys", existing)
    done = run_script(vault)
    assert done.returncode == 0, done.stderr
    assert vault.secret("mfa-hmac-keys") == existing
    assert vault.secret("mfa-encryption-keys") is not None
    assert vault.versions_written() == ["mfa-encryption-keys", WEBHOOK_SECRET_NAME]
    secret_calls = [call for call in vault.calls() if call[:2] == ["keyvault", "secret"]]
    assert all(call[2] in ("list", "list-deleted", "set") for call in secret_calls)
    assert not any(call[2] == "show" for call in vault.calls()), "the script must not read secret values"
    assert len(vault.restarts()) == 1


def test_i3_a_soft_deleted_key_is_recovered_not_replaced(vault):
    old = "old1:" + "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI="
    vault.put("mfa-encryption-keys", old, deleted=True)
    done = run_script(vault)
    assert done.returncode == 0, done.stderr
    assert vault.secret("mfa-encryption-keys") == old
    assert vault.versions_written() == ["mfa-hmac-keys", WEBHOOK_SECRET_NAME]
    assert "recovered [mfa-encryption-keys]" in done.stdout
    assert len(vault.restarts()) == 1


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


@pytest.mark.parametrize("restart", ["sometimes", "yes", "ALWAYS"])
def test_refuses_an_unknown_restart_mode(vault, restart):
    assert run_script(vault, RESTART=restart).returncode == 2
    assert not vault.calls()


def test_restart_always_restarts_without_changes_and_never_skips_it(vault):
    assert run_script(vault, RESTART="never").returncode == 0
    assert vault.restarts() == [] and all(vault.secret(name) for name in NAMES)
    assert run_script(vault, RESTART="always").returncode == 0
    assert vault.restarts() == [f"{RESOURCE_GROUP}/{APP_NAME}"]


def test_a_failed_restart_fails_the_hook_and_restart_always_finishes_the_job(vault):
    vault.fail_next_restarts(2)
    assert run_script(vault).returncode == 0, "a transient restart failure is retried"
    assert len(vault.restarts()) == 1
    other = vault_folder(vault.folder / "other")
    other.fail_next_restarts(100)
    done = run_script(other, RETRIES="3")
    assert done.returncode == 1 and "run again with RESTART=always" in done.stderr
    assert all(other.secret(name) for name in NAMES), "the keys stay created"
    other.fail_next_restarts(0)
    assert run_script(other).returncode == 0 and other.restarts() == [], "auto: nothing changed any more"
    assert run_script(other, RESTART="always").returncode == 0 and len(other.restarts()) == 1


def test_without_the_app_name_the_keys_are_made_and_the_hook_says_to_restart(vault):
    done = run_script(vault, AZURE_FUNCTION_APP_NAME="")
    assert done.returncode == 1 and "restart it yourself" in done.stderr
    assert all(vault.secret(name) for name in NAMES)


def test_the_restart_targets_azds_subscription_not_the_cli_default(vault):
    """The app lives in the azd environment's subscription (AZURE_SUBSCRIPTION_ID); az may default to another."""
    done = run_script(vault, AZURE_SUBSCRIPTION_ID="sub-of-azd", FAKE_SUBSCRIPTION="sub-of-azd")
    assert done.returncode == 0, done.stderr
    assert vault.restarts() == [f"{RESOURCE_GROUP}/{APP_NAME}"]


def test_explicit_names_override_the_azd_outputs(vault):
    done = run_script(vault, AZURE_KEY_VAULT_NAME="kv-elsewhere", VAULT_NAME="kv-test")
    assert done.returncode == 0, done.stderr


def hook(text: str) -> dict[str, str]:
    """The postprovision hook's settings for each platform in azure.yaml (a flat reading: no YAML library)."""
    block = re.search(r"^hooks:\n  postprovision:\n((?:    .*\n)+)", text, re.M)
    assert block, "azure.yaml needs a postprovision hook"
    platforms: dict[str, dict[str, str]] = {}
    current: dict[str, str] = {}
    for line in block.group(1).splitlines():
        if re.fullmatch(r"    (\w+):", line):
            current = platforms.setdefault(line.strip()[:-1], {})
        else:
            key, _, value = line.strip().partition(": ")
            current[key] = value
    return platforms


def test_i3_azd_runs_this_script_after_provisioning_and_stops_on_failure():
    platforms = hook((ROOT / "azure.yaml").read_text())
    assert set(platforms) == {"posix", "windows"}
    assert platforms["posix"]["run"] == f"bash {SCRIPT.relative_to(ROOT).as_posix()}"
    # Windows: the PowerShell wrapper, which runs this same script (tests/infra/test_deploy_files.py).
    assert platforms["windows"]["run"] == "./infra/scripts/ensure-keys.ps1"
    assert "Join-Path $PSScriptRoot 'ensure-keys.sh'" in (ROOT / "infra" / "scripts" / "ensure-keys.ps1").read_text()
    for settings in platforms.values():
        assert settings["continueOnError"] == "false", "a failed key hook must fail azd up"
        assert settings["interactive"] == "false"


def test_i3_the_hook_reads_outputs_main_bicep_declares_for_the_secrets_the_app_references():
    outputs = infra().main.template.outputs
    script = SCRIPT.read_text()
    for name in ("AZURE_KEY_VAULT_NAME", "AZURE_RESOURCE_GROUP", "AZURE_FUNCTION_APP_NAME"):
        assert f"${{{name}" in script and name in outputs, name
    default_names = re.search(r'SECRET_NAMES="\$\{SECRET_NAMES:-([^}]*)\}"', script).group(1).split()
    app_settings = infra().instance("modules/functionapp.bicep")
    referenced = {app_settings.symbol("hmacKeysSecretName"), app_settings.symbol("encryptionKeysSecretName"),
                  app_settings.symbol("webhookSecretName")}
    assert set(default_names) == referenced == set(NAMES)


def check_keys_by_deployer(inf) -> None:
    """No deployment script and no standing identity that can write secrets: Key Vault Secrets Officer is
    held only by the deploying principal (main.bicep principalId), on the vault, and only when it is given."""
    for instance in [inf.main, *(inf.main.module_instance(m) for m in inf.main.template.modules)]:
        assert not instance.template.resources_of_type("Microsoft.Resources/deploymentScripts"), instance.template.path
        assert not instance.template.resources_of_type("Microsoft.ContainerInstance/containerGroups")
    (deployer,) = inf.module_instances("modules/deployer.bicep")
    module = inf.main.template.modules[deployer.via]
    condition = inf.main.resolve(module["config"]["condition"])
    assert condition == Call("and", (("operand_1", Param("grantDeployerKeyAccess", {})), ("operand_2", Call("not", (
        ("value", Call("empty", (("value", Param("principalId", {})),))),))))), condition
    (assignment,) = deployer.template.resources_of_type("Microsoft.Authorization/roleAssignments").values()
    props = deployer.resolve(assignment["config"]["properties"])
    assert props["principalId"] == Param("principalId", {}) and props["principalType"] == Param("principalType", {})
    assert props["roleDefinitionId"].arg("resource_name_1") == "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
    assert assignment["config"]["scope"] == "vault"
    assert deployer.resolve(deployer.template.resources["vault"]["config"]["name"]) == \
        inf.main.follow(inf.main.symbol("keyVault"), ("outputs", "name"))


def test_i3_keys_are_written_only_by_the_deploying_principal():
    check_keys_by_deployer(infra())


@pytest.mark.parametrize(("path", "old", "new"), [
    ("modules/deployer.bicep", "principalId: principalId\n", "principalId: '00000000-0000-0000-0000-000000000000'\n"),
    ("modules/deployer.bicep", "var keyVaultSecretsOfficer = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'",
     "var keyVaultSecretsOfficer = '00482a5a-887f-4fb3-b363-3b7fe8e74483'"),
    ("main.bicep", "= if (grantDeployerKeyAccess && !empty(principalId)) {", "= if (!empty(principalId)) {"),
])
def test_the_deployer_check_fails_when_broken(path, old, new):
    broken = mutated(path, old, new)
    with pytest.raises((AssertionError, KeyError, ValueError)):
        check_keys_by_deployer(broken)


DEPLOYER = "00000000-0000-0000-0000-00000000d3b1"
VAULT_ID = "/subscriptions/sub/resourceGroups/rg-test/providers/Microsoft.KeyVault/vaults/kv-test"


def test_the_deployers_secrets_role_is_removed_once_the_keys_exist(vault):
    """Point 5 (operations): the standing Key Vault Secrets Officer assignment of the deploying identity is
    removed as soon as the keys exist; it is granted again only by the next provisioning."""
    done = run_script(vault, AZURE_PRINCIPAL_ID=DEPLOYER)
    assert done.returncode == 0, done.stderr
    assert all(vault.secret(name) for name in NAMES)
    assert vault.role_deletes() == [f"{DEPLOYER} b86a8fe4-44ce-4948-aee5-eccb2c155cd7 {VAULT_ID}"]
    assert "removed the deploying identity's Key Vault Secrets Officer role" in done.stdout


@pytest.mark.parametrize("env", [{"AZURE_PRINCIPAL_ID": DEPLOYER, "KEEP_DEPLOYER_ACCESS": "true"}, {}])
def test_the_role_is_kept_when_asked_or_when_no_deployer_is_known(vault, env):
    assert run_script(vault, **env).returncode == 0
    assert vault.role_deletes() == []


def test_a_failed_removal_warns_with_the_command_but_keeps_the_keys(vault):
    (vault.folder / "fail_role_deletes").write_text("1")
    done = run_script(vault, AZURE_PRINCIPAL_ID=DEPLOYER)
    assert done.returncode == 0 and all(vault.secret(name) for name in NAMES)
    assert "az role assignment delete --assignee " + DEPLOYER in done.stderr


def test_the_grant_is_a_parameter_the_hook_can_rely_on():
    """main.bicep grants the role only with a principal and grantDeployerKeyAccess (default true, so the first
    `azd up` can create the keys); false never grants it."""
    main = infra().main
    param = main.symbol("grantDeployerKeyAccess")
    assert param.spec["type"] == "bool" and param.default is True
    condition = str(main.resolve(main.template.modules["deployerAccess"]["config"]["condition"]))
    assert "grantDeployerKeyAccess" in condition and "principalId" in condition
