"""I5: every app setting the code reads, and every table and queue it uses, is provisioned by infra/; and
local.settings.example.json lists the same settings.

The settings come from the code (tests/infra/code_facts.py: recorded while load_settings runs, plus a scan
of the source), the triggers from the Function App's own metadata. The only names written here are the
exceptions, each with its reason.
"""
from __future__ import annotations

import re
import sys
from typing import Any

import pytest

from tests.infra import code_facts
from tests.infra.bicep_model import Access, Call, Choice, Instance, Param, Text, app_settings_of, infra
from tests.infra.keys_script import run_script, vault_folder

# Set by the platform itself, never by infra or the example file.
PLATFORM_SETTINGS = {
    "WEBSITE_INSTANCE_ID": "set by App Service on every instance; shared/kernel/environment.py running_in_azure reads it",
    "WEBSITE_AUTH_ENABLED": "set by App Service when authentication (authsettingsV2) is on",
    "WEBSITE_SITE_NAME": "set by App Service on every instance; either marker makes running_in_azure true",
}
# Test-only settings need no entry: DEVHOST_CLOCK_FILE (and the DEVHOST_* keys) are read by tools/devhost/
# alone, which the code scan does not cover; shared/kernel/clock.py refuses the clock it installs in Azure.
# Local development only: in Azure they are replaced by managed-identity settings.
LOCAL_ONLY_SETTINGS = {
    "AzureWebJobsStorage": "Azurite connection string; Azure uses the identity-based AzureWebJobsStorage__*",
    "ACS_ACCESS_KEY": "key of the local SMS emulator; Azure sends with the managed identity (local auth off)",
    "MFA_TRY_SMS_INBOX_URL": "the try-it page's SMS inbox (the local emulator); in Azure the page has none",
}
# Azure only: the managed identity the SDKs use in place of the local keys above.
AZURE_ONLY_SETTINGS = {
    "AZURE_CLIENT_ID": "client id of the user-assigned identity; locally ACS_ACCESS_KEY is used instead",
}
# Read by the Functions host / Core Tools, not by the app's code. Flex Consumption sets the runtime in
# functionAppConfig and does not accept FUNCTIONS_WORKER_RUNTIME as an app setting.
HOST_LOCAL_SETTINGS = {
    "FUNCTIONS_WORKER_RUNTIME": "Core Tools / dev host runtime selector; Flex uses functionAppConfig.runtime",
    "AzureWebJobsFeatureFlags": "EnableWorkerIndexing for older Core Tools; default on current hosts",
}
# Values an operator supplies for the required parameters (sample values for this test).
OPERATOR_VALUES = {"otpHost": "login.example.com", "acsSender": "+18005550100"}
IDENTITY_CLIENT_ID = "11111111-2222-3333-4444-555555555555"
# What the platform fills in for resource properties the template reads.
RESOURCE_PROPERTIES = {
    ("storageAccount", "properties.primaryEndpoints.blob"): "https://stexample.blob.core.windows.net/",
    ("storageAccount", "properties.primaryEndpoints.queue"): "https://stexample.queue.core.windows.net/",
    ("storageAccount", "properties.primaryEndpoints.table"): "https://stexample.table.core.windows.net/",
    ("appIdentity", "properties.clientId"): IDENTITY_CLIENT_ID,
    ("appInsights", "properties.ConnectionString"): "InstrumentationKey=00000000-0000-0000-0000-000000000000",
    ("vault", "properties.vaultUri"): "https://kv-example.vault.azure.net/",
    ("communication", "properties.hostName"): "acs-example.unitedstates.communication.azure.com",
}
KEYVAULT_REFERENCE = re.compile(r"^@Microsoft\.KeyVault\(SecretUri=https://[^/]+/secrets/([A-Za-z0-9-]+)/?\)$")


def code_settings() -> set[str]:
    asked, result = code_facts.recorded_settings(code_facts.example_settings())
    assert not isinstance(result, Exception), f"load_settings refuses local.settings.example.json: {result}"
    return set(asked) | set(code_facts.static_settings())


