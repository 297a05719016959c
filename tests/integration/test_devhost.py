"""The development host (tools/devhost/) serving tests/fixtures/devhost_app against a real Azurite.

The host runs as a subprocess, as a developer runs it, so these tests see its real exit codes, its
stderr (access log, tracebacks) and its signal handling. The fixture app's queue and timer functions
append a JSON line per call to a record file, which is how the tests observe them.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from tools import azurite, devhost

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_APP = ROOT / "tests" / "fixtures" / "devhost_app"
FUNCTION_KEY = "fk-" + uuid.uuid4().hex
MASTER_KEY = "mk-" + uuid.uuid4().hex
WORK_QUEUE = "devhost-work"
TIMEOUT = 10


def wait_for(condition: Callable[[], Any], timeout: float = TIMEOUT, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class RunningHost:
    process: subprocess.Popen
    url: str
    stdout_path: Path
    stderr_path: Path
    record_path: Path
    connection_string: str

    def stdout(self) -> str:
        return self.stdout_path.read_text(encoding="utf-8", errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def records(self, fn: str | None = None) -> list[dict[str, Any]]:
        if not self.record_path.exists():
            return []
        lines = self.record_path.read_text(encoding="utf-8").splitlines()
        rows = [json.loads(line) for line in lines if line.strip()]
        return [r for r in rows if fn is None or r["fn"] == fn]

    def queue(self, name: str, encoded: bool = True) -> QueueClient:
        policy = TextBase64EncodePolicy() if encoded else None
        return QueueClient.from_connection_string(self.connection_string, name, message_encode_policy=policy)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(self.url + path, timeout=TIMEOUT, **kwargs)


def devhost_command(app_dir: Path, port: int, *extra: str) -> list[str]:
    """Run from the repository root (cwd=ROOT), as a developer does."""
    return [sys.executable, "-m", "tools.devhost", "--app-dir", str(app_dir), "--port", str(port), *extra]


@pytest.fixture(scope="module")
def storage() -> Iterator[Any]:
    running = azurite.start_azurite(
        blob_port=azurite.free_port(), queue_port=azurite.free_port(), table_port=azurite.free_port()
    )
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the fixture app plus a local.settings.json (which .gitignore keeps out of the tree)."""
    target = tmp_path_factory.mktemp("devhost") / "app"
    shutil.copytree(FIXTURE_APP, target, ignore=shutil.ignore_patterns("__pycache__"))
    settings = {
        "IsEncrypted": False,
        "Values": {
            "FUNCTIONS_WORKER_RUNTIME": "python",
            "AzureWebJobsStorage": "UseDevelopmentStorage=true",
            "FIXTURE_GREETING": "from-settings",
            "FIXTURE_OVERRIDE": "from-settings",
        },
    }
    (target / "local.settings.json").write_text(json.dumps(settings), encoding="utf-8")
    return target


def host_env(record_path: Path, connection_string: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FIXTURE_", "DEVHOST_", "AzureWebJobs"))}
    env.update({
        "AzureWebJobsStorage": connection_string,  # must win over local.settings.json
        "FIXTURE_OVERRIDE": "from-env",
        "DEVHOST_FUNCTION_KEY": FUNCTION_KEY,
        "DEVHOST_MASTER_KEY": MASTER_KEY,
        "DEVHOST_FIXTURE_RECORD": str(record_path),
    })
    return env


@pytest.fixture(scope="module")
def host(storage: Any, app_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    logs = tmp_path_factory.mktemp("devhost-logs")
    port = azurite.free_port()
    record = logs / "record.jsonl"
    out, err = logs / "stdout.txt", logs / "stderr.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            devhost_command(app_dir, port, "--check", "checks:ok"),
            cwd=ROOT, env=host_env(record, storage.connection_string),
            stdout=stdout, stderr=stderr, start_new_session=True,
        )
    running = RunningHost(process, f"http://127.0.0.1:{port}", out, err, record, storage.connection_string)
    try:
        azurite.wait_for_port(port, timeout=30, process=process)
        wait_for(lambda: "Host started" in running.stdout(), what="Host started")
        yield running
    except Exception:
        print(running.stderr(), file=sys.stderr)
        raise
    finally:
        azurite.stop_process(process)


# --------------------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(("value", "seconds"), [
    ("00:00:01", 1.0), ("00:01:30", 90.0), ("1.00:00:00", 86400.0), ("00:00:00.250", 0.25),
    (1500, 1.5), ("2000", 2.0), (None, 7.0),
])
def test_parse_timespan(value: Any, seconds: float) -> None:
    assert devhost.parse_timespan(value, 7.0) == pytest.approx(seconds)


