"""Each detector against a normal hour and against the change it exists to catch, through a real store."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from monitor_traffic import END, Change, hour, write

from dayshift.errors import QueryError
from dayshift.monitor.detectors import RUNBOOKS
from dayshift.monitor.findings import Finding, MonitorReport
from dayshift.monitor.rules import Rules
from dayshift.monitor.run import reference_windows, run_detectors
from dayshift.trace.store import TraceStore


def last_hour(store: TraceStore, rules: Rules, **kwargs) -> MonitorReport:  # type: ignore[no-untyped-def]
    return run_detectors(store, since=END - timedelta(hours=1), until=END, rules=rules, now=END + timedelta(hours=1),
                         **kwargs)


def checks(report: MonitorReport) -> dict[str, Finding]:
    return {f.check: f for f in report.findings}


def test_reference_windows_are_the_same_window_on_past_days() -> None:
    step, windows = reference_windows(END - timedelta(hours=1), END, reference_days=7)
    assert step == timedelta(days=1) and len(windows) == 7
    assert windows[0] == (END - timedelta(days=1, hours=1), END - timedelta(days=1))
    step, windows = reference_windows(END - timedelta(days=2), END, reference_days=7)
    assert step == timedelta(days=2) and len(windows) == 3
    with pytest.raises(QueryError, match="empty"):
        reference_windows(END, END, reference_days=7)


def test_a_normal_hour_is_ok_everywhere(store: TraceStore, rules: Rules) -> None:
    write(store, hour())
    report = last_hour(store, rules)
    found = checks(report)
    assert report.traces == 120 and report.status == "ok", [f.summary for f in report.findings if f.status != "ok"]
    assert set(found) == set(RUNBOOKS) - {"budget_burn", "latency_slo"}  # no budget, no SLO set
    assert found["query_drift"].summary == "query drift not checked: no embedder given"
    for f in report.findings:
        assert f.runbook == RUNBOOKS[f.check] and f.detected_at == END and f.started_at is None
    assert found["abstention_rate"].samples == 120 and found["abstention_rate"].series


def test_a_change_of_tenant_mix_alone_is_not_a_shift(store: TraceStore, rules: Rules) -> None:
    # Only globex (harder questions, more abstentions) this hour, at twice its volume: every tenant and
    # prompt is as usual, so nothing may fire, though the pooled rates and distributions moved.
    write(store, hour(tenants=("globex",), per_hour=120))
    report = last_hour(store, rules)
    found = checks(report)
    assert found["abstention_rate"].evidence["overall_rate"] > 0.15
    assert report.status == "ok", [f.summary for f in report.findings if f.status != "ok"]


def test_cost_spike_is_attributed_to_the_tenant_behind_it(store: TraceStore, rules: Rules) -> None:
    write(store, hour(change=Change(tenant="globex", cost_x=5.0)))
    found = checks(last_hour(store, rules))
    spike = found["cost_spike"]
    assert spike.status == "alert" and spike.scope == {"tenant": "globex"}  # one route, prompt, model: not named
    assert spike.evidence["ratio"] > 2 and spike.evidence["attribution"]["tenant"]["share"] > 0.9
    assert spike.config == {"prompt_version": "answer@3", "model": "gpt-4o-mini",
                            "index_version": spike.config["index_version"]}
    assert spike.config["index_version"].startswith("newest document served: globex-doc")
    assert found["tokens_per_request"].status == "alert" and found["tokens_per_request"].scope["tenant"] == "globex"
    assert spike.baseline and spike.series and spike.started_at is not None


def test_budget_burn_against_the_daily_budget(store: TraceStore, rules: Rules) -> None:
    write(store, hour())
    spend_per_hour = checks(last_hour(store, rules))["cost_spike"].evidence["cost_usd"]
    tight = dataclasses.replace(rules, daily_budget_usd=spend_per_hour * 24 / 5, tenant_budgets_usd={"acme": 100.0})
    burn = checks(last_hour(store, tight))["budget_burn"]
    assert burn.status == "alert" and burn.evidence["burn_rate"] == pytest.approx(5.0) and burn.scope == {}
    loose = dataclasses.replace(rules, daily_budget_usd=spend_per_hour * 24 * 2)
    assert checks(last_hour(store, loose))["budget_burn"].status == "ok"


def test_a_new_prompt_version_that_doubles_abstentions_is_named(store: TraceStore, rules: Rules) -> None:
    write(store, hour(change=Change(prompt_version="4", abstain_p=0.4)))
    found = checks(last_hour(store, rules))
    abstention = found["abstention_rate"]
    assert abstention.status == "alert"
    assert abstention.scope == {"prompt_version": "answer@4"}
    assert abstention.evidence["prompt_change"]["version"] == "answer@4"
    assert "prompt answer@4 first seen" in abstention.summary
    assert abstention.config["prompt_version"] == "answer@4"
    assert END - timedelta(hours=1) <= abstention.started_at < END - timedelta(minutes=55)


def test_negative_feedback_rising(store: TraceStore, rules: Rules) -> None:
    write(store, hour(change=Change(down_p=0.6)))
    found = checks(last_hour(store, rules))
    assert found["negative_feedback"].status == "alert"
    # Feedback given after `now` is not known yet.
    early = run_detectors(store, since=END - timedelta(hours=1), until=END, rules=rules,
                          now=END - timedelta(hours=1))
    assert checks(early)["negative_feedback"].samples == 0


def test_a_botched_reindex_serving_old_versions_is_stale(store: TraceStore, rules: Rules) -> None:
    write(store, hour(change=Change(tenant="globex", stale_p=0.5)))
    stale = checks(last_hour(store, rules))["stale_answers"]
    assert stale.status == "alert" and stale.scope.get("tenant") == "globex"
    assert stale.evidence["rate"] > 0.15 and stale.evidence["baseline_rate"] == 0.0


def test_a_silent_reranker(store: TraceStore, rules: Rules) -> None:
    write(store, hour(change=Change(reranker_down=True)))
    found = checks(last_hour(store, rules))
    assert found["reranker_silent"].status == "alert"
    assert found["reranker_silent"].evidence["ratio"] < 0.05
    assert found["top_score_shift"].status == "alert" and found["top_score_shift"].evidence["psi"] > 1


def test_minimum_sample_guards_report_no_data_and_say_why(store: TraceStore, rules: Rules) -> None:
    write(store, hour(change=Change(abstain_p=0.9, down_p=0.9), per_hour=5))
    found = checks(last_hour(store, rules))
    assert found["abstention_rate"].status == "no_data" and "50 needed" in found["abstention_rate"].summary
    assert found["abstention_rate"].samples == 10
    assert found["confidence_shift"].status == "no_data" and "needed" in found["confidence_shift"].summary


def test_cost_needs_enough_days_of_history(tmp_path, rules: Rules) -> None:  # type: ignore[no-untyped-def]
    from dayshift.trace.store import default_trace_url

    with TraceStore(default_trace_url(tmp_path)) as fresh:
        write(fresh, hour(end=END - timedelta(days=1)))
        write(fresh, hour(change=Change(cost_x=10.0)))
        spike = checks(last_hour(fresh, rules))["cost_spike"]
    assert spike.status == "no_data" and "1 reference days" in spike.summary
