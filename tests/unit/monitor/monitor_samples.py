"""A MonitorReport with one finding of each status, for the rendering tests.

The drift finding carries user text that must stay text: a <script> element, rich markup and a terminal escape.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dayshift.monitor.findings import Finding, MonitorReport, Point

T0 = datetime(2025, 3, 1, 6, 0, tzinfo=UTC)
HOSTILE_QUERY = '<script>alert("owned")</script> [bold red]loud[/] \x1b[31mred'


def points(values: list[float], *, start: datetime = T0, step_h: float = 1.0) -> list[Point]:
    return [Point(start + timedelta(hours=i * step_h), v) for i, v in enumerate(values)]


def sample_report() -> MonitorReport:
    cost = Finding(
        area="cost", check="cost_spike", status="alert", summary="acme spent $4.10 in 2 h, 5.2x its usual",
        runbook="docs/runbooks/cost-spike.md", scope={"tenant": "acme", "model": "gpt-4o-mini"},
        evidence={"cost_usd": 4.1, "baseline_usd": 0.79, "robust_z": 7.25},
        config={"prompt_version": "answer@3", "model": "gpt-4o-mini"},
        started_at=T0 + timedelta(hours=20), detected_at=T0 + timedelta(hours=24),
        series=points([0.3, 0.31, 0.29, 0.3, 0.33, 0.3, 1.9, 2.2]), baseline=points([0.3] * 8), samples=412,
    )
    quality = Finding(
        area="quality", check="abstention_rate", status="ok", summary="6.1% abstained, as usual (5.8%)",
        runbook="docs/runbooks/abstention-rate.md", evidence={"rate": 0.061, "baseline_rate": 0.058},
        series=points([0.05, 0.06, 0.07, 0.061]), samples=380,
    )
    drift = Finding(
        area="drift", check="query_drift", status="warn", summary="14% of questions are unlike last week's",
        runbook="docs/runbooks/query-drift.md", scope={"tenant": "globex"},
        evidence={"far_share": 0.14, "baseline_share": 0.05, "examples": [HOSTILE_QUERY, "how do I rotate keys"]},
        series=points([0.05, 0.06, 0.09, 0.14]), baseline=points([0.05, 0.05, 0.05, 0.05]), samples=240,
    )
    return MonitorReport(since=T0, until=T0 + timedelta(hours=24), findings=[cost, quality, drift], traces=1234)
