"""deploy/: the Prometheus rules pass promtool (syntax and unit tests), and every expression of the rules and of
the Grafana dashboard names a metric the service really exports, or a recorded one.

promtool comes with Debian's `prometheus` package (scripts/system-deps.sh installs it); without it those two
tests skip with the install hint.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from dayshift.service.metrics import ServiceMetrics
from dayshift.trace.record import TraceRecord

REPO = Path(__file__).resolve().parents[3]
PROMETHEUS = REPO / "deploy" / "prometheus"
RULE_FILES = [PROMETHEUS / "recording-rules.yml", PROMETHEUS / "alerting-rules.yml"]
DASHBOARD = REPO / "deploy" / "grafana" / "dayshift.json"
# The runbooks the alerts may point at (docs/runbooks/, written with the detectors). Add one here with its file.
RUNBOOKS = {
    "cost-spike", "abstention-rate", "negative-feedback", "error-rate", "retry-rate", "latency-p99", "rate-limited",
    "trace-spool", "reranker-silent", "confidence-shift", "retrieval-low-evidence", "stale-documents",
}
AREAS = ("cost", "quality", "drift", "retrieval")
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')  # label values, never metric names
_LABELS = re.compile(r"\{[^}]*\}")


def _promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        pytest.skip("needs promtool: apt-get install -y prometheus (or `make system-deps`)")
    return found


def _exported() -> set[str]:
    """Every sample name a live ServiceMetrics renders, once each of its metrics has a value."""
    metrics = ServiceMetrics()
    metrics.observe_trace(TraceRecord(
        trace_id="t" * 32, tenant="acme", route="/v1/ask", started_at=datetime.now(UTC), latency_ms=900.0,
        stages_ms={"embed": 2.0, "rerank": 30.0, "generate": 800.0}, model="m", input_tokens=10, output_tokens=5,
        cost_usd=0.001, retries=1, confidence=0.7, abstained=False,
    ))
    metrics.observe_feedback("down")
    metrics.rate_limited()
    metrics.job("done")
    metrics.trace_spooled()
    with metrics.inflight("/v1/ask"):
        body, _ = metrics.render()
    return {m.group(0) for line in body.decode().splitlines() if not line.startswith("#")
            for m in [_NAME.match(line)] if m}


def _rules() -> list[dict[str, Any]]:
    return [rule for path in RULE_FILES for group in yaml.safe_load(path.read_text())["groups"]
            for rule in group["rules"]]


def _panels() -> list[dict[str, Any]]:
    return json.loads(DASHBOARD.read_text())["panels"]


def _metric_names(expr: str) -> set[str]:
    """Names in a PromQL expression that are series (metrics or recorded), not functions or keywords."""
    bare = _LABELS.sub("", _STRINGS.sub('""', expr))
    bare = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", bare)
    bare = re.sub(r"\[[^\]]*\]", "", bare)  # ranges and offsets' durations
    bare = re.sub(r"\boffset\s+\w+", "", bare)
    return {n for n in _NAME.findall(bare) if n.startswith("dayshift") or ":" in n}


def test_rules_pass_promtool_check() -> None:
    result = subprocess.run([_promtool(), "check", "rules", *map(str, RULE_FILES)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_alerts_pass_their_promtool_unit_tests() -> None:
    result = subprocess.run([_promtool(), "test", "rules", "alerts-test.yml"], cwd=PROMETHEUS / "tests",
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_expression_names_exported_or_recorded_metrics() -> None:
    exported = _exported()
    recorded = {r["record"] for r in _rules() if "record" in r}
    assert {"dayshift_requests_total", "dayshift_request_duration_seconds_bucket"} <= exported  # the parse works
    exprs = [(r.get("record") or r["alert"], r["expr"]) for r in _rules()]
    exprs += [(p["title"], t["expr"]) for p in _panels() for t in p.get("targets", [])]
    unknown = {(where, name) for where, expr in exprs for name in _metric_names(expr)
               if name not in exported and name not in recorded}
    assert not unknown, f"expressions name metrics the service does not export: {sorted(unknown)}"
    used = {name for _, expr in exprs for name in _metric_names(expr)}
    assert used >= {"dayshift_llm_cost_usd_total", "dayshift_answers_total", "dayshift_feedback_total",
                    "dayshift_rate_limited_total", "dayshift_traces_spooled_total", "dayshift_llm_retries_total"}


def test_every_alert_names_a_listed_runbook_and_its_severity() -> None:
    alerts = [r for r in _rules() if "alert" in r]
    assert len(alerts) >= 8
    for alert in alerts:
        url = alert["annotations"]["runbook_url"]
        match = re.fullmatch(r"docs/runbooks/([a-z0-9-]+)\.md", url)
        assert match and match.group(1) in RUNBOOKS, f"{alert['alert']}: runbook {url} is not a listed runbook"
        assert alert["labels"]["severity"] in ("warning", "critical")
        assert alert["annotations"]["summary"] and alert["annotations"]["description"]
    written = REPO / "docs" / "runbooks"
    if any(written.glob("*.md")):  # once the runbooks are written, each one an alert names must exist
        missing = {r["annotations"]["runbook_url"] for r in alerts} - {
            str(p.relative_to(REPO)) for p in written.glob("*.md")}
        assert not missing, f"alerts name runbooks that are not written: {sorted(missing)}"


def test_dashboard_covers_the_four_areas_and_traffic() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "dayshift" and dashboard["templating"]["list"][0]["type"] == "datasource"
    rows = [p["title"].lower() for p in dashboard["panels"] if p["type"] == "row"]
    assert all(any(area in row for row in rows) for area in (*AREAS, "traffic"))
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] in ("row", "text"):
            continue
        assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), panel["title"]
        assert panel["datasource"]["uid"] == "${datasource}"
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
