"""Run infra/scripts/ensure-keys.sh against a fake Key Vault and Function App (tests/infra/fake_az.py on PATH
as `az`), with the environment azd gives a postprovision hook: the deployment's outputs."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "infra" / "scripts" / "ensure-keys.sh"
FAKE_AZ = Path(__file__).with_name("fake_az.py")
VAULT_NAME = "kv-test"
RESOURCE_GROUP = "rg-test"
APP_NAME = "func-test"


@dataclass
class Vault:
    folder: Path

    def secret(self, name: str) -> str | None:
        path = self.folder / "secrets" / name
        return path.read_text() if path.exists() else None

    def put(self, name: str, value: str, deleted: bool = False) -> None:
        folder = self.folder / ("deleted" if deleted else "secrets")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(value)

    def calls(self) -> list[list[str]]:
        log = self.folder / "calls.log"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def versions_written(self) -> list[str]:
        log = self.folder / "versions.log"
        return log.read_text().split() if log.exists() else []

    def fail_next_lists(self, count: int) -> None:
        (self.folder / "fail_lists").write_text(str(count))

    def fail_next_restarts(self, count: int) -> None:
        (self.folder / "fail_restarts").write_text(str(count))

    def role_deletes(self) -> list[str]:
        log = self.folder / "role_deletes.log"
        return log.read_text().splitlines() if log.exists() else []

    def restarts(self) -> list[str]:
        log = self.folder / "restarts.log"
        return log.read_text().split() if log.exists() else []


def vault_folder(path: Path) -> Vault:
    (path / "bin").mkdir(parents=True, exist_ok=True)
    az = path / "bin" / "az"
    az.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE_AZ}" "$@"\n')
    az.chmod(0o755)
    return Vault(path)


def run_script(vault: Vault, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        "PATH": f"{vault.folder / 'bin'}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "FAKE_KV_DIR": str(vault.folder),
        "FAKE_KV_NAME": VAULT_NAME,
        "FAKE_RG": RESOURCE_GROUP,
        "FAKE_APP": APP_NAME,
        # What azd exports to hooks: the outputs of infra/main.bicep.
        "AZURE_KEY_VAULT_NAME": VAULT_NAME,
        "AZURE_RESOURCE_GROUP": RESOURCE_GROUP,
        "AZURE_FUNCTION_APP_NAME": APP_NAME,
        "RETRY_DELAY": "0",
        **env,
    }
    return subprocess.run(["bash", str(SCRIPT)], env=full_env, capture_output=True, text=True, timeout=60,
                          check=False)
