"""A stand-in for the `az` commands infra/scripts/ensure-keys.sh uses (`keyvault secret`, `functionapp
restart`), backed by a folder.

FAKE_KV_DIR/secrets/<name> holds the current value, FAKE_KV_DIR/deleted/<name> a soft-deleted secret,
FAKE_KV_DIR/calls.log one JSON line per invocation (the argument list), FAKE_KV_DIR/fail_lists the number
of list calls still to fail (simulates a role assignment that has not reached Key Vault yet). Like the real
CLI, `secret set` prints the secret, value included, unless --output none is given. `functionapp restart`
appends "<group>/<app>" to FAKE_KV_DIR/restarts.log (FAKE_KV_DIR/fail_restarts: restarts still to fail);
`keyvault show` prints the vault's id, `role assignment delete` is logged to FAKE_KV_DIR/role_deletes.log.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def option(args: list[str], name: str) -> str | None:
    if name in args:
        return args[args.index(name) + 1]
    return None


def take_failure(budget: Path) -> bool:
    """True (and one fewer to come) while the file holds a positive count."""
    if budget.exists() and int(budget.read_text()) > 0:
        budget.write_text(str(int(budget.read_text()) - 1))
        return True
    return False


def restart(state: Path, args: list[str]) -> int:
    group, app = option(args, "--resource-group"), option(args, "--name")
    subscription = option(args, "--subscription") or os.environ.get("FAKE_DEFAULT_SUBSCRIPTION", "default-sub")
    if (group, app, subscription) != (os.environ.get("FAKE_RG", "rg-test"), os.environ.get("FAKE_APP", "func-test"),
                                      os.environ.get("FAKE_SUBSCRIPTION", "default-sub")):
        print("fake az: (ResourceNotFound)", file=sys.stderr)
        return 3
    return record(state, "fail_restarts", "(Conflict) operation in progress", "restarts.log", f"{group}/{app}")


def delete_assignment(state: Path, args: list[str]) -> int:
    """Appends "<assignee> <role> <scope>" to FAKE_KV_DIR/role_deletes.log (fail_role_deletes: failures to come)."""
    line = f"{option(args, '--assignee')} {option(args, '--role')} {option(args, '--scope')}"
    return record(state, "fail_role_deletes", "(AuthorizationFailed)", "role_deletes.log", line)


def record(state: Path, failures: str, error: str, log_name: str, line: str) -> int:
    """Fail while FAKE_KV_DIR/<failures> counts down, else append `line` to FAKE_KV_DIR/<log_name>."""
    if take_failure(state / failures):
        print(f"fake az: {error}", file=sys.stderr)
        return 1
    with open(state / log_name, "a") as log:
        log.write(line + "\n")
    return 0


def main(args: list[str]) -> int:
    state = Path(os.environ["FAKE_KV_DIR"])
    secrets, deleted = state / "secrets", state / "deleted"
    secrets.mkdir(parents=True, exist_ok=True)
    deleted.mkdir(parents=True, exist_ok=True)
    with open(state / "calls.log", "a") as log:
        log.write(json.dumps(args) + "\n")
    if args[:2] == ["functionapp", "restart"]:
        return restart(state, args)
    if args[:2] == ["keyvault", "show"]:
        if option(args, "--name") != os.environ.get("FAKE_KV_NAME", "kv-test"):
            print("fake az: (VaultNotFound)", file=sys.stderr)
            return 1
        print(f"/subscriptions/sub/resourceGroups/rg-test/providers/Microsoft.KeyVault/vaults/{option(args, '--name')}")
        return 0
    if args[:3] == ["role", "assignment", "delete"]:
        return delete_assignment(state, args)
    if args[:2] != ["keyvault", "secret"] or len(args) < 3:
        print(f"fake az: unsupported command {args}", file=sys.stderr)
        return 2
    if option(args, "--vault-name") != os.environ.get("FAKE_KV_NAME", "kv-test"):
        print("fake az: (VaultNotFound)", file=sys.stderr)
        return 1
    command, name = args[2], option(args, "--name")
    if command in ("list", "list-deleted"):
        if take_failure(state / "fail_lists"):
            print("fake az: (Forbidden) caller is not authorized", file=sys.stderr)
            return 1
        folder = secrets if command == "list" else deleted
        if option(args, "--query") != "[].name" or option(args, "--output") != "tsv":
            print("fake az: the script should ask for names only", file=sys.stderr)
            return 2
        for path in sorted(folder.iterdir()):
            print(path.name)
        return 0
    if command == "set":
        source = option(args, "--file")
        value = Path(source).read_text() if source else option(args, "--value")
        if value is None:
            return 2
        (secrets / name).write_text(value)
        with open(state / "versions.log", "a") as versions:
            versions.write(name + "\n")
        if option(args, "--output") != "none":
            print(json.dumps({"id": f"https://kv/secrets/{name}/1", "name": name, "value": value}))
        return 0
    if command == "recover":
        if not (deleted / name).exists():
            print("fake az: (SecretNotFound)", file=sys.stderr)
            return 1
        (deleted / name).rename(secrets / name)
        return 0
    print(f"fake az: unsupported command {args}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
