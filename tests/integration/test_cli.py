"""The admin CLI (twostepctl) against the dev host over HTTP, every verb group with its human and --json
output, and the error paths: the service's refusal (exit 1, its detail on stderr), a wrong key (exit 4),
a host that requires Entra ID (403 forbidden, exit 4), no service (exit 3), plain http off loopback
(exit 2); then a stand-in server for what the dev host never answers (a redirect, the Entra bearer token).
Most runs call main(argv) in-process; the entry point runs as `python -m twostepctl` in a subprocess."""
from __future__ import annotations

import base64
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import types

import pytest

from tests.conftest import MASTER_KEY, ROOT
from tests.integration.api_client import Api, fresh_phone, pinned_api
from twostepctl.__main__ import main
from twostepctl.exits import UNREACHABLE

PASS_RE = re.compile(r"\b[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}-[A-HJ-NP-Z2-9]{4}\b")


@pytest.fixture(scope="module")
def host(start_devhost, base_env):
    return start_devhost({**base_env, "MFA_TABLE_NAME": "cli" + os.urandom(4).hex()})


@pytest.fixture(scope="module")
def api(host, emulator) -> Api:
    return Api(host.url, emulator.url)


@pytest.fixture
def cli(host, monkeypatch, capsys):
    """Run the CLI in-process against the host with its master key: (exit code, stdout, stderr)."""
    monkeypatch.setenv("TWOSTEP_URL", host.url + "/api")
    monkeypatch.setenv("TWOSTEP_MASTER_KEY", MASTER_KEY)
    monkeypatch.delenv("TWOSTEP_ENTRA_SCOPE", raising=False)

    def run(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        captured = capsys.readouterr()
        # The SMS emulator runs in this process (a thread) and logs its requests to stderr.
        err = "".join(line for line in captured.err.splitlines(True) if " sms-emulator " not in line)
        return code, captured.out, err

    return run


def ok_json(cli, *argv: str):
    code, out, err = cli("--json", *argv)
    assert code == 0, err
    return json.loads(out)


def new_user(cli, tag: str) -> str:
    user = f"cli-{tag}-{os.urandom(3).hex()}@contoso.com"
    assert cli("groups", "set", user, "staff")[0] == 0  # creates the user
    return user


def oath_csv(tmp_path, user: str) -> tuple[str, str]:
    serial = "CLI" + os.urandom(4).hex()
    secret = base64.b32encode(os.urandom(20)).decode()
    path = tmp_path / "tokens.csv"
    path.write_text(f"upn,serial number,secret key,time interval,manufacturer,model\n{user},{serial},{secret},30,"
                    "Contoso,Key\n")
    return str(path), serial


def test_bypass_create_list_revoke(cli):
    user = new_user(cli, "bypass")
    code, out, err = cli("bypass", "create", user, "--seconds", "120", "--reason", "ticket 4711")
    assert (code, err) == (0, "") and "Bypass created" in out and "expiresAt" in out
    listed = ok_json(cli, "bypass", "list", user)["bypasses"]
    assert [(b["status"], b["reason"]) for b in listed] == [("active", "ticket 4711")]
    code, out, _ = cli("bypass", "revoke", user)
    assert code == 0 and "No active bypass" in out
    assert cli("--json", "bypass", "revoke", user)[:2] == (0, "")  # 204: nothing to print
    code, out, _ = cli("bypass", "list", user)
    assert code == 0 and "revoked" in out and listed[0]["bypassId"][:8] in out


def test_json_prints_the_service_body_verbatim(cli, api):
    user = new_user(cli, "verbatim")
    code, out, _ = cli("bypass", "list", user, "--json")  # --json after the command works too
    assert code == 0
    assert out == api.admin("GET", f"/api/v1/admin/users/{user}/bypass").text + "\n"


def test_unknown_user_is_exit_1_with_the_problem_on_stderr(cli):
    code, out, err = cli("bypass", "create", "nobody-cli@contoso.com", "--reason", "x")
    assert code == 1 and out == ""
    assert "not_found" in err and "HTTP 404" in err
    code, out, err = cli("--json", "methods", "list", "nobody-cli@contoso.com")
    assert code == 1 and out == ""
    assert json.loads(err)["code"] == "not_found"


def test_invalid_request_shows_detail_and_field(cli):
    user = new_user(cli, "invalid")
    code, _, err = cli("access-pass", "issue", user, "--lifetime-minutes", "5", "--reason", "x")
    assert code == 1 and "invalid_request" in err and "lifetimeMinutes" in err


def test_unblock_audit_and_groups(cli):
    user = new_user(cli, "audit")
    code, out, _ = cli("groups", "set", user, "break-glass", "staff")
    assert code == 0 and "break-glass, staff" in out
    assert ok_json(cli, "groups", "set", user) == {"userId": user, "groups": []}  # none given: no groups
    code, out, _ = cli("unblock", user, "--reason", "ticket 7")
    assert code == 0 and "Unblocked" in out
    events = ok_json(cli, "audit", user)["events"]
    assert [e["event"] for e in events][:4] == ["user_unblocked", "groups_changed", "groups_changed",
                                                "groups_changed"]
    code, out, _ = cli("audit", user, "--limit", "1")
    assert code == 0 and "user_unblocked" in out and "groups_changed" not in out


def test_unblock_needs_a_reason(cli):
    user = new_user(cli, "noreason")
    code, _, err = cli("unblock", user)
    assert code == 2 and "--reason" in err  # argparse: the flag is required


def test_users_list_groups_and_erase(cli, monkeypatch):
    users = [new_user(cli, "bare") for _ in range(3)]  # groups set creates users with no factor
    listed = ok_json(cli, "users", "list", "--state", "no-factor", "--limit", "1")  # follows the cursor
    assert set(users) <= {u["userId"] for u in listed["users"]} and listed["cursor"] is None
    code, out, _ = cli("users", "list", "--state", "no-factor", "--limit", "2")
    assert code == 0 and all(u in out for u in users)
    assert ok_json(cli, "users", "groups", users[0]) == {"userId": users[0], "groups": ["staff"]}
    monkeypatch.setattr("sys.stdin", types.SimpleNamespace(readline=lambda: "someone-else\n"))
    code, _, err = cli("users", "erase", users[0], "--reason", "GDPR ticket 5")
    assert code == 1 and "Not erased" in err
    assert ok_json(cli, "users", "groups", users[0])["userId"] == users[0]  # still there
    monkeypatch.setattr("sys.stdin", types.SimpleNamespace(readline=lambda: users[0].upper() + "\n"))
    code, out, _ = cli("users", "erase", users[0], "--reason", "GDPR ticket 5")
    assert code == 0 and "Erased" in out
    code, out, _ = cli("users", "erase", users[1], "--reason", "GDPR ticket 6", "--yes")
    assert code == 0
    for gone in users[:2]:
        code, _, err = cli("users", "groups", gone)
        assert code == 1 and "not_found" in err


def test_access_pass_is_shown_once_and_listed_without_it(cli):
    user = new_user(cli, "pass")
    code, out, _ = cli("access-pass", "issue", user, "--lifetime-minutes", "30", "--reason", "lost phone")
    assert code == 0 and "Shown only now" in out
    shown = PASS_RE.search(out).group(0)
    issued = ok_json(cli, "access-pass", "issue", user, "--reusable", "--reason", "again")
    assert PASS_RE.fullmatch(issued["accessPass"]) and issued["oneTime"] is False
    code, out, _ = cli("access-pass", "list", user)
    assert code == 0 and shown not in out and issued["accessPass"] not in out and "revoked" in out
    assert cli("access-pass", "revoke", user)[0] == 0
    passes = ok_json(cli, "access-pass", "list", user)["accessPasses"]
    assert [p["status"] for p in passes] == ["revoked", "revoked"]


def test_oath_import(cli, tmp_path):
    user = f"cli-oath-{os.urandom(3).hex()}@contoso.com"
    path, serial = oath_csv(tmp_path, user)
    code, out, _ = cli("oath", "import", path)
    assert code == 0 and "Imported 1 token" in out and serial in out
    code, _, err = cli("oath", "import", path)  # the same serial again: refused, row errors shown
    assert code == 1 and "row 1" in err and "serial number" in err
    events = ok_json(cli, "audit", user)["events"]
    assert [e["event"] for e in events] == ["oath_tokens_imported"]
    code, out, _ = cli("methods", "remove", user, "totp", "--reason", "token returned")  # not yet used
    assert code == 0 and "Removed totp" in out


def test_methods_list_and_remove_one_device(cli, host, emulator):
    user = f"cli-totp-{os.urandom(3).hex()}@contoso.com"
    with pinned_api(host, emulator.url) as api:
        api.enrol_totp(user)
    methods = ok_json(cli, "methods", "list", user)["methods"]
    assert [m["type"] for m in methods] == ["totp"]
    device = methods[0]["deviceId"]
    code, out, _ = cli("methods", "list", user)
    assert code == 0 and device in out and "recoveryCodesRemaining" in out
    assert cli("methods", "remove", user, "totp", "--device", device)[0] == 2  # --reason is required
    assert cli("methods", "remove", user, "sms", "--device", device, "--reason", "x")[0] == 2
    code, out, _ = cli("methods", "remove", user, "totp", "--device", device, "--reason", "lost")
    assert code == 0 and "Removed device" in out
    assert ok_json(cli, "methods", "list", user)["methods"] == []
    code, _, err = cli("methods", "remove", user, "sms", "--reason", "lost")  # a method the user lacks
    assert code == 1 and "not_found" in err


def test_methods_remove_a_whole_method(cli, api):
    user = f"cli-sms-{os.urandom(3).hex()}@contoso.com"
    api.enrol_sms(user, fresh_phone())
    assert [m["type"] for m in ok_json(cli, "methods", "list", user)["methods"]] == ["sms"]
    code, out, _ = cli("methods", "remove", user, "sms", "--reason", "lost phone")
    assert code == 0 and "Removed sms" in out
    events = ok_json(cli, "audit", user)["events"]
    assert events[0]["event"] == "method_removed" and events[0]["reason"] == "lost phone"


def test_policy_get_validate_set(cli, tmp_path):
    good = tmp_path / "policy.json"
    good.write_text(json.dumps({"excludedGroups": ["break-glass"],
                                "trustedNetworks": [{"name": "hq", "cidrs": ["203.0.113.0/24"]}]}))
    code, out, _ = cli("policy", "validate", str(good))
    assert code == 0 and "shape is valid" in out and "no dry-run" in out
    assert ok_json(cli, "policy", "validate", str(good))["valid"] is True
    before = ok_json(cli, "policy", "get")
    try:
        code, out, _ = cli("policy", "set", str(good))
        assert code == 0 and "break-glass" in out
        assert ok_json(cli, "policy", "get")["trustedNetworks"] == [{"name": "hq", "cidrs": ["203.0.113.0/24"]}]
        bad = tmp_path / "bad.json"
        bad.write_text(json.dumps({"risk": {"none": "skip"}, "colour": "red"}))
        code, _, err = cli("policy", "set", str(bad))  # refused locally: nothing sent
        assert code == 1 and "colour" in err and "risk" in err
        bounds = tmp_path / "bounds.json"
        bounds.write_text(json.dumps({"maxAttempts": 100000}))  # the right shape, out of the service's bounds
        assert cli("policy", "validate", str(bounds))[0] == 0
        code, _, err = cli("policy", "set", str(bounds))
        assert code == 1 and "field: maxAttempts" in err and "invalid_request" in err
        assert ok_json(cli, "policy", "get")["maxAttempts"] == before["maxAttempts"]
    finally:
        restore = tmp_path / "before.json"
        restore.write_text(json.dumps(before))
        assert cli("policy", "set", str(restore))[0] == 0


def test_keys_status_and_reseal(cli):
    status = ok_json(cli, "keys", "status")
    assert {"encryption", "hmac", "scan", "reseal"} <= set(status)
    code, out, _ = cli("keys", "status")
    assert code == 0 and "encryption" in out and "underCurrent" in out
    code, out, _ = cli("--json", "keys", "reseal", "--max-rows", "1000", "--until-complete")
    assert code == 0
    runs = [json.loads(line) for line in out.splitlines()]
    assert runs[-1]["passComplete"] is True and all(not r["passComplete"] for r in runs[:-1])
    assert cli("keys", "reseal", "--max-rows", "0")[0] == 2  # argparse refuses before any call


def test_wrong_key_is_exit_4(cli, monkeypatch):
    monkeypatch.setenv("TWOSTEP_MASTER_KEY", "not-the-master-key")
    code, out, err = cli("keys", "status")
    assert code == 4 and out == "" and "master key" in err and "not-the-master-key" not in err


def test_entra_required_host_is_exit_4(start_devhost, base_env, monkeypatch, capsys):
    """A host that requires Entra ID (MFA_ADMIN_ENTRA_REQUIRED) without platform authentication refuses the
    master key alone with 403 forbidden: an authentication failure, exit 4, its detail on stderr."""
    env = {**base_env, "MFA_TABLE_NAME": "clientra" + os.urandom(4).hex(), "MFA_ADMIN_ENTRA_REQUIRED": "true"}
    env.pop("WEBSITE_AUTH_ENABLED", None)
    required = start_devhost(env)
    monkeypatch.setenv("TWOSTEP_MASTER_KEY", MASTER_KEY)
    assert main(["--url", required.url + "/api", "audit", "alice@contoso.com"]) == 4
    err = capsys.readouterr().err
    assert "forbidden" in err and "Entra ID" in err


def test_key_file_overrides_the_environment(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("TWOSTEP_MASTER_KEY", "not-the-master-key")
    key = tmp_path / "key"
    key.write_text(MASTER_KEY + "\n")
    assert cli("--master-key-file", str(key), "keys", "status")[0] == 0


def test_unreachable_service_is_exit_3(cli):
    code, out, err = cli("--url", "http://127.0.0.1:9/api", "keys", "status")
    assert code == 3 and out == "" and "Cannot reach" in err
    code, out, err = cli("--url", "http://127.0.0.1:9/api", "--json", "keys", "status")
    assert code == 3 and out == "" and json.loads(err)["title"] == "Cannot reach the service"


def test_plain_http_off_loopback_and_no_key_are_usage_errors(cli, monkeypatch):
    code, _, err = cli("--url", "http://twostep.example.test/api", "keys", "status")
    assert code == 2 and "Refusing plain http" in err
    monkeypatch.delenv("TWOSTEP_MASTER_KEY")
    code, _, err = cli("keys", "status")
    assert code == 2 and "No credentials" in err


def test_python_dash_m_runs_without_azure_identity(host):
    """The module entry point works from the repository root, and master-key mode never imports
    azure-identity (only Entra ID mode needs it)."""
    script = ("import sys; from twostepctl.__main__ import main; code = main(['--json', 'keys', 'status']); "
              "assert 'azure.identity' not in sys.modules, 'azure.identity imported'; sys.exit(code)")
    env = {**os.environ, "TWOSTEP_URL": host.url + "/api", "TWOSTEP_MASTER_KEY": MASTER_KEY}
    env.pop("TWOSTEP_ENTRA_SCOPE", None)
    r = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    assert "encryption" in json.loads(r.stdout)
    r = subprocess.run([sys.executable, "-m", "twostepctl", "--json", "audit", "nobody-cli@contoso.com"],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and r.stdout == "" and json.loads(r.stderr)["code"] == "not_found"


# ---- against a stand-in server on loopback: what the dev host never answers ----

class _Recorder(http.server.BaseHTTPRequestHandler):
    """Answers every request with the status/headers/body set on the server, and records the headers."""

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.server.seen.append(dict(self.headers))
        self.send_response(self.server.status)
        for name, value in self.server.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, *args) -> None:  # quiet
        pass


@pytest.fixture
def server():
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    httpd.seen, httpd.status, httpd.headers, httpd.body = [], 200, {}, b'{"events": []}'
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_a_redirect_is_not_followed_with_the_key(server, monkeypatch, capsys):
    monkeypatch.setenv("TWOSTEP_MASTER_KEY", "secret-master-key")
    here = f"http://127.0.0.1:{server.server_port}"
    server.status, server.headers = 302, {"Location": f"{here}/elsewhere", "Content-Length": "0"}
    server.body = b""
    code = main(["--url", f"{here}/api", "audit", "alice"])
    assert code == UNREACHABLE and len(server.seen) == 1  # followed, the key would have gone to /elsewhere
    assert "redirect" in capsys.readouterr().err


def test_entra_mode_sends_a_bearer_token_with_the_key(server, monkeypatch, capsys):
    """The token comes from azure-identity's DefaultAzureCredential for the configured scope (replaced
    here by a stand-in module: no Entra ID tenant is reachable from the tests)."""
    scopes = []

    class Credential:
        def get_token(self, scope):
            scopes.append(scope)
            return types.SimpleNamespace(token="entra-token")

    monkeypatch.setitem(sys.modules, "azure.identity", types.SimpleNamespace(DefaultAzureCredential=Credential))
    monkeypatch.setenv("TWOSTEP_MASTER_KEY", "secret-master-key")
    monkeypatch.setenv("TWOSTEP_ENTRA_SCOPE", "api://twostep/admin")
    assert main(["--url", f"http://127.0.0.1:{server.server_port}/api", "--json", "audit", "alice"]) == 0
    assert json.loads(capsys.readouterr().out) == {"events": []}
    headers = {k.lower(): v for k, v in server.seen[0].items()}
    assert headers["authorization"] == "Bearer entra-token" and headers["x-functions-key"] == "secret-master-key"
    assert scopes == ["api://twostep/admin"]
