"""The gate log: one line per `dayshift eval gate`, read back for the standup digest."""

from __future__ import annotations

from pathlib import Path

from dayshift.evals.gate import compare
from dayshift.evals.gate_log import GATE_LOG, append_gate, read_gates
from dayshift.evals.run import CaseResult, EvalRun, RunConfig


def a_run(run_id: str, prompt: str, passed: list[bool]) -> EvalRun:
    config = RunConfig(prompt=prompt, prompt_hash="h", model="m", index_version="sync-1@x", settings_hash="s",
                       dataset="evals/qa.jsonl", dataset_hash="d", repeats=1, min_f1=0.5, k=5)
    results = [CaseResult(f"c{i}", 0, p, "answer", "x", False, 0.8, [], [], {}, 5.0) for i, p in enumerate(passed)]
    return EvalRun(run_id=run_id, started_at="2025-03-03T10:00:00+00:00", config=config, results=results, seconds=1.0)


def test_a_blocked_and_a_passed_gate_are_logged_with_who_and_the_commit(tmp_path: Path) -> None:
    blocked = compare(a_run("b1", "qa@v2", [True, True, False]), a_run("c1", "qa@v3", [True, False, True]))
    passed = compare(a_run("b2", "qa@v2", [True, False]), a_run("c2", "qa@v3", [True, True]))
    append_gate(tmp_path, blocked, dataset="evals/qa.jsonl", actor="ana", commit="abc123")
    append_gate(tmp_path, passed, dataset="evals/qa.jsonl", actor="ana")
    (tmp_path / GATE_LOG).open("a").write("not json\n")
    first, second = read_gates(tmp_path)
    assert (first["passed"], first["broken"], first["fixed"], first["commit"]) == (False, 1, 1, "abc123")
    assert (second["passed"], second["candidate"], second["baseline"], second["runs"]) == (True, "qa@v3", "qa@v2",
                                                                                          ["b2", "c2"])
    assert read_gates(tmp_path / "elsewhere") == []
