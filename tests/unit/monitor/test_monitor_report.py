"""The terminal checklist, the JSON form, sparklines and the report window."""

from __future__ import annotations

import io
import json
import math
import re
from datetime import UTC, datetime, timedelta

import pytest
from monitor_samples import HOSTILE_QUERY, T0, sample_report
from rich.console import Console

from dayshift.monitor.findings import AREAS, Finding, MonitorReport
from dayshift.monitor.report import (
    BLOCKS,
    EXIT_CODES,
    clean_text,
    format_value,
    live_config,
    print_report,
    report_json,
    sparkline,
    window_start,
)
from dayshift.settings import load_settings


def _terminal(report: MonitorReport, **kwargs: object) -> str:
    console = Console(record=True, width=160, force_terminal=True, color_system="truecolor", file=io.StringIO())
    print_report(report, console=console, **kwargs)  # type: ignore[arg-type]
    return console.export_text(styles=False)


def test_checklist_shows_every_area_its_status_and_every_finding() -> None:
    report = sample_report()
    text = _terminal(report, config={"llm": "openai:gpt-4o-mini"})
    assert "ALERT" in text.splitlines()[0] and "1,234 traces" in text.splitlines()[0]
    area_lines = {line.split()[1].lower(): " ".join(line.split()[2:4]) for line in text.splitlines()
                  if len(line.split()) > 2 and line.split()[1].lower() in AREAS}
    # retrieval and latency ran no check in this report: no data, not ok
    assert area_lines == {"cost": "alert 1", "quality": "ok 1", "drift": "warn 1", "retrieval": "no data",
                          "latency": "no data"}
    for finding in report.findings:
        assert finding.summary in text
    # Findings that need a look show their evidence, scope, config and runbook; an ok one is one line.
    assert "docs/runbooks/cost-spike.md" in text and "docs/runbooks/query-drift.md" in text
    assert "tenant=acme, model=gpt-4o-mini" in text and "robust_z" in text and "7.25" in text
    assert "prompt_version=answer@3" in text
    assert "docs/runbooks/abstention-rate.md" not in text
    assert "served by  llm=openai:gpt-4o-mini" in text


def test_checklist_draws_sparklines_of_series_and_baseline() -> None:
    text = _terminal(sample_report())
    series_line = next(line for line in text.splitlines() if line.strip().startswith("series"))
    marks = series_line.split()[1]
    assert set(marks) <= set(BLOCKS) and len(marks) == 8
    assert marks[-1] == BLOCKS[-1] and marks[0] < marks[-1]  # the spike reaches the top block
    baseline_line = next(line for line in text.splitlines() if line.strip().startswith("baseline "))
    assert set(baseline_line.split()[1]) == {BLOCKS[0]}  # flat baseline, on the series' scale


def test_user_text_prints_as_itself_not_as_markup_or_escapes() -> None:
    console = Console(record=True, width=200, force_terminal=True, color_system="truecolor", file=io.StringIO())
    print_report(sample_report(), console=console)
    raw = console.export_text(styles=True, clear=False)
    assert "\x1b[31mred" not in raw  # the query's own escape sequence never reaches the terminal
    plain = console.export_text(styles=False)
    assert "[bold red]loud[/]" in plain and "\\x1b[31mred" in plain and "<script>" in plain


def test_an_empty_report_is_no_data_in_every_area_never_ok() -> None:
    text = _terminal(MonitorReport(since=T0, until=T0 + timedelta(hours=1), findings=[]))
    assert text.count("no checks ran") == 5 and "NO_DATA" in text.splitlines()[0]
    assert "✓" not in text and not re.search(r"\b(ok|nan)\b", text, flags=re.I)
    assert "not a clean bill of health" in text and "nothing to say what served them" in text


def test_checks_that_lacked_data_are_their_own_state() -> None:
    lacking = [Finding(area=a, check=f"{a}_check", status="no_data", summary=f"{a}: 0 requests now, 50 needed",
                       runbook="") for a in AREAS]
    report = MonitorReport(since=T0, until=T0 + timedelta(hours=1), findings=lacking)
    assert report.status == "no_data" and {report.area_status(a) for a in AREAS} == {"no_data"}
    text = _terminal(report)
    assert text.count("1 check without enough data") == 5 and "✓" not in text
    assert EXIT_CODES[report.status] == 5
    mixed = MonitorReport(since=T0, until=T0 + timedelta(hours=1), findings=[
        *lacking, Finding(area="cost", check="cost_spike", status="ok", summary="fine", runbook="")])
    assert mixed.area_status("cost") == "ok" and mixed.status == "ok"
    assert "1 check ok, 1 without enough data" in _terminal(mixed)


