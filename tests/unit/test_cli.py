"""twostepctl without a service (no network): exit-code mapping, configuration (loopback rule, key
precedence), route encoding, the local policy check, argument errors, that the CLI loads nothing of the
function app, and that docs/cli.md is the parser's help."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT
from twostepctl import helpdoc
from twostepctl.__main__ import main
from twostepctl.client import resolve, user_path
from twostepctl.exits import AUTH, REFUSED, UNREACHABLE, USAGE, CliError, for_status
from twostepctl.policy_shape import check, check_text


@pytest.mark.parametrize(("status", "problem", "code"), [
    (400, {"code": "invalid_request"}, REFUSED), (404, {"code": "not_found"}, REFUSED),
    (409, {"code": "not_enrolled"}, REFUSED), (413, {}, REFUSED), (429, {"code": "locked"}, REFUSED),
    (401, {}, AUTH), (403, {"code": "forbidden"}, AUTH), (403, {}, AUTH),
    (403, {"code": "step_up_required"}, REFUSED),  # a refusal of the request, not of the caller
    (500, {}, UNREACHABLE), (503, {"code": "unavailable"}, UNREACHABLE)])
def test_exit_code_of_each_answer(status, problem, code):
    assert for_status(status, problem) == code


@pytest.mark.parametrize("url", ["http://127.0.0.1:7071/api", "http://localhost:7071/api",
                                 "http://[::1]:7071/api", "http://127.9.9.9/api", "https://twostep.example.test/api"])
def test_loopback_or_https_is_accepted(url):
    assert resolve(url, None, None, False, 5, env={}).url == url


@pytest.mark.parametrize("url", ["http://twostep.example.test/api", "http://10.0.0.5/api", "http://[2001:db8::1]/api",
                                 "http://localhost.example.test/api", "http://127.0.0.1.nip.io/api"])
def test_plain_http_off_loopback_is_refused_unless_allowed(url):
    with pytest.raises(CliError) as refused:
        resolve(url, None, None, False, 5, env={})
    assert refused.value.exit_code == USAGE
    assert resolve(url, None, None, True, 5, env={}).url == url


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/api", "file:///etc/passwd", "http://127.0.0.1/api?code=k",
                                 "http://user:pw@127.0.0.1/api", "127.0.0.1:7071"])
def test_other_urls_are_usage_errors(url):
    with pytest.raises(CliError) as refused:
        resolve(url, None, None, True, 5, env={})
    assert refused.value.exit_code == USAGE


def test_flags_override_the_environment(tmp_path):
    env = {"TWOSTEP_URL": "https://env.example.test/api/", "TWOSTEP_MASTER_KEY": "env-key",
           "TWOSTEP_ENTRA_SCOPE": "api://env/admin"}
    config = resolve(None, None, None, False, 5, env=env)
    assert (config.url, config.master_key, config.entra_scope) == (
        "https://env.example.test/api", "env-key", "api://env/admin")
    key = tmp_path / "key"
    key.write_text("file-key\n")
    config = resolve("https://flag.example.test/api", str(key), "api://flag/admin", False, 5, env=env)
    assert (config.url, config.master_key, config.entra_scope) == (
        "https://flag.example.test/api", "file-key", "api://flag/admin")
    assert resolve(None, None, None, False, 5, env={}).url == "http://127.0.0.1:7071/api"


def test_user_ids_cannot_change_the_route():
    assert user_path("alice@contoso.com", "bypass") == "/v1/admin/users/alice@contoso.com/bypass"
    assert user_path("a/../../policy?x", "bypass") == "/v1/admin/users/a%2F..%2F..%2Fpolicy%3Fx/bypass"
    assert user_path("bob", "methods", "totp", "d/1#x") == "/v1/admin/users/bob/methods/totp/d%2F1%23x"


def test_policy_shape():
    assert check({"excludedGroups": ["break-glass"], "risk": {"none": "allow_skip", "low": "allow_skip",
                  "medium": "require_mfa", "high": "block"}, "lockout": {"threshold": 5, "resetMinutes": 15,
                  "lockMinutes": 15}, "trustedNetworks": [{"name": "hq", "cidrs": ["2001:db8::/48"]}],
                  "maxAttempts": 5}) == []
    assert check({}) == [("", "must be a non-empty JSON object of policy fields")]
    assert check([]) == [("", "must be a non-empty JSON object of policy fields")]
    fields = [f for f, _ in check({"colour": 1, "risk": {"none": "skip", "low": "allow_skip", "medium": "block",
                                                          "high": "block"}, "maxAttempts": True,
                                   "lockout": {"threshold": 1}, "excludedGroups": "staff",
                                   "trustedNetworks": [{"name": "a", "cidrs": ["10.0.0.1/8"]},
                                                       {"name": "a", "cidrs": []}, "x"]})]
    assert fields == ["colour", "trustedNetworks[0].cidrs[0]", "trustedNetworks[1].name", "trustedNetworks[1].cidrs",
                      "trustedNetworks[2]", "excludedGroups", "risk.none", "lockout", "maxAttempts"]
    assert check_text("{")[1][0][1].startswith("not JSON")


def test_argument_errors_are_exit_2(capsys):
    assert main(["bypass", "create", "alice@contoso.com"]) == USAGE  # --reason is required
    assert main(["methods", "remove", "alice@contoso.com", "email", "--reason", "x"]) == USAGE
    assert main(["access-pass", "issue", "alice@contoso.com", "--reason", "x", "--lifetime-minutes", "soon"]) == USAGE
    assert main([]) == USAGE
    assert main(["--help"]) == 0
    assert "exit codes:" in capsys.readouterr().out


def test_cli_loads_nothing_of_the_function_app():
    """twostepctl is a client of the API only: importing every module of it loads no shared/ or functions/."""
    script = ("import sys, pkgutil, importlib, twostepctl, twostepctl.commands, twostepctl.helpdoc\n"
              "for m in pkgutil.walk_packages(twostepctl.__path__, 'twostepctl.'): importlib.import_module(m.name)\n"
              "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('shared', 'functions', 'function_app')"
              " or n.startswith('azure'))\n"
              "assert not bad, bad")
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def test_docs_cli_md_is_the_parsers_help():
    text = helpdoc.DOC.read_text()
    assert helpdoc.BEGIN in text and helpdoc.END in text
    assert helpdoc.refreshed(text) == text, "docs/cli.md is stale: run .venv/bin/python -m twostepctl.helpdoc --write"


def test_the_function_app_ships_without_the_cli():
    """.funcignore leaves twostepctl/ out of the Functions package, and the app's runtime requirements do not
    carry the CLI's rich (requirements-dev.txt pins it)."""
    ignored = {line.strip().rstrip("/") for line in (ROOT / ".funcignore").read_text().splitlines()}
    assert "twostepctl" in ignored
    runtime = (ROOT / "requirements.txt").read_text().lower()
    assert "rich" not in runtime and "rich==" in (ROOT / "requirements-dev.txt").read_text()
