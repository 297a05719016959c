"""I1-I3 (and the Flex Consumption, admin-auth, publishing, environment, diagnostics and alert wiring)
asserted on the parsed Bicep.

Each requirement is a `check_*` function over a parsed `Infra`. The tests run it on infra/ as it is (it
must pass) and on copies with one property broken (it must fail), so every check is shown to bite.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.infra import code_facts
from tests.infra.alert_queries import log_alerts, parse
from tests.infra.bicep_model import (
    INFRA,
    MAIN,
    Access,
    Call,
    Choice,
    Infra,
    Instance,
    Param,
    Symbol,
    Template,
    Text,
    app_settings_of,
    bicep_sources,
    infra,
    mutated,
    parsed_infra,
)

ROLE = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
    "4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
    "b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
    "09976791-48a7-449e-bb21-39d1a415f350": "Communication and Email Service Owner",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
}
# App settings and site properties the Flex Consumption plan rejects or ignores (runtime and deployment
# moved to functionAppConfig).
FLEX_DEPRECATED_SETTINGS = {
    "FUNCTIONS_EXTENSION_VERSION", "FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_WORKER_RUNTIME_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE", "WEBSITE_CONTENTSHARE", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "WEBSITE_NODE_DEFAULT_VERSION", "SCM_DO_BUILD_DURING_DEPLOYMENT", "ENABLE_ORYX_BUILD",
    "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT", "AzureWebJobsStorage",
}
FLEX_DEPRECATED_SITE_CONFIG = {"linuxFxVersion", "alwaysOn", "functionAppScaleLimit", "preWarmedInstanceCount",
                               "use32BitWorkerProcess", "netFrameworkVersion", "javaVersion", "powerShellVersion"}
OUTPUT_SECRET_MARKERS = ("listkeys", "list_func", "function_accessor", "getsecret", "connectionstring", "secrets/",
                         "primarykey", "secondarykey", "instrumentationkey", "sas")
SECRETISH = re.compile(r"secret|password|passwd|token|connectionstring|credential|keys?$", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------------------
# helpers


def body(instance: Instance, symbol: str) -> dict[str, Any]:
    return instance.resolve(Template.body(instance.template.resources[symbol]))


def app(inf: Infra) -> Instance:
    return inf.instance("modules/functionapp.bicep")


def app_settings(inf: Infra) -> dict[str, Any]:
    return app_settings_of(app(inf))


def existing_name(instance: Instance, symbol: str) -> Any:
    resource = instance.template.resources[symbol]
    assert resource["existing"], f"{symbol} should be an `existing` reference"
    return instance.resolve(Template.body(resource)["name"])


def module_output(inf: Infra, module_symbol: str, output: str) -> Any:
    return inf.main.follow(Symbol(MAIN, "module", module_symbol), ("outputs", output))


def walk(value: Any, path: tuple[str, ...] = ()):
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, (*path, str(index)))


def all_instances(inf: Infra) -> list[Instance]:
    instances = [inf.main]
    for symbol in inf.main.template.modules:
        instances.append(inf.main.module_instance(symbol))
    return instances


def role_assignments(inf: Infra) -> list[dict[str, Any]]:
    """Every role assignment: principal, role name, and the resource type of its scope."""
    found = []
    for instance in all_instances(inf):
        for symbol, resource in instance.template.resources_of_type("Microsoft.Authorization/roleAssignments").items():
            config = Template.body(resource)
            definition = instance.resolve(config["properties"]["roleDefinitionId"])
            assert isinstance(definition, Call) and definition.name == "subscription_resource_id", symbol
            role_id = definition.arg("resource_name_1")
            scope = config.get("scope")
            scope_type = instance.template.resources[scope]["type"] if scope else "resourceGroup"
            found.append({
                "template": instance.template.path,
                "symbol": symbol,
                "principal": instance.resolve(config["properties"]["principalId"]),
                "role": ROLE.get(role_id, role_id),
                "scope": scope_type,
            })
    return found


def app_principal(inf: Infra) -> Any:
    return module_output(inf, "identity", "principalId")


# ---------------------------------------------------------------------------------------------------------
# checks


def check_i1_function_app(inf: Infra) -> None:
    fa = app(inf)
    site = body(fa, "site")
    props, config = site["properties"], site["properties"]["siteConfig"]
    assert props["httpsOnly"] is True, "I1: httpsOnly"
    assert config["minTlsVersion"] == "1.2", "I1: minTlsVersion 1.2"
    assert config["scmMinTlsVersion"] == "1.2", "I1: scmMinTlsVersion 1.2"
    assert config["ftpsState"] == "Disabled", "I1: ftpsState Disabled"
    assert config["remoteDebuggingEnabled"] is False, "I1: remote debugging off"
    for instance in all_instances(inf):
        for symbol in instance.template.resources:
            for path, value in walk(body(instance, symbol)):
                if path and path[-1] == "cors":
                    origins = value.get("allowedOrigins") or []
                    assert "*" not in origins, f"I1: CORS * in {instance.template.path}:{symbol}"
    for name, text in bicep_sources().items():
        assert not re.search(r"allowedOrigins\s*:\s*\[[^\]]*'\*'", text), f"I1: CORS * in {name}"
    # Managed identity: one user-assigned identity, also used for Key Vault references.
    identity = site["identity"]
    assert identity["type"] == "UserAssigned", "I1: managed identity"
    assert list(identity["userAssignedIdentities"]) == ["${appIdentity.id}"]
    assert isinstance(props["keyVaultReferenceIdentity"], Access)
    assert props["keyVaultReferenceIdentity"].text() == "appIdentity.id"
    assert existing_name(fa, "appIdentity") == module_output(inf, "identity", "name")


def check_flex_consumption(inf: Infra) -> None:
    fa = app(inf)
    plan = body(fa, "plan")
    assert plan["sku"] == {"tier": "FlexConsumption", "name": "FC1"} and plan["properties"]["reserved"] is True
    site = body(fa, "site")
    assert site["kind"] == "functionapp,linux"
    assert site["properties"]["serverFarmId"] == Access(Symbol(fa.template.path, "resource", "plan"), ("id",))
    function_config = site["properties"]["functionAppConfig"]
    assert function_config["runtime"] == {"name": "python", "version": "3.12"}
    storage = function_config["deployment"]["storage"]
    assert storage["type"] == "blobContainer"
    assert storage["authentication"]["type"] == "UserAssignedIdentity"
    assert storage["authentication"]["userAssignedIdentityResourceId"].text() == "appIdentity.id"
    blob, container = storage["value"].parts
    assert blob.text() == "storageAccount.properties.primaryEndpoints.blob"
    storage_module = inf.instance("modules/storage.bicep")
    assert container == storage_module.symbol("deploymentContainerName"), "deployment container not provisioned"
    assert body(storage_module, "deploymentContainer")["properties"]["publicAccess"] == "None"
    assert existing_name(fa, "storageAccount") == module_output(inf, "storage", "name")
    assert not (set(app_settings(inf)) & FLEX_DEPRECATED_SETTINGS), "settings Flex Consumption does not accept"
    assert not (set(site["properties"]["siteConfig"]) & FLEX_DEPRECATED_SITE_CONFIG)
    assert "('azd-service-name', 'api')" in str(site["tags"]), "azd finds the app by its azd-service-name tag"


def check_i2_storage(inf: Infra) -> None:
    storage = inf.instance("modules/storage.bicep")
    props = body(storage, "storageAccount")["properties"]
    assert props["allowSharedKeyAccess"] is False, "I2: allowSharedKeyAccess false"
    assert props["allowBlobPublicAccess"] is False, "I2: no public blob access"
    assert props["minimumTlsVersion"] == "TLS1_2", "I2: TLS 1.2"
    assert props["supportsHttpsTrafficOnly"] is True, "I2: https only"
    # The app reaches Storage as its managed identity, with data-plane roles only.
    settings = app_settings(inf)
    assert "AzureWebJobsStorage" not in settings, "I2: no connection string"
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    storage_roles = {(a["role"], a["scope"], str(a["principal"])) for a in role_assignments(inf)
                     if a["scope"].startswith("Microsoft.Storage/storageAccounts")}
    principal = str(app_principal(inf))
    assert storage_roles == {("Storage Blob Data Owner", "Microsoft.Storage/storageAccounts", principal),
                             ("Storage Queue Data Contributor", "Microsoft.Storage/storageAccounts", principal),
                             ("Storage Table Data Contributor", "Microsoft.Storage/storageAccounts/tableServices/tables",
                              principal)}, f"I2: storage roles {storage_roles}"
    for name, text in bicep_sources().items():
        for forbidden in ("listKeys", "listAccountSas", "listServiceSas", "AccountKey=", "DefaultEndpointsProtocol"):
            assert forbidden.lower() not in text.lower(), f"I2: {forbidden} in {name}"


def check_app_identity_roles(inf: Infra) -> None:
    principal = str(app_principal(inf))
    roles = {(a["role"], a["scope"]) for a in role_assignments(inf) if str(a["principal"]) == principal}
    assert roles == {
        ("Storage Blob Data Owner", "Microsoft.Storage/storageAccounts"),
        ("Storage Queue Data Contributor", "Microsoft.Storage/storageAccounts"),
        ("Storage Table Data Contributor", "Microsoft.Storage/storageAccounts/tableServices/tables"),
        ("Key Vault Secrets User", "Microsoft.KeyVault/vaults"),
        ("Communication and Email Service Owner", "Microsoft.Communication/communicationServices"),
        ("Monitoring Metrics Publisher", "Microsoft.Insights/components"),
    }, f"the app identity's roles changed: {sorted(roles)}"
    others = {(a["role"], a["scope"], a["principal"]) for a in role_assignments(inf) if str(a["principal"]) != principal}
    assert others == {("Key Vault Secrets Officer", "Microsoft.KeyVault/vaults", Param("principalId", {}))}, (
        f"only the deploying principal may write secrets: {others}")
    roles_module = inf.instance("modules/roles.bicep")
    for symbol, resource_type in (("storageAccount", "storage"), ("vault", "keyVault")):
        assert existing_name(roles_module, symbol) == module_output(inf, resource_type, "name"), symbol
    # Point 5 (operations): the table role covers the state table only, the one the app is told to use.
    assert existing_name(roles_module, "stateTable") == Param("tableName", {}) == app_settings(inf)["MFA_TABLE_NAME"]
    # The SMS role is on the Communication Services resource the app sends through (created or existing).
    sms = inf.instance("modules/sms-role.bicep")
    assert existing_name(sms, "communication") == inf.main.symbol("acsName")



def check_i3_secrets(inf: Infra) -> None:
    vault = body(inf.instance("modules/keyvault.bicep"), "vault")["properties"]
    assert vault["enableRbacAuthorization"] is True, "I3: Key Vault RBAC"
    assert vault["enableSoftDelete"] is True, "I3: soft delete"
    assert vault["enablePurgeProtection"] is True, "I3: purge protection"
    assert vault["softDeleteRetentionInDays"] >= 7
    assert "accessPolicies" not in vault, "I3: RBAC only, no access policies"
    fa = app(inf)
    assert existing_name(fa, "vault") == module_output(inf, "keyVault", "name")
    settings = app_settings(inf)
    for name in ("MFA_HMAC_KEYS", "MFA_ENCRYPTION_KEYS"):
        value = settings[name]
        assert isinstance(value, Text), f"I3: {name} must be a Key Vault reference"
        prefix, vault_uri, middle, secret, suffix = value.parts
        assert (prefix, middle, suffix) == ("@Microsoft.KeyVault(SecretUri=", "secrets/", "/)"), f"I3: {name}"
        assert vault_uri.text() == "vault.properties.vaultUri" and re.fullmatch(r"[a-z0-9-]+", secret)
    assert "ACS_ACCESS_KEY" not in settings, "I3: no ACS key in Azure"
    for instance in all_instances(inf):
        template = instance.template
        assert not template.resources_of_type("Microsoft.KeyVault/vaults/secrets"), (
            f"I3: a secret written from a template value in {template.path}")
        for name, spec in template.params.items():
            secure = any(d["type"] == "secure" for d in spec.get("decorators") or [])
            assert not (secure and spec.get("default") not in (None, "")), f"I3: secure default {template.path}:{name}"
            if SECRETISH.search(name) and not re.search(r"(Name|Names|Uri|ClientId)$", name):
                raise AssertionError(f"I3: parameter {template.path}:{name} looks like a secret")
        for name, output in template.outputs.items():
            assert not SECRETISH.search(name) or name.endswith(("Name", "NAME", "CLIENT_ID", "clientId")), (
                f"I3: output {template.path}:{name} is named like a secret")
            text = json.dumps(output["value"]).lower()
            for marker in OUTPUT_SECRET_MARKERS:
                assert marker not in text, f"I3: output {template.path}:{name} exposes {marker}"
    acs = body(inf.instance("modules/communication.bicep"), "communication")["properties"]
    assert acs["disableLocalAuth"] is True, "ACS access keys must be off (managed identity only)"
    monitoring = inf.instance("modules/monitoring.bicep")
    assert body(monitoring, "appInsights")["properties"]["DisableLocalAuth"] is True
    assert body(monitoring, "workspace")["properties"]["features"]["disableLocalAuth"] is True
    auth = settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
    assert isinstance(auth, Text) and auth.parts[1].text() == "appIdentity.properties.clientId"
    assert auth.parts[-1] == ";Authorization=AAD"


def check_admin_auth(inf: Infra) -> None:
    fa = app(inf)
    auth = body(fa, "authSettings")
    assert Template.body(fa.template.resources["authSettings"])["name"] == "authsettingsV2"
    client_id = Param("adminAuthClientId", {})
    enabled = Call("not", (("value", Call("empty", (("value", client_id),))),))
    props = auth["properties"]
    assert isinstance(props, Choice) and props.condition == enabled, "auth settings must follow adminAuthClientId"
    assert props.when_false == {"platform": {"enabled": False}}, "Entra off: platform auth off, nothing half-filled"
    on = props.when_true
    assert on["platform"]["enabled"] is True
    aad = on["identityProviders"]["azureActiveDirectory"]
    assert aad["enabled"] is True and aad["registration"]["clientId"] == client_id
    issuer = aad["registration"]["openIdIssuer"]
    assert issuer.startswith("https://sts.windows.net/${tenant().tenantId}/"), "tokens from this tenant only"
    audiences = aad["validation"]["allowedAudiences"]
    assert Text("api://${adminAuthClientId}", ("api://", client_id)) in audiences
    # Function keys must keep working for applications: the platform must not demand a sign-in.
    assert on["globalValidation"] == {"requireAuthentication": False, "unauthenticatedClientAction": "AllowAnonymous"}
    assert on["httpSettings"]["requireHttps"] is True
    # The app fails closed when Entra protection is configured but the platform's authentication is not on.
    assert app_settings(inf)["MFA_ADMIN_ENTRA_REQUIRED"] == Choice(enabled, "true", "false")
    role = app_settings(inf)["MFA_ADMIN_ROLE"]
    example = {k: v for k, v in code_facts.example_settings().items() if k != "MFA_ADMIN_ROLE"}
    _, defaults = code_facts.recorded_settings(example)
    assert isinstance(role, Param) and role.default == defaults.admin_role
    main_param = inf.main.template.params["adminAuthClientId"]
    assert main_param.get("default") == "", "admin Entra auth must be optional: empty default"
    admin_functions = {b["function"]: b["authLevel"] for b in code_facts.function_bindings()
                       if b["type"] == "httpTrigger" and b["route"].startswith("v1/admin/")}
    assert admin_functions and set(admin_functions.values()) == {"ADMIN"}


def check_alerts(inf: Infra) -> None:
    """Point 1 (operations): one log alert per event the code writes (tests/infra/test_alert_signals.py runs
    the code behind each), one on failed executions, the availability test, and the SMS volume."""
    alerts = inf.instance("modules/alerts.bicep")
    entries = log_alerts(inf)
    events = set(code_facts.signal_events().values())
    counted = {parse(e["query"]).prefix.rstrip(":") for e in entries.values() if parse(e["query"]).table == "traces"}
    assert counted == events, f"log alerts count {sorted(counted)}, the code writes {sorted(events)}"
    assert [k for k, e in entries.items() if parse(e["query"]).table == "requests"] == ["failures"]
    for key in ("sms-failed", "crypto", "events-parked"):
        assert entries[key]["threshold"] == 0, f"{key}: one occurrence must fire"
    rule = body(alerts, "logAlert")["properties"]
    metric_alerts = [body(alerts, s)["properties"] for s in alerts.template.resources_of_type("Microsoft.Insights/metricAlerts")]
    sms = [m for m in metric_alerts for c in m["criteria"].get("allOf", [])
           if c["metricName"] == "APIRequestSMS" and c["metricNamespace"] == "Microsoft.Communication/CommunicationServices"
           and {"name": "Operation", "operator": "Include", "values": ["SMSMessageSent"]} in c["dimensions"]
           and {"name": "StatusCodeClass", "operator": "Include", "values": ["2xx"]} in c["dimensions"]]
    assert len(sms) == 1, "an alert on the SMS volume counted by Communication Services, successful sends only"
    assert sms[0]["scopes"][0].text() == "communication.id"
    assert sms[0]["windowSize"] == "PT1H"
    web_test = body(alerts, "healthTest")["properties"]
    assert web_test["Enabled"] is True and web_test["ValidationRules"]["ExpectedHttpStatusCode"] == 200
    assert len(web_test["Locations"]) >= 2
    for alert in (rule, *metric_alerts):
        assert alert["enabled"] is True
        groups = alert["actions"]["actionGroups"] if isinstance(alert["actions"], dict) else [
            a["actionGroupId"] for a in alert["actions"]]
        assert [g.text() for g in groups] == ["actionGroup.id"], "every alert notifies the action group"
    assert rule["scopes"][0].text() == "appInsights.id"
    assert existing_name(alerts, "appInsights") == module_output(inf, "monitoring", "appInsightsName")


def check_existing_acs(inf: Infra) -> None:
    """Point 3 (operations): with existingCommunicationServicesId set, no Communication Services resource is
    created (its number would die with the environment); the app sends through the one named, and gets its
    SMS role there, in that resource's subscription and group."""
    main = inf.main
    given = Param("existingCommunicationServicesId", {})
    condition = main.resolve(Template.condition(main.template.modules["communication"]))
    assert condition == Call("not", (("value", Call("not", (("value", Call("empty", (("value", given),))),))),)), (
        "the Communication Services resource must be created only without an existing one")
    scope = main.resolve(Template.body(main.template.modules["smsSender"])["scope"])
    assert isinstance(scope, Call) and scope.name == "resource_group"
    parts = Call("split", (("input_string", given), ("delimiter", "/")))
    for arg, index, own in (("subscription_id", 2, "subscription"), ("resource_group_name", 4, "rg-")):
        value = scope.arg(arg)
        assert isinstance(value, Choice) and value.when_true == Call("index_accessor", (("operand_1", parts), ("operand_2", index))), arg
        assert own in str(value.when_false), f"{arg}: without an existing resource, the environment's own"
    name = main.symbol("acsName")
    assert name.when_true == Call("last", (("arg_1", parts),))
    assert name.when_false == module_output(inf, "communication", "name") or mentions(name.when_false, "environmentName")
    assert app_settings(inf)["ACS_ENDPOINT"] == module_output(inf, "smsSender", "endpoint")
    alerts = Template.body(main.template.modules["alerts"])["params"]
    assert main.resolve(alerts["communicationId"]) == module_output(inf, "smsSender", "communicationId")