def test_queue_options_defaults_and_host_json() -> None:
    assert devhost.QueueOptions.from_host_json({}) == devhost.QueueOptions(16, 5, 0.0, 60.0, "base64")
    fixture = json.loads((FIXTURE_APP / "host.json").read_text(encoding="utf-8"))
    assert devhost.QueueOptions.from_host_json(fixture) == devhost.QueueOptions(4, 3, 0.0, 1.0, "base64")
    assert devhost.route_prefix({}) == "api"


def test_processing_visibility_follows_the_function_timeout_not_ten_minutes() -> None:  # Q5
    app_host_json = json.loads((ROOT / "host.json").read_text(encoding="utf-8"))
    options = devhost.QueueOptions.from_host_json(app_host_json)
    assert options.processing_visibility == 30 + devhost.PROCESSING_MARGIN_SECONDS
    assert options.processing_visibility < 60 * 5  # a stuck message reappears inside the default code lifetime
    assert devhost.QueueOptions.from_host_json({}).processing_visibility == 300 + devhost.PROCESSING_MARGIN_SECONDS
    assert devhost.route_prefix({"extensions": {"http": {"routePrefix": ""}}}) == ""


def test_compile_route() -> None:
    route = devhost.compile_route("api", "v1/users/{userId}/phone")
    assert route.match("/api/v1/users/u1/phone") == {"userId": "u1"}
    assert route.match("/API/V1/users/u1/phone/") == {"userId": "u1"}
    assert route.match("/api/v1/users/a/b/phone") is None
    optional = devhost.compile_route("", "items/{id:int}/{tag?}")
    assert optional.match("/items/5") == {"id": "5"}
    assert optional.match("/items/5/x") == {"id": "5", "tag": "x"}
    assert optional.match("/items/x") is None
    assert devhost.compile_route("api", "a/{b=def}").match("/api/a") == {"b": "def"}
    mixed = devhost.compile_route("api", "files/{name}.{ext}/{flag:bool}")
    assert mixed.match("/api/files/a.b.txt/True") == {"name": "a.b", "ext": "txt", "flag": "True"}
    assert mixed.match("/api/files/a.txt/") is None


def test_ncrontab_seconds_move_to_the_end() -> None:
    assert devhost.ncrontab_to_croniter("30 */5 * * * 1-5") == "*/5 * * * 1-5 30"


# --------------------------------------------------------------------------- HTTP


def test_startup_lists_functions(host: RunningHost) -> None:
    out = host.stdout()
    assert f"hello: [GET] {host.url}/api/public/hello/{{name}}" in out
    assert f"manage: [DELETE,GET] {host.url}/api/v1/manage/{{item}}" in out
    assert "work: queueTrigger (queue 'devhost-work'" in out
    assert "tick: timerTrigger (schedule '0 0 0 1 1 *', runOnStartup)" in out
    assert out.index("Functions:") < out.index("Host started")


def test_anonymous_route_needs_no_key(host: RunningHost) -> None:
    response = host.get("/api/public/hello/world")
    assert response.status_code == 200
    assert response.text == "hello world"
    assert response.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(("headers", "params", "status"), [
    ({}, {}, 401),
    ({"x-functions-key": "wrong"}, {}, 401),
    ({}, {"code": "wrong"}, 401),
    ({"x-functions-key": FUNCTION_KEY}, {}, 200),
    ({}, {"code": FUNCTION_KEY}, 200),
    ({"x-functions-key": MASTER_KEY}, {}, 200),
    ({}, {"code": MASTER_KEY}, 200),
])
def test_function_route_keys(host: RunningHost, headers: dict, params: dict, status: int) -> None:
    response = host.get("/api/v1/users/u1/phone", headers=headers, params=params)
    assert response.status_code == status
    if status == 401:  # the dev host names the key it wants (the Azure host answers an empty body)
        assert response.json()["code"] == "unauthorized" and "function key" in response.json()["detail"]
    else:
        assert response.json()["userId"] == "u1"