def function_app() -> Instance:
    return infra().instance("modules/functionapp.bicep")


def infra_settings() -> dict[str, Any]:
    return app_settings_of(function_app())


def evaluate(value: Any, params: dict[str, Any]) -> Any:
    """A concrete value, as ARM would compute it, for main.bicep parameter values `params`."""
    if isinstance(value, Param):
        if value.name in params:
            return params[value.name]
        assert value.has_default, f"parameter {value.name} has no default and no test value"
        return value.default
    if isinstance(value, Call) and value.name == "string":
        inner = evaluate(value.arg("value"), params)
        return str(inner).lower() if isinstance(inner, bool) else str(inner)
    if isinstance(value, Choice):
        return evaluate(value.when_true if evaluate(value.condition, params) else value.when_false, params)
    if isinstance(value, Call) and value.name == "not":
        return not evaluate(value.arg("value"), params)
    if isinstance(value, Call) and value.name == "empty":
        return len(evaluate(value.arg("value"), params)) == 0
    if isinstance(value, Call) and value.name in ("min", "max"):
        numbers = [evaluate(v, params) for _, v in value.args]
        return min(numbers) if value.name == "min" else max(numbers)
    if isinstance(value, Text):
        return "".join(str(evaluate(part, params)) for part in value.parts)
    if isinstance(value, Access):
        key = (value.head.name, ".".join(value.path))
        assert key in RESOURCE_PROPERTIES, f"no stand-in for {value.text()}"
        return RESOURCE_PROPERTIES[key]
    assert isinstance(value, str | int), f"cannot evaluate {value!r}"
    return value


def params_in(value: Any) -> set[Param]:
    if isinstance(value, Param):
        return {value}
    if isinstance(value, Call):
        return set().union(*(params_in(v) for _, v in value.args))
    if isinstance(value, Text):
        return set().union(*(params_in(p) for p in value.parts))
    if isinstance(value, Choice):
        return params_in(value.condition) | params_in(value.when_true) | params_in(value.when_false)
    return set()


@pytest.fixture(scope="module")
def keys_vault(tmp_path_factory):
    """A vault the real ensure-keys.sh filled (through the fake az): what Key Vault references resolve to."""
    vault = vault_folder(tmp_path_factory.mktemp("vault"))
    done = run_script(vault)
    assert done.returncode == 0, done.stderr
    return vault


def azure_environment(keys_vault, **params: Any) -> dict[str, str]:
    """The environment the app sees in Azure: infra's app settings, Key Vault references resolved by the
    platform, plus what the platform adds itself."""
    values = {**OPERATOR_VALUES, **params}
    env = {}
    for name, value in infra_settings().items():
        text = str(evaluate(value, values))
        reference = KEYVAULT_REFERENCE.match(text)
        if reference:
            secret = keys_vault.secret(reference.group(1))
            assert secret is not None, f"{name} references secret {reference.group(1)}, which the key script does not create"
            text = secret
        env[name] = text
    env["WEBSITE_INSTANCE_ID"] = "0123456789abcdef"
    return env


def test_i5_every_setting_the_code_reads_is_provisioned_by_infra():
    provided = set(infra_settings())
    needed = code_settings() - set(PLATFORM_SETTINGS) - set(LOCAL_ONLY_SETTINGS)
    missing = sorted(needed - provided)
    assert not missing, f"the code reads these settings but infra/ does not set them: {missing}"


def test_i5_local_only_settings_are_not_in_azure_and_have_identity_based_replacements():
    settings = infra_settings()
    for name in LOCAL_ONLY_SETTINGS:
        assert name in code_settings(), f"{name} is listed as local-only but the code no longer reads it"
        assert name not in settings, f"{name} must not be set in Azure: {LOCAL_ONLY_SETTINGS[name]}"
    assert settings["AZURE_CLIENT_ID"] == settings["AzureWebJobsStorage__clientId"]
    assert isinstance(settings["AZURE_CLIENT_ID"], Access)
    assert settings["AZURE_CLIENT_ID"].text() == "appIdentity.properties.clientId"