def test_json_has_every_area_and_finding_and_is_strict_json() -> None:
    report = sample_report()
    report.findings[1].evidence["ratio"] = math.nan
    data = report_json(report, config={"store": "embedded"})
    text = json.dumps(data, allow_nan=False)  # NaN became null
    assert json.loads(text)["areas"] == {"cost": "alert", "quality": "ok", "drift": "warn", "retrieval": "no_data",
                                         "latency": "no_data"}
    assert data["status"] == "alert" and data["traces"] == 1234 and data["config"] == {"store": "embedded"}
    assert [f["check"] for f in data["findings"]] == ["cost_spike", "abstention_rate", "query_drift"]
    cost = data["findings"][0]
    assert cost["series"][0] == {"at": T0.isoformat(), "value": 0.3} and len(cost["baseline"]) == 8
    assert cost["started_at"] == (T0 + timedelta(hours=20)).isoformat()
    assert data["findings"][1]["evidence"]["ratio"] is None
    assert data["findings"][2]["evidence"]["examples"][0] == HOSTILE_QUERY


def test_exit_codes_rank_the_statuses_and_leave_1_and_2_to_failures() -> None:
    assert EXIT_CODES == {"ok": 0, "warn": 3, "alert": 4, "no_data": 5}


@pytest.mark.parametrize(("values", "expected"), [
    ([0, 1, 2, 3, 4, 5, 6, 7], BLOCKS),
    ([5, 5, 5], BLOCKS[3] * 3),  # flat: the middle
    ([1, math.nan, 2], BLOCKS[0] + " " + BLOCKS[-1]),
    ([], ""),
])
def test_sparkline(values: list[float], expected: str) -> None:
    assert sparkline(values) == expected


def test_sparkline_averages_down_to_its_width_and_honours_a_shared_scale() -> None:
    assert len(sparkline(list(range(100)), width=10)) == 10
    assert sparkline([1.0, 2.0], low=0.0, high=10.0) == BLOCKS[1] + BLOCKS[1]


def test_values_are_short_and_clean() -> None:
    assert format_value(0.123456) == "0.1235" and format_value(12345) == "12,345" and format_value(None) == "none"
    assert format_value({"a": 1.5, "b": [1, 2], "c": {"d": "x"}}) == "a=1.5, b=[1, 2], c=(d=x)"
    assert format_value("2025-03-01T07:30:00.5+00:00") == "2025-03-01 07:30 UTC"
    assert format_value(datetime(2025, 3, 1, 7, 30, tzinfo=UTC)) == "2025-03-01 07:30 UTC"
    assert clean_text("a\nb\x1b[0m") == "a\\nb\\x1b[0m" and clean_text("x" * 10, limit=5) == "xxxx…"


def test_window_start() -> None:
    now = datetime(2025, 3, 2, 6, 0, tzinfo=UTC)
    assert window_start("24h", now=now) == now - timedelta(hours=24)
    assert window_start("7d", now=now) == now - timedelta(days=7)
    assert window_start("2025-03-01", now=now) == datetime(2025, 3, 1, tzinfo=UTC)
    assert window_start("2025-03-01T06:00", now=now) == datetime(2025, 3, 1, 6, tzinfo=UTC)
    with pytest.raises(ValueError, match="use 24h, 7d"):
        window_start("yesterday", now=now)
    with pytest.raises(ValueError, match="empty window"):
        window_start("0h", now=now)
    with pytest.raises(ValueError, match="more than 31 days"):
        window_start("90d", now=now)
    for nonsense in ("99999999999999d", "0001-01-01", "2025-13-01", "T", "12:99"):
        with pytest.raises(ValueError):
            window_start(nonsense, now=now)


def test_live_config_names_models_and_never_secrets(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings(data_dir=tmp_path, llm={"backend": "openai", "model": "gpt-4o-mini", "api_key": "sk-x",
                                                     "base_url": "http://u:p@host/v1"})
    config = live_config(settings)
    assert config["llm"] == "openai:gpt-4o-mini" and config["store"] == "embedded"
    assert "sk-x" not in json.dumps(config) and "u:p" not in json.dumps(config)