def check_publishing_credentials(inf: Infra) -> None:
    """Basic-auth publishing (FTP and SCM user/password) is off; deployments use Entra ID."""
    fa = app(inf)
    found = {}
    for symbol in fa.template.resources_of_type("Microsoft.Web/sites/basicPublishingCredentialsPolicies"):
        policy = body(fa, symbol)
        assert policy["parent"] == Symbol(fa.template.path, "resource", "site"), symbol
        found[policy["name"]] = policy["properties"]
    assert found == {"ftp": {"allow": False}, "scm": {"allow": False}}, found


def mentions(value: Any, param: str) -> bool:
    """Whether a resolved value is computed from main.bicep parameter `param`."""
    if isinstance(value, Param):
        return value.name == param
    if isinstance(value, Text):
        return any(mentions(p, param) for p in value.parts)
    if isinstance(value, Call):
        return any(mentions(v, param) for _, v in value.args)
    if isinstance(value, tuple | list):
        return any(mentions(v, param) for v in value)
    return False


def check_environments(inf: Infra) -> None:
    """Every named resource derives its name from environmentName (directly or through the
    resource token), so two azd environments in one subscription never share a resource; child and
    extension resources live under such a parent."""
    main = inf.main
    token = main.symbol("resourceToken")
    assert isinstance(token, Call) and mentions(token, "environmentName") and mentions(token, "location")
    assert "subscription" in str(token), "the token must include the subscription"
    rg = main.symbol("rgName")
    assert isinstance(rg, Choice) and mentions(rg.when_true, "environmentName"), "rg-<environmentName> by default"
    unscoped = 0
    for instance in all_instances(inf):
        for symbol, resource in instance.template.resources.items():
            config = Template.body(resource)
            if resource.get("existing") or "parent" in config or "scope" in config:
                continue
            if resource["type"] == "Microsoft.Resources/resourceGroups":
                continue
            name = instance.resolve(config["name"])
            assert mentions(name, "environmentName"), f"{instance.template.path}:{symbol} name {name!r} is shared"
            unscoped += 1
    assert unscoped >= 10
    location = main.template.params["location"]
    decorators = {d["type"]: d.get("argument") for d in location.get("decorators") or []}
    assert decorators["metadata"] == {"azd": {"type": "location"}}, "azd offers only the allowed regions"
    assert {"swedencentral", "eastus", "westeurope"} <= set(decorators["allowed"])
    assert not {"westindia", "chinanorth", "usgovvirginia"} & set(decorators["allowed"]), "no Flex Consumption there"