@pytest.mark.parametrize(("headers", "params", "status"), [
    ({}, {}, 401),
    ({"x-functions-key": FUNCTION_KEY}, {}, 401),
    ({}, {"code": FUNCTION_KEY}, 401),
    ({"x-functions-key": MASTER_KEY}, {}, 200),
    ({}, {"code": MASTER_KEY}, 200),
])
def test_admin_route_keys(host: RunningHost, headers: dict, params: dict, status: int) -> None:
    response = requests.delete(host.url + "/api/v1/manage/cache", headers=headers, params=params,
                               timeout=TIMEOUT)
    assert response.status_code == status
    if status == 401:
        assert response.json()["code"] == "unauthorized" and "master key" in response.json()["detail"]
    else:
        assert response.json() == {"item": "cache", "method": "DELETE"}


def test_route_params_and_query(host: RunningHost) -> None:
    response = host.get("/api/v1/users/user%2042/phone", params={"x": "1"},
                        headers={"x-functions-key": FUNCTION_KEY})
    assert response.status_code == 200
    assert response.json() == {"userId": "user 42", "method": "GET", "params": {"x": "1"}}


def test_literal_route_beats_parameter(host: RunningHost) -> None:
    response = host.get("/api/v1/users/me/phone")  # anonymous literal route, no key needed
    assert response.status_code == 200
    assert response.json() == {"me": True}


def test_unknown_routes_and_methods(host: RunningHost) -> None:
    key = {"x-functions-key": MASTER_KEY}
    assert host.get("/api/nothing-here", headers=key).status_code == 404
    assert host.get("/public/hello/world").status_code == 404  # the route prefix is required
    assert host.get("/api/v1/users/a/b/phone", headers=key).status_code == 404  # params never span "/"
    wrong_method = host.get("/api/v1/echo")
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "POST"  # RFC 9110 15.5.6
    assert "Allow" not in host.get("/api/nothing-here", headers=key).headers


def test_post_echoes_body_length(host: RunningHost) -> None:
    body = os.urandom(5000)
    response = requests.post(host.url + "/api/v1/echo", data=body, headers={"x-test": "yes"}, timeout=TIMEOUT)
    assert response.status_code == 201
    assert response.json() == {"length": 5000, "x_test": "yes"}
    assert response.headers["X-Echo-Method"] == "POST"
    assert response.headers["Content-Type"] == "application/json"


def test_async_function_and_constraints(host: RunningHost) -> None:
    assert host.get("/api/v1/async/21").json() == {"n": 42, "label": None}
    assert host.get("/api/v1/async/21/blue").json() == {"n": 42, "label": "blue"}
    assert host.get("/api/v1/async/twenty").status_code == 404  # {n:int}


def test_exception_gives_500_with_empty_body(host: RunningHost) -> None:
    response = host.get("/api/v1/boom")
    assert response.status_code == 500
    assert response.content == b""
    wait_for(lambda: "kaboom from the fixture" in host.stderr(), what="traceback on stderr")
    assert "Traceback" in host.stderr()


def test_access_log_omits_query_string(host: RunningHost) -> None:
    marker = uuid.uuid4().hex
    response = host.get(f"/api/v1/users/{marker}/phone", params={"code": FUNCTION_KEY, "secret": "s3"})
    assert response.status_code == 200
    line = wait_for(lambda: re.search(rf"GET /api/v1/users/{marker}/phone 200 \d+ms", host.stderr()),
                    what="access log line")
    assert line
    log = host.stderr()
    assert FUNCTION_KEY not in log
    assert "secret=s3" not in log
    assert f"{marker}/phone?" not in log


def test_local_settings_do_not_override_environment(host: RunningHost) -> None:
    assert host.get("/api/v1/settings").json() == {
        "FIXTURE_GREETING": "from-settings",
        "FIXTURE_OVERRIDE": "from-env",
    }


# --------------------------------------------------------------------------- queues and timers


