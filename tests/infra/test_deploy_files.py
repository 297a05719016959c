"""infra/main.parameters.json, azure.yaml and docs/deploy.md agree with infra/main.bicep."""
from __future__ import annotations

import json
import re

from tests.infra.bicep_model import INFRA, ROOT, Param, infra, param_of

AZD_PARAMETERS = INFRA / "main.parameters.json"  # azd reads main.parameters.json next to main.bicep
AZ_PARAMETERS = INFRA / "main.azcli.parameters.json"  # for az deployment sub create (no substitution)
DEPLOY_DOC = ROOT / "docs" / "deploy.md"
# ${NAME} or ${NAME=default}: azd fills these from the environment (.azure/<env>/.env) before deploying.
AZD_VARIABLE = re.compile(r"^\$\{([A-Z][A-Z0-9_]*)(?:=([^}]*))?\}$")


def main_params() -> dict[str, Param]:
    main = infra().main
    return {name: main.symbol(name) for name in main.template.params}


def check_value(name: str, value, param: Param) -> None:
    expected_type = {"string": str, "int": int, "bool": bool}[param.spec["type"]]
    assert isinstance(value, expected_type), f"{name} should be {param.spec['type']}"
    if param.decorator("allowed"):
        assert value in param.decorator("allowed"), name
    if isinstance(value, int):
        low, high = param.decorator("min_value"), param.decorator("max_value")
        assert (low is None or value >= low) and (high is None or value <= high), name
    if isinstance(value, str):
        low, high = param.decorator("min_length"), param.decorator("max_length")
        assert (low is None or len(value) >= low) and (high is None or len(value) <= high), name


def values_of(path) -> dict:
    values = json.loads(path.read_text())["parameters"]
    unknown = set(values) - set(main_params())
    assert not unknown, f"{path.name}: unknown parameters {sorted(unknown)}"
    for name, entry in values.items():
        assert set(entry) == {"value"}, f"{name}: plain values only (no Key Vault references or secrets)"
    return {name: entry["value"] for name, entry in values.items()}


def test_az_parameters_file_sets_only_main_parameters_with_allowed_values():
    params = main_params()
    for name, value in values_of(AZ_PARAMETERS).items():
        check_value(name, value, params[name])
        assert not (isinstance(value, str) and "${" in value), f"{name}: az deployment does not substitute variables"
    required = {name for name, param in params.items() if not param.has_default}
    assert required == {"otpHost", "acsSender"}, "only operator facts may be required (both tools prompt)"


def test_azd_parameters_come_from_the_azd_environment():
    """Azd's own variables name the environment, region and deploying principal, so `azd env new`
    gives a separate resource group and separate resources; a variable's default obeys the parameter."""
    params = main_params()
    values = values_of(AZD_PARAMETERS)
    assert values["environmentName"] == "${AZURE_ENV_NAME}"
    assert values["location"] == "${AZURE_LOCATION}"
    assert values["principalId"] == "${AZURE_PRINCIPAL_ID}"
    for name, value in values.items():
        match = AZD_VARIABLE.match(value) if isinstance(value, str) else None
        if not match:
            check_value(name, value, params[name])
            continue
        default = match.group(2)
        if default is not None:
            check_value(name, typed(default, params[name]), params[name])
    assert not {"otpHost", "acsSender"} & set(values), "azd prompts for these and keeps them per environment"


def typed(text: str, param: Param):
    kind = param.spec["type"]
    return int(text) if kind == "int" else (text == "true") if kind == "bool" else text


def test_every_parameter_can_differ_per_azd_environment():
    """Point 2 (operations): every parameter is read from an azd environment variable (otpHost and acsSender
    are asked for and kept per environment by azd itself), with the template's own default, so a second
    environment needs `azd env set`, never an edit of a shared file. A parameter that feeds an app setting
    is read from the variable of that setting's name."""
    params = main_params()
    values = values_of(AZD_PARAMETERS)
    assert set(values) == set(params) - {"otpHost", "acsSender"}, sorted(set(params) - set(values))
    settings = infra().main.symbol("appSettings")
    setting_of = {param_of(v).name: k for k, v in settings.items() if param_of(v) is not None}
    for name, value in values.items():
        match = AZD_VARIABLE.match(value) if isinstance(value, str) else None
        assert match, f"{name}: {value!r} is fixed for every environment"
        variable, default = match.group(1), match.group(2)
        if name in setting_of:
            assert variable == setting_of[name], f"{name} feeds {setting_of[name]}: read it from that variable"
        if name in ("environmentName", "location", "principalId"):
            continue  # azd's own variables, always set
        assert default is not None, f"{name}: ${{{variable}}} without a default"
        param = params[name]
        expected = param.default if param.has_default else ""
        assert typed(default, param) == expected, f"{name}: default {default!r} is not the template's {expected!r}"
    variables = [AZD_VARIABLE.match(v).group(1) for v in values.values()]
    assert len(variables) == len(set(variables)), "two parameters read one variable"