def check_vault_reprovision(inf: Infra) -> None:
    """The vault name carries keyVaultGeneration, so after `azd down` (which leaves the
    purge-protected vault soft-deleted under its name for 90 days) a new generation deploys at once."""
    vault = inf.instance("modules/keyvault.bicep")
    assert Template.body(vault.template.resources["vault"])["name"] == "name"
    name = vault.symbol("name")
    assert isinstance(name, Text) and mentions(name, "keyVaultGeneration") and mentions(name, "environmentName")
    generation = inf.main.symbol("keyVaultGeneration")
    assert generation.default == 1 and generation.decorator("max_value") <= 99
    # 'kv-' + 13-character token + '-' + at most two digits: within Key Vault's 24 characters.
    assert name.raw == "kv-${resourceToken}-${keyVaultGeneration}"


def check_diagnostics(inf: Infra) -> None:
    """Storage (table, queue), ACS SMS and Key Vault logs go to the one Log Analytics workspace."""
    workspace = module_output(inf, "monitoring", "workspaceId")
    found = {}
    for instance in all_instances(inf):
        for symbol in instance.template.resources_of_type("Microsoft.Insights/diagnosticSettings"):
            setting = body(instance, symbol)
            scope = instance.template.resources[Template.body(instance.template.resources[symbol])["scope"]]
            props = setting["properties"]
            assert props["workspaceId"] == workspace, f"{symbol}: logs must go to the workspace"
            logs = {log.get("category") or log.get("categoryGroup") for log in props["logs"] if log["enabled"] is True}
            found[scope["type"]] = logs
    assert found == {
        "Microsoft.Storage/storageAccounts/tableServices": {"StorageRead", "StorageWrite", "StorageDelete"},
        "Microsoft.Storage/storageAccounts/queueServices": {"StorageRead", "StorageWrite", "StorageDelete"},
        "Microsoft.Communication/communicationServices": {"SMSOperational"},
        "Microsoft.KeyVault/vaults": {"audit"},
    }, found