def test_queue_message_processed_once_and_deleted(host: RunningHost) -> None:
    body = f"hello queue {uuid.uuid4().hex}"
    host.queue(WORK_QUEUE).send_message(body)
    rows = wait_for(lambda: [r for r in host.records("work") if r["body"] == body], what="queue trigger")
    assert rows[0]["dequeue_count"] == 1
    assert rows[0]["context"] == "work"
    time.sleep(0.5)
    assert len([r for r in host.records("work") if r["body"] == body]) == 1
    # Counts invisible messages too, so an undeleted message (still hidden while "processing") shows.
    assert host.queue(WORK_QUEUE).get_queue_properties().approximate_message_count == 0


def test_failing_message_retried_then_poisoned(host: RunningHost) -> None:
    body = f"please fail {uuid.uuid4().hex}"
    host.queue(WORK_QUEUE).send_message(body)
    poisoned = wait_for(lambda: [r for r in host.records("poison") if r["body"] == body],
                        what="poison trigger")
    assert poisoned[0]["dequeue_count"] == 1
    attempts = [r for r in host.records("work") if r["body"] == body]
    assert [r["dequeue_count"] for r in attempts] == [1, 2, 3]  # maxDequeueCount 3 in the fixture's host.json
    assert f"Message {attempts[0]['id']} failed 3 times" in host.stderr()  # moved right after the 3rd failure
    time.sleep(0.3)
    assert [r["dequeue_count"] for r in host.records("work") if r["body"] == body] == [1, 2, 3]
    assert host.queue(WORK_QUEUE).get_queue_properties().approximate_message_count == 0


def test_undecodable_message_moves_to_poison_unchanged(host: RunningHost) -> None:
    """Not base64: every attempt fails before the function runs; the poison copy keeps the raw text, and
    the poison trigger fails the same way, so the text ends up in <queue>-poison-poison untouched."""
    raw = f"not base64, fail! {uuid.uuid4().hex}"
    host.queue(WORK_QUEUE, encoded=False).send_message(raw)
    double_poison = host.queue(f"{WORK_QUEUE}-poison-poison", encoded=False)
    found = wait_for(lambda: [m for m in double_poison.peek_messages(max_messages=32) if m.content == raw],
                     timeout=15, what="message in devhost-work-poison-poison")
    assert found[0].content == raw
    assert not [r for r in host.records() if raw in r.get("body", "")]


def test_timer_ran_on_startup(host: RunningHost) -> None:
    ticks = wait_for(lambda: host.records("tick"), what="timer run on startup")
    assert ticks == [{"fn": "tick", "past_due": False}]


# --------------------------------------------------------------------------- process behaviour


def test_failed_check_exits_2_with_message(app_dir: Path, tmp_path: Path) -> None:
    env = host_env(tmp_path / "record.jsonl", azurite.connection_string(1, 1, 1))
    result = subprocess.run(devhost_command(app_dir, azurite.free_port(), "--check", "checks:fail"),
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "FIXTURE_REQUIRED_SETTING is missing" in result.stderr
    assert "Host started" not in result.stdout


def test_non_loopback_host_refused(app_dir: Path, tmp_path: Path) -> None:
    env = host_env(tmp_path / "record.jsonl", azurite.connection_string(1, 1, 1))
    result = subprocess.run(devhost_command(app_dir, azurite.free_port(), "--host", "0.0.0.0"),  # noqa: S104
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert "non-loopback" in result.stderr


def test_test_clock_is_refused_in_azure(tmp_path: Path) -> None:
    """DEVHOST_CLOCK_FILE serves tests only: with Azure's instance marker set the real app does not start."""
    clock = tmp_path / "clock"
    clock.write_text("")
    env = {**os.environ, "DEVHOST_CLOCK_FILE": str(clock), "WEBSITE_INSTANCE_ID": "0123abcd"}
    result = subprocess.run(devhost_command(ROOT, azurite.free_port()), cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert "DEVHOST_CLOCK_FILE: a test clock is refused when running in Azure" in result.stderr
    assert "Host started" not in result.stdout


def test_sigint_stops_host_cleanly(host: RunningHost) -> None:
    """Last on purpose: it stops the module's host (within the wait's bound; no wall-clock assertion)."""
    host.process.send_signal(signal.SIGINT)
    assert host.process.wait(timeout=5) == 0