def test_azure_yaml_deploys_this_app_to_the_function_app_infra_creates():
    text = (ROOT / "azure.yaml").read_text()
    assert re.search(r"^infra:\n(  .*\n)*  path: infra\n", text, re.M)
    assert re.search(r"^  provider: bicep$", text, re.M) and re.search(r"^  module: main$", text, re.M)
    service = re.search(r"^services:\n  (\w+):\n((    .*\n)+)", text, re.M)
    assert service, "azure.yaml needs one service"
    name, body = service.group(1), service.group(2)
    assert "    project: .\n" in body and "    language: python\n" in body and "    host: function\n" in body
    app = infra().instance("modules/functionapp.bicep")
    site_tags = str(app.resolve(app.template.resources["site"]["config"]["tags"]))
    assert f"('azd-service-name', '{name}')" in site_tags, "azd finds the app through this tag"


def test_deploy_doc_covers_every_parameter_and_every_operation():
    doc = DEPLOY_DOC.read_text()
    for name in main_params():
        assert f"`{name}`" in doc, f"docs/deploy.md does not document parameter {name}"
    headings = [h.lower() for h in re.findall(r"^#+ (.+)$", doc, re.M)]
    for topic in ("prerequisites", "first deploy", "second environment", "azd down", "after the first deploy",
                  "what gets created", "function key", "admin role", "rotate the keys", "poison queue",
                  "cost per million"):
        assert any(topic in h for h in headings), f"docs/deploy.md has no section on {topic}"
    for price_item in ("GB-s", "per million executions", "per 10,000 transactions", "per segment"):
        assert price_item in doc, f"the cost estimate should state the price it assumes for {price_item}"


# Variables azd itself knows (set by azd or read by it), as opposed to ones main.parameters.json reads.
AZD_BUILTINS = {"AZURE_LOCATION", "AZURE_SUBSCRIPTION_ID", "AZURE_ENV_NAME", "AZURE_PRINCIPAL_ID"}


def test_deploy_doc_sets_only_variables_the_parameters_file_reads_and_names_each():
    doc = DEPLOY_DOC.read_text()
    read = {AZD_VARIABLE.match(v).group(1) for v in values_of(AZD_PARAMETERS).values()
            if isinstance(v, str) and AZD_VARIABLE.match(v)}
    set_in_doc = set(re.findall(r"azd env set ([A-Z_]+) ", doc))
    assert set_in_doc, "docs/deploy.md shows no azd env set"
    assert set_in_doc <= read | AZD_BUILTINS, f"the doc sets variables nothing reads: {sorted(set_in_doc - read - AZD_BUILTINS)}"
    undocumented = sorted(name for name in read - {"AZURE_ENV_NAME"} if f"`{name}`" not in doc and name not in set_in_doc)
    assert not undocumented, f"docs/deploy.md does not name the azd variables {undocumented}"
    for command in ("azd env new prod", "azd down --force", "azd env set KEY_VAULT_GENERATION 2",
                    "azd hooks run postprovision", "/api/health", "X-MS-CLIENT-PRINCIPAL: $FORGED"):
        assert command in doc, f"docs/deploy.md lacks the exact command {command!r}"


def test_funcignore_keeps_the_azd_environment_out_of_the_package():
    """.azure/ holds each environment's settings (and azd's state): never part of the deployed app."""
    lines = {line.strip().rstrip("/") for line in (ROOT / ".funcignore").read_text().splitlines()}
    assert ".azure" in lines


def test_every_main_parameter_is_bounded():
    """Strings carry a length bound or an @allowed list, integers a minimum and a maximum, so a
    value the code would refuse (or a resource name would not fit) fails at validation, not at start-up."""
    loose = []
    for name, param in main_params().items():
        kind = param.spec["type"]
        if param.decorator("allowed"):
            continue
        if kind == "string" and param.decorator("max_length") is None:
            loose.append(name)
        if kind == "int" and (param.decorator("min_value") is None or param.decorator("max_value") is None):
            loose.append(name)
    assert not loose, f"parameters without bounds: {loose}"
    params = main_params()
    # Where the code has a bound of its own, the parameter's is the same (shared/settings.py).
    assert (params["tableName"].decorator("min_length"), params["tableName"].decorator("max_length")) == (3, 63)
    assert params["totpIssuer"].decorator("max_length") == 64
    assert params["otpHost"].decorator("max_length") == 253


def test_the_windows_hook_does_not_depend_on_which_bash_is_first_on_path():
    """Point 7 (operations): on Windows azd runs a PowerShell script that locates Git for Windows' bash by its
    install location (or TWOSTEP_BASH), never a bare `bash` (C:\\Windows\\System32\\bash.exe is WSL, without the
    Windows az login), and says what to install when there is none."""
    text = (ROOT / "azure.yaml").read_text()
    windows = re.search(r"^    windows:\n((      .*\n)+)", text, re.M)
    assert windows and "      shell: pwsh\n" in windows.group(1)
    assert "      run: ./infra/scripts/ensure-keys.ps1\n" in windows.group(1)
    posix = re.search(r"^    posix:\n((      .*\n)+)", text, re.M)
    assert posix and "run: bash infra/scripts/ensure-keys.sh" in posix.group(1)
    script = (INFRA / "scripts" / "ensure-keys.ps1").read_text()
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"(^|[&;|]\s*)bash(\.exe)?\s", code, re.M), "a bare bash would be the first on PATH"
    assert "& $bash $script" in code and "exit $LASTEXITCODE" in code
    for place in ("TWOSTEP_BASH", "Get-Command git", "Git\\bin\\bash.exe", "ProgramFiles", "LOCALAPPDATA"):
        assert place in code, place
    assert "\\\\System32\\\\" in code, "WSL's bash.exe is refused"
    assert "Install Git for Windows" in code and "exit 1" in code