CHECKS: dict[str, Callable[[Infra], None]] = {
    "I1": check_i1_function_app,
    "flex": check_flex_consumption,
    "I2": check_i2_storage,
    "roles": check_app_identity_roles,
    "I3": check_i3_secrets,
    "admin": check_admin_auth,
    "alerts": check_alerts,
    "acs": check_existing_acs,
    "publishing": check_publishing_credentials,
    "environments": check_environments,
    "vault": check_vault_reprovision,
    "diagnostics": check_diagnostics,
}


# ---------------------------------------------------------------------------------------------------------
# the Bicep the offline tools can read


def test_every_bicep_file_parses_with_pycep():
    parsed = parsed_infra()
    assert MAIN in parsed and len(parsed) >= 9
    for name, data in parsed.items():
        assert data.get("resources") or data.get("modules"), f"{name} parsed to nothing"


def test_bicep_uses_only_syntax_checkov_and_pycep_read():
    for name, text in bicep_sources().items():
        assert not re.search(r"['\"](br|ts)[:/]", text), f"{name}: registry module (cannot be checked offline)"
        assert not re.search(r"^\s*(@export\(\)\s*)?type\s+\w+\s*=", text, re.M), f"{name}: user-defined type"
        assert "..." not in re.sub(r"//.*", "", text), f"{name}: spread"
        assert not re.search(r"\[\s*for\s[^\]]*:\s*if\s*\(", text), f"{name}: filtered loop"
        assert not re.search(r"^[ \t]+resource\s+\w+\s+'", text, re.M), f"{name}: nested child resource (use parent:)"
    assert not list(INFRA.rglob("*.bicepparam")), ".bicepparam cannot be parsed offline"
    for instance in all_instances(infra()):
        for module in instance.template.modules.values():
            assert (INFRA / module["detail"]["path"]).exists()


