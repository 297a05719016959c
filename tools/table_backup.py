"""Back up twostep's state table to a file, and restore it into an empty table (docs/deploy.md, Backup).

    URL=https://st<token>.table.core.windows.net
    python -m tools.table_backup backup  --account-url $URL --table twostep --out backup.jsonl
    python -m tools.table_backup restore --account-url $URL --table twostep --in backup.jsonl

In Azure it signs in with DefaultAzureCredential (`az login`): backup needs Storage Table Data Reader,
restore Storage Table Data Contributor, on the account or the table. Locally (Azurite) pass
`--connection-string UseDevelopmentStorage=true` (or AZURE_STORAGE_CONNECTION_STRING) instead of --account-url.

The file holds one JSON object per entity, every property with its Edm type, so a restore writes back exactly
the types that were read (Int64 counters, datetimes, binary). Phone numbers and TOTP secrets are in it
sealed, as in the table: a restore is readable only by an app holding the same keys (the environment's
Key Vault secrets mfa-encryption-keys and mfa-hmac-keys); keep the file as private as the table anyway.
Restore refuses a table that already holds rows, so it never mixes two states.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.data.tables import EdmType, EntityProperty, TableClient

FORMAT = "twostep-table-backup/1"
BATCH = 100  # Table Storage's largest transaction


def encode(value: Any) -> list[Any]:
    """[edm type, JSON value] of one property as the SDK returns it."""
    if isinstance(value, EntityProperty):
        edm = value.edm_type.value if isinstance(value.edm_type, EdmType) else str(value.edm_type)
        return [edm, encode(value.value)[1]]
    if isinstance(value, bool):
        return ["Edm.Boolean", value]
    if isinstance(value, int):
        return ["Edm.Int32", value]
    if isinstance(value, float):
        return ["Edm.Double", value]
    if isinstance(value, datetime):
        return ["Edm.DateTime", value.isoformat()]
    if isinstance(value, bytes):
        return ["Edm.Binary", base64.b64encode(value).decode()]
    if isinstance(value, uuid.UUID):
        return ["Edm.Guid", str(value)]
    if isinstance(value, str):
        return ["Edm.String", value]
    raise TypeError(f"unsupported property type {type(value).__name__}")


def decode(edm: str, value: Any) -> Any:
    if edm == "Edm.DateTime":
        return datetime.fromisoformat(value)
    if edm == "Edm.Binary":
        return base64.b64decode(value)
    if edm == "Edm.Guid":
        return uuid.UUID(value)
    if edm == "Edm.Int64":
        return EntityProperty(int(value), EdmType.INT64)
    return value


def dump(entities: Iterable[dict[str, Any]]) -> Iterator[str]:
    yield json.dumps({"format": FORMAT})
    for entity in entities:
        yield json.dumps({key: encode(value) for key, value in entity.items()}, sort_keys=True)


def load(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    lines = iter(lines)
    header = json.loads(next(lines, "{}"))
    if header.get("format") != FORMAT:
        raise ValueError(f"not a {FORMAT} file")
    for line in lines:
        if line.strip():
            yield {key: decode(edm, value) for key, (edm, value) in json.loads(line).items()}


def backup(table: TableClient, out: Path) -> int:
    count = 0
    with open(out, "w", encoding="utf-8") as f:  # noqa: PTH123 - streamed, one line per entity
        os.chmod(out, 0o600)
        for line in dump(table.list_entities()):
            f.write(line + "\n")
            count += 1
    return count - 1


def restore(table: TableClient, source: Path) -> int:
    try:
        table.create_table()
    except ResourceExistsError:
        if next(iter(table.list_entities(results_per_page=1, select=["PartitionKey"])), None) is not None:
            raise SystemExit(f"table {table.table_name} is not empty: restore only into an empty table") from None
    by_partition: dict[str, list[dict[str, Any]]] = {}
    with open(source, encoding="utf-8") as f:  # noqa: PTH123
        for entity in load(f):
            by_partition.setdefault(entity["PartitionKey"], []).append(entity)
    count = 0
    for rows in by_partition.values():
        for i in range(0, len(rows), BATCH):
            table.submit_transaction([("create", row) for row in rows[i:i + BATCH]])
            count += len(rows[i:i + BATCH])
    return count


def client(args: argparse.Namespace) -> TableClient:
    connection = args.connection_string or os.environ.get("AZURE_STORAGE_CONNECTION_STRING")
    if connection:
        return TableClient.from_connection_string(connection, args.table)
    if not args.account_url:
        raise SystemExit("give --account-url (Azure, signed in with az login) or --connection-string")
    from azure.identity import DefaultAzureCredential

    return TableClient(args.account_url, args.table, credential=DefaultAzureCredential())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["backup", "restore"])
    parser.add_argument("--table", default="twostep", help="table name (MFA_TABLE_NAME)")
    parser.add_argument("--account-url", help="https://<account>.table.core.windows.net")
    parser.add_argument("--connection-string", help="e.g. UseDevelopmentStorage=true for Azurite")
    parser.add_argument("--out", type=Path, help="backup: the file to write")
    parser.add_argument("--in", dest="source", type=Path, help="restore: the file to read")
    args = parser.parse_args(argv)
    table = client(args)
    if args.command == "backup":
        if not args.out:
            parser.error("backup needs --out")
        print(f"backed up {backup(table, args.out)} entities of {args.table} to {args.out}")
    else:
        if not args.source:
            parser.error("restore needs --in")
        print(f"restored {restore(table, args.source)} entities into {args.table}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