SERVICE_OF_TRIGGER = {"queueTrigger": "queue", "queue": "queue", "blobTrigger": "blob", "blob": "blob",
                      "table": "table"}


def test_i5_trigger_connections_are_identity_based_settings():
    """Each binding's `connection` (AzureWebJobsStorage for the SMS queue triggers) resolves in Azure to
    <connection>__<service>ServiceUri + __credential=managedidentity + __clientId of the app's identity."""
    settings = infra_settings()
    connections = code_facts.trigger_connections()
    assert connections, "expected the queue triggers to name a connection"
    for connection, binding_types in connections.items():
        assert connection not in settings, f"{connection}: a connection string; use identity-based settings"
        assert settings.get(f"{connection}__credential") == "managedidentity"
        assert settings.get(f"{connection}__clientId") == settings["AZURE_CLIENT_ID"]
        for binding_type in binding_types:
            service = SERVICE_OF_TRIGGER[binding_type]
            uri = settings.get(f"{connection}__{service}ServiceUri")
            assert isinstance(uri, Access) and uri.path == ("properties", "primaryEndpoints", service), (
                f"{connection}__{service}ServiceUri must point at the storage account's {service} endpoint")
    # The host itself (leases, timer trigger locks, keys) needs blob on AzureWebJobsStorage.
    assert settings["AzureWebJobsStorage__blobServiceUri"].path == ("properties", "primaryEndpoints", "blob")


def test_i5_every_queue_the_code_uses_is_provisioned():
    storage = infra().instance("modules/storage.bicep")
    loop = storage.template.resources["queues"]["config"]["loop_type"]["detail"]
    provisioned = set(storage.symbol(loop["array_name"]))
    used = code_facts.queue_names()
    assert {"sms-outbox", "sms-outbox-poison"} <= used, "the code's queues were not found"
    assert used <= provisioned, f"queues used but not provisioned: {sorted(used - provisioned)}"
    body = storage.template.body(storage.template.resources["queues"])
    assert body["parent"] == "queueService" and body["name"] == loop["item_name"]


def test_i5_the_table_the_code_uses_is_provisioned_and_is_the_one_it_is_told_to_use():
    storage = infra().instance("modules/storage.bicep")
    table = storage.template.body(storage.template.resources["stateTable"])
    provisioned_table = storage.resolve(table["name"])
    configured_table = infra_settings()["MFA_TABLE_NAME"]
    assert isinstance(configured_table, Param) and configured_table == provisioned_table, (
        "MFA_TABLE_NAME and the table resource must come from the same parameter")
    example = code_facts.example_settings()
    without_table = {k: v for k, v in example.items() if k != "MFA_TABLE_NAME"}
    _, settings = code_facts.recorded_settings(without_table)
    assert configured_table.default == settings.table_name, "the tableName default must be the code's default"
    assert code_facts.literal_table_names() <= {configured_table.default}, "a table named in code is missing"


def test_i5_infra_settings_are_a_configuration_the_app_accepts(keys_vault):
    """Start the app's config loader on exactly what infra provides in Azure: it must accept it, in the
    identity-based mode, with the generated keys."""
    env = azure_environment(keys_vault)
    asked, settings = code_facts.recorded_settings(env)
    assert not isinstance(settings, Exception), f"the app refuses infra's settings: {settings}"
    assert settings.storage_connection_string is None
    assert settings.table_service_uri == RESOURCE_PROPERTIES[("storageAccount", "properties.primaryEndpoints.table")]
    assert settings.queue_service_uri == RESOURCE_PROPERTIES[("storageAccount", "properties.primaryEndpoints.queue")]
    assert settings.storage_client_id == settings.identity_client_id == IDENTITY_CLIENT_ID
    assert settings.acs_access_key is None
    assert settings.acs_endpoint.startswith("https://")
    assert len(settings.hmac_keys) == 1 and len(settings.hmac_keys[0][1]) == 32
    assert len(settings.encryption_keys) == 1 and len(settings.encryption_keys[0][1]) == 32
    assert settings.hmac_keys[0][1] != settings.encryption_keys[0][1]
    assert not settings.platform_auth_enabled
    assert set(asked) - set(env) <= set(PLATFORM_SETTINGS) | set(LOCAL_ONLY_SETTINGS), (
        "in Azure the code reads settings infra does not provide")