def test_security_properties_are_literal_so_checkov_can_read_them():
    """checkov cannot evaluate parameters or conditional resources: the properties it checks are literals
    on unconditional resources."""
    for instance in all_instances(infra()):
        for symbol, resource in instance.template.resources.items():
            assert Template.condition(resource) is None, f"{instance.template.path}:{symbol} is conditional"


@pytest.mark.parametrize("name", list(CHECKS))
def test_infra_meets(name):
    CHECKS[name](infra())


# ---------------------------------------------------------------------------------------------------------
# each check fails when the property it guards is broken

MUTATIONS = [
    ("I1", "modules/functionapp.bicep", "httpsOnly: true", "httpsOnly: false"),
    ("I1", "modules/functionapp.bicep", "minTlsVersion: '1.2'", "minTlsVersion: '1.0'"),
    ("I1", "modules/functionapp.bicep", "ftpsState: 'Disabled'", "ftpsState: 'AllAllowed'"),
    ("I1", "modules/functionapp.bicep", "remoteDebuggingEnabled: false", "remoteDebuggingEnabled: true"),
    ("I1", "modules/functionapp.bicep", "http20Enabled: true\n",
     "http20Enabled: true\n      cors: {\n        allowedOrigins: [\n          '*'\n        ]\n      }\n"),
    ("I1", "modules/functionapp.bicep", "type: 'UserAssigned'\n    userAssignedIdentities: {\n      '${appIdentity.id}': {}\n    }",
     "type: 'SystemAssigned'"),
    ("flex", "modules/functionapp.bicep", "version: pythonVersion", "version: '3.11'"),
    ("flex", "modules/functionapp.bicep", "name: 'FC1'", "name: 'Y1'"),
    ("I2", "modules/storage.bicep", "allowSharedKeyAccess: false", "allowSharedKeyAccess: true"),
    ("I2", "modules/storage.bicep", "allowBlobPublicAccess: false", "allowBlobPublicAccess: true"),
    ("I2", "modules/storage.bicep", "minimumTlsVersion: 'TLS1_2'", "minimumTlsVersion: 'TLS1_1'"),
    ("I2", "modules/storage.bicep", "supportsHttpsTrafficOnly: true", "supportsHttpsTrafficOnly: false"),
    ("I2", "modules/roles.bicep", "var storageQueueDataContributor = '974c5e8b-45b9-4653-ba55-5f855dd0fb88'",
     "var storageQueueDataContributor = '17d1049b-9a84-46fb-8f53-869881c3d3ab'"),
    ("I2", "modules/functionapp.bicep", "__credential: 'managedidentity'", "__credential: 'connectionstring'"),
    ("roles", "modules/roles.bicep", "var keyVaultSecretsUser = '4633458b-17de-408a-b874-0445c86b69e6'",
     "var keyVaultSecretsUser = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'"),
    ("I3", "modules/keyvault.bicep", "enablePurgeProtection: true", "enablePurgeProtection: false"),
    ("I3", "modules/keyvault.bicep", "enableRbacAuthorization: true", "enableRbacAuthorization: false"),
    ("I3", "modules/keyvault.bicep", "enableSoftDelete: true", "enableSoftDelete: false"),
    ("I3", "modules/functionapp.bicep", "MFA_HMAC_KEYS: '@Microsoft.KeyVault(SecretUri=${vault.properties.vaultUri}secrets/${hmacKeysSecretName}/)'",
     "MFA_HMAC_KEYS: 'k1:abc'"),
    ("I3", "main.bicep", "param resourceGroupName string = ''",
     "param resourceGroupName string = ''\n\n@secure()\nparam hmacKeys string = 'k1:abc'"),
    ("I3", "main.bicep", "output AZURE_LOCATION string = location",
     "output AZURE_LOCATION string = location\noutput APPI string = functionApp.outputs.name.listKeys()"),
    ("I3", "modules/communication.bicep", "disableLocalAuth: true", "disableLocalAuth: false"),
    ("I3", "modules/monitoring.bicep", "DisableLocalAuth: true", "DisableLocalAuth: false"),
    ("admin", "modules/functionapp.bicep", "unauthenticatedClientAction: 'AllowAnonymous'",
     "unauthenticatedClientAction: 'RedirectToLoginPage'"),
    ("admin", "modules/functionapp.bicep", "properties: adminAuthEnabled ? {", "properties: true ? {"),
    ("admin", "modules/functionapp.bicep", "  } : {\n    platform: {\n      enabled: false\n    }\n  }",
     "  } : {\n    platform: {\n      enabled: false\n    }\n    identityProviders: {}\n  }"),
    ("admin", "modules/functionapp.bicep", "MFA_ADMIN_ENTRA_REQUIRED: adminAuthEnabled ? 'true' : 'false'",
     "MFA_ADMIN_ENTRA_REQUIRED: 'false'"),
    ("alerts", "modules/alerts.bicep", 'startswith "twostep.sms.delivery_failed:"', 'startswith "twostep.sms.failed:"'),
    ("alerts", "modules/alerts.bicep", "    query: 'traces | where message startswith \"crypto_failure:\"'\n    threshold: 0",
     "    query: 'traces | where message startswith \"crypto_failure:\"'\n    threshold: 5"),
    ("alerts", "modules/alerts.bicep", "      ExpectedHttpStatusCode: 200", "      ExpectedHttpStatusCode: 503"),
    ("alerts", "modules/alerts.bicep", "metricName: 'APIRequestSMS'", "metricName: 'APIRequestChat'"),
    ("alerts", "modules/alerts.bicep", "                '2xx'", "                '4xx'"),
    ("acs", "main.bicep", "module communication 'modules/communication.bicep' = if (!useExistingAcs) {",
     "module communication 'modules/communication.bicep' = {"),
    ("acs", "main.bicep", "var acsResourceGroupName = useExistingAcs ? acsIdParts[4] : rgName", "var acsResourceGroupName = rgName"),
    ("acs", "modules/functionapp.bicep", "  ACS_ENDPOINT: acsEndpoint\n", "  ACS_ENDPOINT: 'https://acs.example'\n"),
    ("roles", "modules/roles.bicep", "  scope: stateTable\n", "  scope: storageAccount\n"),
    ("publishing", "modules/functionapp.bicep", "name: 'scm'\n  properties: {\n    allow: false",
     "name: 'scm'\n  properties: {\n    allow: true"),
    ("publishing", "modules/functionapp.bicep", "name: 'ftp'\n", "name: 'ftp2'\n"),
    ("environments", "main.bicep", "var functionAppName = 'func-${environmentName}-${resourceToken}'",
     "var functionAppName = 'func-twostep'"),
    ("environments", "main.bicep", "var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))",
     "var resourceToken = toLower(uniqueString(subscription().id, location))"),
    ("environments", "modules/alerts.bicep", "name: 'alert-${namePrefix}-health'", "name: 'alert-health'"),
    ("environments", "main.bicep", "@metadata({\n  azd: {\n    type: 'location'", "@metadata({\n  azd: {\n    type: 'string'"),
    ("vault", "main.bicep", "name: 'kv-${resourceToken}-${keyVaultGeneration}'", "name: 'kv-${resourceToken}'"),
    ("diagnostics", "modules/storage.bicep", "    category: 'StorageWrite'\n", "    category: 'Transaction'\n"),
    ("diagnostics", "modules/communication.bicep", "category: 'SMSOperational'", "category: 'ChatOperational'"),
    ("diagnostics", "modules/storage.bicep", "  scope: queueService\n", "  scope: blobService\n"),
]


@pytest.mark.parametrize(("check", "path", "old", "new"), MUTATIONS,
                         ids=[f"{m[0]}-{m[1].split('/')[-1]}-{i}" for i, m in enumerate(MUTATIONS)])
def test_check_fails_when_its_property_is_broken(check, path, old, new):
    broken = mutated(path, old, new)
    with pytest.raises(AssertionError):
        CHECKS[check](broken)
