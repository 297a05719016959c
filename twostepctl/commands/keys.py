"""`keys status|reseal`: where sealed values stand after a key rotation, and the re-encryption job."""
from __future__ import annotations

from ..parser import group, positive, verb

MAX_RUNS = 1000  # --until-complete stops here: a runaway loop must end (each run scans up to 1000 rows)


def register(groups) -> None:  # noqa: ANN001
    verbs = group(groups, "keys", "encryption and HMAC keys")
    verb(verbs, "status", "values left under old keys, and the re-encryption job's state", _status)
    run = verb(verbs, "reseal", "run the re-encryption job once (resumable; audited)", _reseal)
    run.add_argument("--max-rows", type=positive, metavar="N", help="rows per run, 1-1000 (service default 200)")
    run.add_argument("--until-complete", action="store_true",
                     help=f"repeat until the pass is complete (at most {MAX_RUNS} runs)")


def _status(args, client, out) -> None:  # noqa: ANN001
    reply = client.call("GET", "/v1/admin/keys")

    def human(d: dict) -> None:
        for name in ("encryption", "hmac", "scan", "reseal"):
            if isinstance(d.get(name), dict):
                out.fields(name, d[name])

    out.reply(reply, human)


def _reseal(args, client, out) -> None:  # noqa: ANN001
    body = {"maxRows": args.max_rows} if args.max_rows else {}
    for _ in range(MAX_RUNS if args.until_complete else 1):
        reply = client.call("POST", "/v1/admin/keys/reseal", body)
        out.reply(reply, lambda d: out.fields("Re-encryption run", d))
        if reply.data.get("passComplete"):
            return
