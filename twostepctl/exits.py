"""Exit codes (documented in `--help` and docs/cli.md): a script can tell "the service said no" from
"the service could not be reached" from "my credentials are wrong" without parsing text."""
from __future__ import annotations

from typing import Any

OK = 0
REFUSED = 1  # the service refused the request (4xx other than authentication), or a local check failed
USAGE = 2  # bad arguments or configuration (argparse uses 2 as well)
UNREACHABLE = 3  # no answer, a network or TLS error, or a 5xx
AUTH = 4  # 401, or 403 forbidden: the key or the Entra ID token was not accepted

EPILOG = """\
configuration:
  TWOSTEP_URL          base URL of the API (default http://127.0.0.1:7071/api); --url overrides
  TWOSTEP_MASTER_KEY   the host's master key, sent as x-functions-key; --master-key-file overrides
  TWOSTEP_ENTRA_SCOPE  an Entra ID scope (api://<client id>/admin): also send a bearer token from
                       azure-identity's DefaultAzureCredential; --entra-scope overrides

exit codes:
  0  success
  1  the service refused the request (4xx other than 401/403 forbidden), or a local check failed
  2  usage error: bad arguments, missing key, plain http to a host that is not loopback
  3  the service cannot be reached, or answered with a 5xx
  4  authentication refused: 401, or 403 forbidden (wrong master key, missing admin role)
"""


class CliError(Exception):
    """A failure the command line reports and turns into an exit code; `problem` is the service's RFC 9457
    document when it sent one (its `title`, `detail`, `code`, `field` are shown)."""

    def __init__(self, exit_code: int, title: str, detail: str | None = None,
                 problem: dict[str, Any] | None = None, retry_after: str | None = None) -> None:
        super().__init__(title)
        self.exit_code = exit_code
        self.title = title
        self.detail = detail
        self.problem = problem or {}
        self.retry_after = retry_after


def for_status(status: int, problem: dict[str, Any]) -> int:
    """The exit code of an HTTP error answer. The service answers 403 for refusals that are not about the
    caller's credentials (`user_blocked`, `step_up_required`): only `forbidden` (or no code) means auth."""
    if status == 401 or (status == 403 and problem.get("code") in (None, "forbidden")):
        return AUTH
    if status >= 500:
        return UNREACHABLE
    return REFUSED
