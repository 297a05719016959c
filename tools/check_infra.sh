#!/usr/bin/env bash
# Offline validation of infra/ with checkov (requirement I4). The bicep CLI cannot be installed here, so
# checkov's Bicep framework (pycep-parser) is the static check; tests/infra add the property and
# consistency tests.
#
#   tools/check_infra.sh               create/update .venv-infra if needed, then run checkov on infra/
#   tools/check_infra.sh --venv-only   only create/update .venv-infra (tests use its pycep-parser)
#
# Environment: PYTHON (default python3), INFRA_VENV (default .venv-infra), CHECKOV_JSON (also write the
# JSON report to this file). Exits non-zero when a check fails, a file cannot be parsed, or nothing was
# scanned. Every skip must be written in the Bicep file next to the resource, with its reason.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${INFRA_VENV:-$ROOT/.venv-infra}"
REQUIREMENTS="$ROOT/requirements-infra.txt"
STAMP="$VENV/.requirements-infra.sha256"

want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/checkov" || "$(cat "$STAMP" 2>/dev/null || true)" != "$want" ]]; then
  echo "check_infra: installing $(basename "$REQUIREMENTS") into $VENV" >&2
  "${PYTHON:-python3}" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  echo "$want" > "$STAMP"
fi
[[ "${1:-}" == "--venv-only" ]] && exit 0

report="$(mktemp -d)"
trap 'rm -rf "$report"' EXIT
cd "$ROOT"
# --quiet lists failures only, in the JSON report too; the tests ask for the full report (CHECKOV_JSON) to
# compare the skips checkov used with the skip comments written in infra/.
quiet=(--quiet)
[[ -n "${CHECKOV_JSON:-}" ]] && quiet=()
set +e
# --skip-download: no Prisma Cloud look-ups (offline); cli for people, json for the checks below.
"$VENV/bin/checkov" -d infra --framework bicep "${quiet[@]}" --compact --skip-download \
  -o cli -o json --output-file-path "console,$report/checkov.json"
status=$?
set -e
json="$report/checkov.json"
if [[ -n "${CHECKOV_JSON:-}" && -f "$json" ]]; then
  cp "$json" "$CHECKOV_JSON"
fi
"$VENV/bin/python" - "$json" "$status" <<'PY'
import json
import sys

path, status = sys.argv[1], int(sys.argv[2])
try:
    with open(path) as f:
        data = json.load(f)
except (OSError, ValueError) as error:
    sys.exit(f"check_infra: no checkov JSON report ({error}); checkov exit status {status}")
reports = data if isinstance(data, list) else [data]
summary = {key: sum(r.get("summary", {}).get(key, 0) for r in reports)
           for key in ("passed", "failed", "skipped", "parsing_errors", "resource_count")}
problems = []
if status != 0 or summary["failed"]:
    problems.append(f"{summary['failed']} failed check(s)")
if summary["parsing_errors"]:
    problems.append(f"{summary['parsing_errors']} Bicep file(s) checkov could not parse "
                    "(run pycep-parser on each file to see which: tests/infra/test_bicep.py does)")
if not summary["resource_count"] or not summary["passed"]:
    problems.append("checkov scanned no resources")
print(f"check_infra: passed {summary['passed']}, failed {summary['failed']}, skipped {summary['skipped']} "
      f"(each skip written in infra/ with its reason), resources {summary['resource_count']}")
if problems:
    sys.exit("check_infra: FAILED: " + "; ".join(problems))
PY