def test_i5_every_allowed_parameter_value_is_accepted_by_the_app(keys_vault):
    """A deployment cannot set a value the app would refuse at start-up: each integer parameter at its
    @minValue and @maxValue, and each @allowed value, goes through the app's own validation."""
    checked = 0
    for name, value in infra_settings().items():
        for param in params_in(value):
            candidates = {param.default} if param.has_default else set()
            for bound in ("min_value", "max_value"):
                if param.decorator(bound) is not None and param.spec.get("type") == "int":
                    candidates.add(param.decorator(bound))
            candidates.update(param.decorator("allowed") or [])
            for candidate in candidates - {None}:
                _, settings = code_facts.recorded_settings(azure_environment(keys_vault, **{param.name: candidate}))
                assert not isinstance(settings, Exception), (
                    f"{param.name}={candidate!r} (feeds {name}) is allowed by infra but refused by the app: {settings}")
                checked += 1
    assert checked >= 30, f"only {checked} parameter values checked"


@pytest.mark.parametrize(("client_id", "required"), [("", False), ("6f1c2b9e-3a4d-4e5f-8a7b-9c0d1e2f3a4b", True)])
def test_entra_protection_in_infra_makes_the_app_require_it(keys_vault, client_id, required):
    """AdminAuthClientId set -> MFA_ADMIN_ENTRA_REQUIRED=true, which the app reads as "refuse admin
    calls unless platform authentication is active"; empty -> false."""
    env = azure_environment(keys_vault, adminAuthClientId=client_id)
    _, settings = code_facts.recorded_settings(env)
    assert not isinstance(settings, Exception), settings
    assert settings.admin_entra_required is required


def test_local_settings_example_lists_the_same_settings():
    example = set(code_facts.example_settings())
    read = code_settings()
    identity_forms = {name for name in read if "__" in name and name.split("__")[0] in read}
    needed_locally = read - set(PLATFORM_SETTINGS) - set(AZURE_ONLY_SETTINGS) - identity_forms
    missing = sorted(needed_locally - example)
    assert not missing, f"local.settings.example.json lacks settings the code reads: {missing}"
    unknown = sorted(example - read - set(HOST_LOCAL_SETTINGS))
    assert not unknown, f"local.settings.example.json has settings nothing reads: {unknown}"


def test_the_consistency_checks_fail_on_a_missing_setting(monkeypatch):
    """The I5 check is real: drop one setting from infra and it fails."""
    settings = infra_settings()
    settings.pop("MFA_LOCKOUT_MINUTES")
    monkeypatch.setattr(sys.modules[__name__], "infra_settings", lambda: settings)
    with pytest.raises(AssertionError, match="MFA_LOCKOUT_MINUTES"):
        test_i5_every_setting_the_code_reads_is_provisioned_by_infra()


def test_table_accounts_infra_provisions_are_the_ones_the_app_derives(keys_vault):
    """Account i of the state table is named after the first plus `t<i>` in main.bicep, and the app, told
    only the count, derives exactly those endpoints from the first account's (identity-based, no key)."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "infra" / "main.bicep").read_text()
    first = re.search(r"module storage 'modules/storage\.bicep' = \{.*?params: \{\s*name: '([^']+)'", text, re.S)
    more = re.search(r"module tableAccounts 'modules/table-account\.bicep' = \[for i in [^:]+: \{.*?params: \{\s*"
                     r"name: '([^']+)'", text, re.S)
    assert first and more and more.group(1) == first.group(1) + "t${i}"
    _, settings = code_facts.recorded_settings(azure_environment(keys_vault, tableAccountCount=3))
    assert not isinstance(settings, Exception), settings
    assert settings.table_account_count == 3 and settings.table_accounts_previous is None
    assert settings.table_accounts == ("https://stexamplet1.table.core.windows.net",
                                       "https://stexamplet2.table.core.windows.net")
