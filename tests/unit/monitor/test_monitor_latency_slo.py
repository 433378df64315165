"""The latency SLO check: p50 and p99 per route against [monitor.slo], graded by error-budget burn, multiwindow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from dayshift.errors import ConfigError
from dayshift.monitor.findings import Finding
from dayshift.monitor.rules import load_rules, with_slo
from dayshift.monitor.run import run_detectors
from dayshift.settings import RouteSLO, load_settings
from dayshift.trace.record import TraceRecord
from dayshift.trace.store import TraceStore, default_trace_url

END = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
SLO = {"/v1/ask": RouteSLO(p50_ms=8000, p99_ms=30000), "/v1/search": RouteSLO(p99_ms=1000)}


def traffic(start: datetime, hours: float, *, route: str = "/v1/ask", per_hour: int = 240, seed: int = 0,
            slow_share: float = 0.0, slow_ms: float = 45_000, base_ms: float = 900.0,
            slow_from: float = 0.0, slow_until: float = 1.0) -> list[TraceRecord]:
    """Requests spread over `hours`; `slow_share` of those in [slow_from, slow_until) of the span take slow_ms."""
    rng = np.random.default_rng(seed)
    n = int(per_hour * hours)
    offsets = np.sort(rng.uniform(0, hours * 3600, n))
    out = []
    for i, offset in enumerate(offsets):
        part = offset / (hours * 3600)
        slow = slow_from <= part < slow_until and rng.random() < slow_share
        latency = slow_ms if slow else float(rng.normal(base_ms, base_ms / 10))
        out.append(TraceRecord(trace_id=f"{seed:08x}{i:024x}", tenant="acme", route=route,
                               started_at=start + timedelta(seconds=float(offset)), latency_ms=latency))
    return out


def latency_finding(tmp_path, records: list[TraceRecord], *, hours: float = 1.0) -> Finding:  # type: ignore[no-untyped-def]
    with TraceStore(default_trace_url(tmp_path)) as store:
        store.write(records)
        report = run_detectors(store, since=END - timedelta(hours=hours), until=END,
                               rules=with_slo(load_rules(), SLO), now=END)
    found = [f for f in report.findings if f.check == "latency_slo" and f.scope == {"route": "/v1/ask"}]
    assert len(found) == 1 and found[0].area == "latency"
    return found[0]


def test_the_default_objectives_and_a_bad_route_name() -> None:
    slo = load_settings().monitor.slo
    assert slo["/v1/ask"].p99_ms == 30000 and slo["/v1/search"].p99_ms == 1000 and "/v1/chat/completions" in slo
    with pytest.raises(ConfigError, match="monitor.slo keys are routes"):
        load_settings(monitor={"slo": {"ask": {"p99_ms": 100}}})


def test_a_normal_hour_meets_its_objectives(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = latency_finding(tmp_path, traffic(END - timedelta(hours=1), 1))
    assert f.status == "ok" and f.evidence["p99_burn"] == 0.0 and f.evidence["requests"] == 240
    assert f.series and f.runbook == "docs/runbooks/latency-slo.md"


def test_a_slow_tail_burning_the_budget_fast_alerts_and_names_the_route(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = latency_finding(tmp_path, traffic(END - timedelta(hours=1), 1, slow_share=0.2))
    assert f.status == "alert"
    assert 14.4 <= f.evidence["p99_burn"] and f.evidence["p99_burn_recent"] >= 14.4
    assert f.summary.startswith("/v1/ask p50 ") and "p99 objective 30.0 s" in f.summary
    assert f.started_at is not None and f.config == {}  # these traces name no prompt or model


def test_a_burst_that_is_over_does_not_page(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Slow in the first half of the hour only: the whole hour burns fast, the last five minutes do not.
    f = latency_finding(tmp_path, traffic(END - timedelta(hours=1), 1, slow_share=0.6, slow_until=0.5))
    assert f.evidence["p99_burn"] >= 14.4 and f.evidence["p99_burn_recent"] == 0.0
    assert f.status == "ok"


def test_a_median_over_its_objective_alerts(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = latency_finding(tmp_path, traffic(END - timedelta(hours=1), 1, base_ms=12_000))
    assert f.status == "alert" and f.evidence["p50_burn"] == pytest.approx(2.0, abs=0.02)
    assert "p50 objective 8.0 s" in f.summary


def test_a_day_long_window_grades_a_slower_burn(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # 8% over the p99 objective all day: burn 8, under the 1-hour bar of 14.4 but over a day's 14.4/sqrt(24).
    f = latency_finding(tmp_path, traffic(END - timedelta(hours=24), 24, per_hour=60, slow_share=0.08), hours=24)
    assert 2.94 < f.evidence["p99_burn"] < 14.4
    assert f.status == "alert"


def test_too_few_requests_say_so(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = latency_finding(tmp_path, traffic(END - timedelta(hours=1), 1, per_hour=10, slow_share=1.0))
    assert f.status == "no_data" and "under the 30 the SLO check needs" in f.summary
