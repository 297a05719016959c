"""Run the rebalancing job (shared/ops/rebalance.py) with the app's settings, until it is done.

    MFA_TABLE_ACCOUNTS=2 MFA_TABLE_ACCOUNTS_PREVIOUS=1 \\
      AzureWebJobsStorage__tableServiceUri=https://<account>.table.core.windows.net python -m tools.rebalance
    python -m tools.rebalance --tidy   # afterwards, once no instance runs with MFA_TABLE_ACCOUNTS_PREVIOUS

It reads the app's table settings, and only those (MFA_TABLE_NAME, AzureWebJobsStorage or
AzureWebJobsStorage__tableServiceUri, MFA_TABLE_ACCOUNTS, MFA_TABLE_ACCOUNT_<i>, MFA_TABLE_ACCOUNTS_PREVIOUS),
from the environment (`--settings local.settings.json`: from that file's Values); no key of the app.
Identity-based accounts are reached with DefaultAzureCredential (your `az login`, which needs Storage Table
Data Contributor on every account's table); connection strings as given.
It prints one JSON line per run of the job and stops when the job is done; stopping it (Ctrl-C) at any
point is safe: the next start resumes from the checkpoint.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from shared.ops import rebalance
from shared.settings import load_table_settings
from shared.wiring import table_store


def _env(path: str | None) -> dict[str, str]:
    if path is None:
        return dict(os.environ)
    return {**os.environ, **json.loads(Path(path).read_text())["Values"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.rebalance", description=__doc__.split("\n")[0])
    parser.add_argument("--settings", help="a local.settings.json whose Values hold the app settings")
    parser.add_argument("--grace", type=float, default=rebalance.GRACE_SECONDS,
                        help="seconds between the last switch and the drain (default: %(default)s)")
    parser.add_argument("--tidy", action="store_true", help="delete the markers of a finished rebalance")
    args = parser.parse_args(argv)
    settings = load_table_settings(_env(args.settings))
    credential = None
    if settings.storage_connection_string is None or any(a.startswith("https://") for a in settings.table_accounts):
        from azure.identity import DefaultAzureCredential

        credential = DefaultAzureCredential()
    store = table_store(settings, credential=credential)
    if args.tidy:
        print(json.dumps(rebalance.tidy(store)))
        return 0
    while True:
        report = rebalance.run(store, lambda: datetime.now(timezone.utc), grace_seconds=args.grace)
        print(json.dumps(report), flush=True)
        if report["phase"] == "done":
            return 0
        if "waitSeconds" in report:
            time.sleep(min(report["waitSeconds"], 30.0))


if __name__ == "__main__":
    sys.exit(main())
