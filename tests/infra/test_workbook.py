"""The Azure Monitor workbook (infra/modules/workbook.bicep) charts every twostep.* metric the code defines
(shared/kernel/telemetry.py) and names no metric that does not exist, so the dashboard cannot drift from
the code; it is deployed from main.bicep against the deployment's Application Insights."""
from __future__ import annotations

import re

from shared.kernel import signals, telemetry
from tests.infra.bicep_model import INFRA, Access, Symbol, Template, infra

MODULE = "modules/workbook.bicep"
QUOTED_NAME = re.compile(r'"(twostep\.[a-z_.]+)"')


def charts() -> list[dict]:
    return infra().instance(MODULE).symbol("charts")


def names_in(table: str) -> set[str]:
    return {name for chart in charts() if chart["query"].startswith(table + " ")
            for name in QUOTED_NAME.findall(chart["query"])}


def test_every_metric_has_a_chart_and_every_chart_names_a_real_metric():
    assert names_in("customMetrics") == set(telemetry.NAMES)
    per_chart = [QUOTED_NAME.findall(c["query"]) for c in charts() if c["query"].startswith("customMetrics ")]
    assert sorted(n for names in per_chart for n in names) == sorted(telemetry.NAMES), "one chart per metric"


def test_log_and_dependency_charts_name_only_events_the_code_logs():
    assert names_in("traces") <= set(telemetry.NAMES) | set(signals.ALL)
    assert {c["query"].split(" ", 1)[0] for c in charts()} == {"customMetrics", "dependencies", "traces"}


def test_each_chart_is_a_query_item_of_the_workbook():
    source = (INFRA / MODULE).read_text()
    assert "serializedData: string(workbookContent)" in source
    assert "items: [for (chart, i) in charts: {" in source and "query: chart.query" in source
    assert all(c["visualization"] in {"timechart", "barchart", "table"} for c in charts())


def test_main_deploys_the_workbook_against_its_application_insights():
    [instance] = infra().module_instances(MODULE)
    workbook = Template.body(instance.template.resources["workbook"])
    assert workbook["kind"] == "shared"
    source = instance.resolve(Template.body(instance.template.resources["appInsights"])["name"])
    assert source == Access(Symbol("modules/monitoring.bicep", "resource", "appInsights"), ("name",))
