"""The gate decides per case: one broken case blocks a release that raises the average."""

from __future__ import annotations

from pathlib import Path

import pytest

from dayshift.errors import ConfigError
from dayshift.evals.cases import EvalCase
from dayshift.evals.gate import CaseOutcome, compare, resolve_baseline
from dayshift.evals.report import render_html, render_markdown
from dayshift.evals.run import CaseResult, EvalRun, RunConfig


def _config(prompt: str, **changes: object) -> RunConfig:
    base = {"prompt": prompt, "prompt_hash": "h-" + prompt, "model": "m", "index_version": "i1", "settings_hash": "s1",
                "dataset": "d.jsonl", "dataset_hash": "d1", "repeats": 1, "min_f1": 0.5, "k": 5}
    return RunConfig(**{**base, **changes})  # type: ignore[arg-type]


def _run(prompt: str, outcomes: dict[str, list[tuple[bool, float]]], **changes: object) -> EvalRun:
    results = [
        CaseResult(case_id=cid, repeat=i, passed=ok, kind="answer", answer=f"{prompt} answer to {cid}", abstained=False,
                   confidence=0.9, retrieved=[], cited=[], scores={"f1": f1}, latency_ms=10.0)
        for cid, runs in outcomes.items() for i, (ok, f1) in enumerate(runs)
    ]
    cases = {cid: EvalCase(id=cid, question=f"question {cid}?", expected_answers=["x"], expected_sources=[],
                           answerable=True) for cid in outcomes}
    repeats = max(len(r) for r in outcomes.values())
    return EvalRun(run_id=f"run-{prompt}", started_at="2026-11-26T00:00:00+00:00",
                   config=_config(prompt, repeats=repeats, **changes), results=results, seconds=1.0, cases=cases)


def test_a_candidate_that_raises_the_average_but_breaks_a_passing_case_is_blocked() -> None:
    baseline = _run("qa@v1", {"a": [(True, 0.6)], "b": [(False, 0.1)], "c": [(False, 0.0)], "d": [(True, 0.7)]})
    candidate = _run("qa@v2", {"a": [(False, 0.4)], "b": [(True, 1.0)], "c": [(True, 1.0)], "d": [(True, 0.7)]})
    result = compare(baseline, candidate)
    assert result.mean_score("candidate") > result.mean_score("baseline")
    assert result.pass_rate("candidate") > result.pass_rate("baseline")
    assert not result.passed
    assert [d.case_id for d in result.broken] == ["a"]
    assert sorted(d.case_id for d in result.fixed) == ["b", "c"]
    assert result.to_json()["broken_cases"] == ["a"]


def test_a_candidate_that_only_fixes_cases_passes() -> None:
    baseline = _run("qa@v1", {"a": [(True, 0.6)], "b": [(False, 0.1)]})
    candidate = _run("qa@v3", {"a": [(True, 0.6)], "b": [(True, 0.9)]})
    result = compare(baseline, candidate)
    assert result.passed and [d.case_id for d in result.fixed] == ["b"] and not result.broken


def test_a_case_fails_only_when_it_fails_in_most_runs_and_mixed_runs_are_flaky() -> None:
    assert CaseOutcome(runs=3, passes=2, mean_score=0.5, answer="").passed
    assert not CaseOutcome(runs=3, passes=1, mean_score=0.5, answer="").passed
    assert CaseOutcome(runs=2, passes=1, mean_score=0.5, answer="").passed  # a tie is not "most"
    assert CaseOutcome(runs=3, passes=1, mean_score=0.5, answer="").flaky
    assert not CaseOutcome(runs=3, passes=3, mean_score=1.0, answer="").flaky
    baseline = _run("qa@v1", {"a": [(True, 1), (True, 1), (True, 1)], "b": [(True, 1), (True, 1), (True, 1)]})
    candidate = _run("qa@v2", {"a": [(True, 1), (False, 0), (True, 1)],  # flaky, still passes by majority
                               "b": [(False, 0), (False, 0), (True, 1)]})  # flaky and broken by majority
    result = compare(baseline, candidate)
    assert [d.case_id for d in result.broken] == ["b"]
    assert sorted(d.case_id for d in result.flaky) == ["a", "b"]
    assert not result.passed


@pytest.mark.parametrize(("field", "value"), [
    ("dataset_hash", "d2"), ("index_version", "i2"), ("settings_hash", "s2"), ("model", "other"), ("min_f1", 0.8),
])
def test_runs_that_differ_in_more_than_the_prompt_are_refused(field: str, value: object) -> None:
    baseline = _run("qa@v1", {"a": [(True, 1.0)]})
    candidate = _run("qa@v2", {"a": [(True, 1.0)]}, **{field: value})
    with pytest.raises(ConfigError, match=field):
        compare(baseline, candidate)


def test_a_bare_label_names_a_version_of_the_candidates_prompt() -> None:
    assert resolve_baseline("production", "qa@3", prompt_names=["qa"]) == "qa@production"
    assert resolve_baseline("2", "qa@3", prompt_names=["qa"]) == "qa@2"
    assert resolve_baseline("qa@1", "qa@3", prompt_names=["qa"]) == "qa@1"
    assert resolve_baseline("qa", "qa@3", prompt_names=["qa"]) == "qa"


def test_the_reports_name_the_broken_cases_first(tmp_path: Path) -> None:
    baseline = _run("qa@v1", {"a": [(True, 0.6)], "b": [(False, 0.1)], "c": [(True, 1.0)]})
    candidate = _run("qa@v2", {"a": [(False, 0.4)], "b": [(True, 1.0)], "c": [(True, 1.0)]})
    result = compare(baseline, candidate)
    markdown = render_markdown(result)
    assert "BLOCKED: 1 case(s)" in markdown
    rows = [line for line in markdown.splitlines() if line.startswith(("| a |", "| b |"))]
    assert rows[0].startswith("| a | **BROKEN** | pass | fail |")
    assert rows[1].startswith("| b | fixed | fail | pass |")
    assert "| c |" not in markdown  # unchanged cases stay out of the Markdown diff
    page = render_html(result)
    assert "id=broken-count>1<" in page and "qa@v2 answer to a" in page and "<script" not in page
