"""Output: rich tables and panels for people, the service's JSON verbatim for scripts (`--json`), and
errors on stderr. No secret passes through here except an access pass, which is the point of its command."""
from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.json import JSON
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .client import Reply
from .exits import CliError

WIDE = 200  # the width of output that does not go to a terminal


class Output:
    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        # Consoles made per run, on the streams of that moment (tests capture them); no colour for pipes,
        # and no 80-column wrapping there either: ids and timestamps stay whole for grep and copy.
        width = None if sys.stdout.isatty() else WIDE
        self.out = Console(file=sys.stdout, highlight=False, soft_wrap=False, width=width)
        self.err = Console(file=sys.stderr, highlight=False, soft_wrap=True)

    def json_text(self, text: str) -> None:
        """Machine output exactly as given, no markup, no colour."""
        sys.stdout.write(text if text.endswith("\n") else text + "\n")

    def reply(self, reply: Reply, human: Any) -> None:
        """`--json`: the service's body as sent (nothing for a 204); otherwise call `human(data)`."""
        if self.as_json:
            if reply.text.strip():
                self.json_text(reply.text)
            return
        human(reply.data)

    def note(self, text: str) -> None:
        self.out.print(text, soft_wrap=True)

    def document(self, data: Any, title: str | None = None) -> None:
        body = JSON(json.dumps(data))
        self.out.print(Panel(body, title=title, expand=False) if title else body)

    def fields(self, title: str, data: dict[str, Any], keys: Sequence[str] | None = None,
               style: str = "cyan") -> None:
        """One record as a two-column panel."""
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        for key in keys or list(data):
            grid.add_row(key, cell(data.get(key)))
        self.out.print(Panel(grid, title=title, border_style=style, expand=False))

    def table(self, title: str, rows: Iterable[dict[str, Any]], columns: Sequence[str],
              wrap: Sequence[str] = ("reason", "details")) -> None:
        """Rows as a table; in a narrow terminal only the `wrap` columns (free text) wrap."""
        rows = list(rows)
        if not rows:
            self.out.print(f"{title}: none")
            return
        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column, no_wrap=column not in wrap, overflow="fold")
        for row in rows:
            table.add_row(*(cell(row.get(c)) for c in columns))
        self.out.print(table)

    def error(self, error: CliError) -> None:
        """The problem's title, detail, code and field (and row errors of an import) on stderr."""
        if self.as_json:  # the service's problem, or one in its shape for what happened here
            local = {"title": error.title, **({"detail": error.detail} if error.detail else {})}
            sys.stderr.write(json.dumps(error.problem or local) + "\n")
            return
        problem = error.problem
        code = f" [{problem['code']}]" if problem.get("code") else ""
        status = f" (HTTP {problem['status']})" if problem.get("status") else ""
        self.err.print(f"[bold red]error:[/] {esc(error.title)}{esc(code)}{status}")
        if error.detail:
            self.err.print(f"  {esc(error.detail)}")
        if problem.get("field"):
            self.err.print(f"  field: {esc(str(problem['field']))}")
        for row in problem.get("errors") or []:
            if isinstance(row, dict):
                self.err.print(f"  row {row.get('row')}, {esc(str(row.get('field')))}: {esc(str(row.get('detail')))}")
        if problem.get("errorCount") and problem.get("errorCount") != len(problem.get("errors") or []):
            self.err.print(f"  ({problem['errorCount']} errors in all)")
        if error.retry_after:
            self.err.print(f"  retry after {esc(error.retry_after)} s")


def esc(text: str) -> str:
    """Service text shown through rich without being read as markup."""
    return escape(text)


def cell(value: Any) -> str | Text:
    if isinstance(value, Text):
        return value
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return esc(str(value))
