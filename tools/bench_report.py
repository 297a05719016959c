"""The benchmark's table (rich): one row per flow and client count, the floor beside it."""
from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table


def _f(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_report(result: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console(width=None if Console().is_terminal else 180)
    trips = result.get("round_trips", {})
    table = Table(title=f"twostep flows ({result.get('app_commit')}, load {result.get('loadavg_before')})")
    for column in ("flow", "c", "flows/s", "p50 ms", "p90", "p99", "err", "fn CPU ms", "azurite CPU ms",
                   "trips", "floor p50", "p50 ×", "floor CPU", "CPU ×", "end"):
        table.add_column(column, justify="left" if column in ("flow", "end") else "right")
    for r in result.get("runs", []):
        lat, cpu, floor = r["latency_ms"], r["cpu_ms_per_flow"], r.get("floor", {})
        table.add_row(r["flow"], str(r["clients"]), _f(r["flows_per_s"]), _f(lat["p50"]), _f(lat["p90"]),
                      _f(lat["p99"]), str(r["errors"]), _f(cpu.get("function")), _f(cpu.get("azurite")),
                      str(trips.get(r["flow"], {}).get("round_trips", "-")), _f(floor.get("p50_ms")),
                      _f(floor.get("p50_ratio"), 2), _f(floor.get("cpu_ms")), _f(floor.get("cpu_ratio"), 2),
                      r["ended_by"])
    console.print(table)
    for r in result.get("runs", []):
        if "extra_ms" in r:
            e = r["extra_ms"]
            console.print(f"{r['flow']} c={r['clients']}: begin -> SMS at the emulator p50 {_f(e['p50'])} ms, "
                          f"p99 {_f(e['p99'])} ms")
        for sample in r.get("error_samples", []):
            console.print(f"[red]{r['flow']} c={r['clients']} error:[/red] {sample}")
    for flow, c in trips.items():
        console.print(f"round trips {flow}: {c['round_trips']} = {' '.join(c['kinds'])} "
                      f"({c['agreeing_repeats']}/{c['repeats']} repeats agree; each: {c.get('each_repeat')})")
    console.print(f"load average before {result.get('loadavg_before')}, after {result.get('loadavg_after')}")
