"""The README's walks run as written: each `<!-- walk: name -->` shell block (the blocks of one name joined in
document order) runs in `bash -euo pipefail` against a dev host, Azurite and an SMS emulator of its own, with
only the base URLs 127.0.0.1:7071/7072 rewritten to theirs. The dev host has the keys `make run` gives it
(local-function-key, local-master-key), so the text's keys are used as they stand.

The body columns of the README's route tables show exactly the members the OpenAPI document gives each body
(`proofChallengeId` on every enrolment row), so a body copied from a table is never refused as unknown.

The TOTP step needs no pinned clock: the walk computes the code from the real time just before verifying,
and twostep accepts one step of drift back, so a step boundary between the two cannot fail it.
"""
from __future__ import annotations

import re
import subprocess

import pytest

from functions.openapi import DOCUMENT, match_path, resolve
from tests.conftest import ROOT, app_env
from tools import sms_emulator

README = ROOT / "README.md"
WALKS = {"quickstart", "recovery", "recovery-codes"}
MARKED = re.compile(r"<!-- walk: ([a-z-]+) -->\n```sh\n(.*?)```\n", re.S)
SH_BLOCK = re.compile(r"(<!-- walk: [a-z-]+ -->\n)?```sh\n(.*?)```\n", re.S)
CALLS_API = re.compile(r"127\.0\.0\.1:707[12]|localhost:707[12]|\bcurl\b|twostepctl")
# What each walk must show besides its own `# {...}` answer comments (so a walk cannot pass by printing nothing).
MUST_SHOW = {
    "quickstart": ['{"status": "approved", "userId": "alice@contoso.com", "method": "sms"}',
                   '{"status": "not_required", "reason": "bypass"}', "Bypass created", '"imported": 1'],
    "recovery": ['{"status": "approved", "userId": "bob@contoso.com", "method": "access_pass"}',
                 '{"status": "approved", "userId": "bob@contoso.com", "method": "totp"}', "204"],
    "recovery-codes": ['"method": "recovery_code", "recoveryCodesRemaining": 9}',
                       '{"status": "approved", "userId": "carol@contoso.com", "method": "sms"}'],
}


def walks(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for name, block in MARKED.findall(text):
        found[name] = found.get(name, "") + block
    return found


def unmarked_api_blocks(text: str) -> list[str]:
    return [block for marker, block in SH_BLOCK.findall(text) if not marker and CALLS_API.search(block)]


def expected_answers(walk: str) -> list[str]:
    """The answers a walk's comments promise verbatim: `# {"status": ...}` lines without a `...` elision."""
    return [a for a in re.findall(r'^# (\{"status": .*\})$', walk, re.M) if "..." not in a]


def test_every_api_block_is_a_marked_walk_and_every_walk_is_there():
    text = README.read_text()
    assert not unmarked_api_blocks(text), "a ```sh block calling the API lacks its <!-- walk: name --> marker"
    assert set(walks(text)) == WALKS
    assert all(expected_answers(walk) for walk in walks(text).values()), "each walk shows an answer it gets"


def test_the_emulator_filter_spells_plus_as_percent_2b():
    """`?to=+1425...` would reach the emulator as a space: the walks must show the `+` as `%2B`."""
    filters = re.findall(r"messages\?to=([^'\"\s]*)", "".join(walks(README.read_text()).values()))
    assert filters and all(f.startswith("%2B") for f in filters), filters


def test_the_marker_check_catches_an_unmarked_block():
    text = README.read_text().replace("<!-- walk: recovery -->\n", "", 1)
    assert unmarked_api_blocks(text) and set(walks(text)) != WALKS


@pytest.fixture(scope="module")
def walk_host(azurite, start_devhost):
    """A dev host with `make run`'s keys and an emulator of its own (no other test's SMS in its inbox)."""
    emulator = sms_emulator.start_in_thread(port=0)
    host = start_devhost({**app_env(azurite, emulator), "MFA_TABLE_NAME": "readmewalks", "MFA_OTP_HOST": "localhost"},
                         function_key="local-function-key", master_key="local-master-key")
    yield host, emulator
    emulator.stop()


@pytest.mark.parametrize("name", sorted(WALKS))
def test_the_walk_runs_verbatim(walk_host, name):
    host, emulator = walk_host
    walk = walks(README.read_text())[name]
    assert "http://127.0.0.1:7071" in walk
    script = walk.replace("http://127.0.0.1:7071", host.url).replace("http://127.0.0.1:7072", emulator.url)
    run = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, f"{run.stdout}\n{run.stderr}\n{host.logs()[-3000:]}"
    for answer in [*expected_answers(walk), *MUST_SHOW[name]]:
        assert answer in run.stdout, (answer, run.stdout)


ROW = re.compile(r"^\| `(GET|POST|PUT|PATCH|DELETE) /api(/v1/[^`?]*)[^`]*` \| `(\{.*?\})`", re.M)
MEMBER = re.compile(r'(?<=[{,] )"([A-Za-z]\w*)"|(?<=\{)"([A-Za-z]\w*)"')


def readme_bodies(text: str) -> dict[tuple[str, str], set[str]]:
    """(METHOD, document path template) -> the members a README table row shows in its body column."""
    rows = {}
    for method, path, body in ROW.findall(text):
        template = match_path("/api" + re.sub(r"\{(\w+)(?:\\\|\w+)*\}", r"{\1}", path))
        assert template is not None, path
        rows[(method, template)] = {a or b for a, b in MEMBER.findall(body)}
    return rows


def test_the_tables_show_every_body_member_the_document_has():
    """A README body column that lacks a member (`proofChallengeId` on an enrolment) or shows one the route
    refuses (an unknown member is 400) misleads whoever copies it."""
    rows = readme_bodies(README.read_text())
    assert len(rows) >= 15 and {"proofChallengeId", "phoneNumber", "context"} <= rows[
        ("POST", "/v1/users/{userId}/phone")]
    for (method, template), members in rows.items():
        schema = resolve(DOCUMENT["paths"][template][method.lower()]["requestBody"])["content"]["application/json"]
        assert members == set(schema["schema"]["properties"]), (method, template)


def test_the_table_check_catches_a_missing_member():
    text = README.read_text().replace('`{"proofChallengeId"?, "context"?}`', '`{"context"?}`', 1)
    assert "proofChallengeId" not in readme_bodies(text)[("POST", "/v1/users/{userId}/totp")]
