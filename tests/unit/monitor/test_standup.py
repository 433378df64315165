"""The standup digest from real sources: traces, alert state, prompt registry, catalog, gate log, git, eval runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dayshift.evals.run import CaseResult, EvalRun, RunConfig
from dayshift.ingest.catalog import Catalog
from dayshift.monitor.alerts import AlertState, notify
from dayshift.monitor.findings import Finding
from dayshift.monitor.rules import load_rules
from dayshift.monitor.standup import StandupInputs, build_digest, digest_html, digest_json, slack_digest
from dayshift.prompts import PromptRegistry
from dayshift.trace.record import RetrievedChunk, TraceRecord
from dayshift.trace.store import TraceStore, create_trace_engine, default_trace_url

NOW = datetime.now(UTC).replace(microsecond=0)
SINCE = NOW - timedelta(hours=24)


@pytest.fixture(autouse=True)
def _fresh_clock() -> None:
    """NOW is each test's own start: a suite that reaches this file half an hour after importing it must see
    the same one-day window as a test run alone (the budget line is a share of a day's budget)."""
    global NOW, SINCE
    NOW = datetime.now(UTC).replace(microsecond=0)
    SINCE = NOW - timedelta(hours=24)


PROMPT = "---\nname: qa\nversion: {v}\n---\n[user]\n{{{{ question }}}} v{v}\n"


def trace(i: int, at: datetime, *, prompt: str, index: str, version: str, tenant: str = "acme") -> TraceRecord:
    return TraceRecord(
        trace_id=f"{i:032x}", tenant=tenant, route="/v1/ask", started_at=at, prompt_name="qa", prompt_version=prompt,
        model="smollm2", cost_usd=0.5, params={"index_version": index},
        retrieved=[RetrievedChunk(1, "a.md:0", "a.md", version, 0.9), RetrievedChunk(2, "b.md:0", "b.md", "b1", 0.5)])


@pytest.fixture
def inputs(tmp_path: Path) -> StandupInputs:
    records = [trace(i, SINCE - timedelta(hours=5) + timedelta(minutes=i), prompt="v1", index="sync-1@x", version="a1")
               for i in range(5)]
    records += [trace(100 + i, SINCE + timedelta(hours=2, minutes=i), prompt="v2", index="sync-1@x", version="a1")
                for i in range(5)]
    records += [trace(200 + i, SINCE + timedelta(hours=6, minutes=i), prompt="v2", index="sync-2@y", version="a2")
                for i in range(5)]
    with TraceStore(default_trace_url(tmp_path)) as store:
        store.write(records)
    prompts = tmp_path / "prompts"
    prompts.mkdir()
    for v in (1, 2):
        (prompts / f"v{v}.md").write_text(PROMPT.format(v=v))
    registry = PromptRegistry([prompts])
    registry.set_label("qa", "production", 2, actor="ana", reason="eval 14")
    catalog = Catalog(tmp_path / "catalog.sqlite")
    catalog.finish_run(catalog.start_run("docs/"), {"added": 2, "updated": 1, "deleted": 0, "unchanged": 7})
    rules = load_rules()
    alerts = AlertState(tmp_path / "alerts.sqlite")
    finding = Finding(area="quality", check="abstention_rate", status="alert", summary="abstentions doubled",
                      runbook="docs/runbooks/abstention-rate.md", scope={"tenant": "acme"})
    notify([finding], rules=rules, state=alerts, sink=None, now=SINCE + timedelta(hours=3))
    notify([], rules=rules, state=alerts, sink=None, now=SINCE + timedelta(hours=6))
    gates = [{"at": (NOW - timedelta(hours=1)).isoformat(), "candidate": "qa@v2", "baseline": "qa@v1",
              "dataset": "evals/qa.jsonl", "passed": False, "broken": 2, "fixed": 3, "flaky": 0, "promoted": False,
              "runs": ["r1", "r2"], "actor": "ben", "commit": "abcdef1234"}]
    config = RunConfig(prompt="qa@v2", prompt_hash="h", model="smollm2", index_version="sync-2@y",
                       settings_hash="s", dataset="evals/qa.jsonl", dataset_hash="d", repeats=1, min_f1=0.5, k=5)
    run = EvalRun(run_id="r2", started_at=(NOW - timedelta(hours=1)).isoformat(), config=config, seconds=1.0,
                  results=[CaseResult("c1", 0, True, "answer", "x", False, 0.9, [], [], {}, 10.0)])
    return StandupInputs(engine=create_trace_engine(default_trace_url(tmp_path)), alerts=alerts, registry=registry,
                         catalogs={"default": catalog}, eval_runs=[run], gates=gates,
                         tenant_budgets_usd={"acme": 10.0})


def titles(digest: object, kind: str) -> list[str]:
    return [i.title for i in digest.of(kind)]  # type: ignore[attr-defined]


def test_every_kind_of_change_is_named_with_who_and_what_it_affects(inputs: StandupInputs) -> None:
    digest = build_digest(inputs, since=SINCE, until=datetime.now(UTC) + timedelta(minutes=1))
    move = digest.of("prompt")[0]
    assert move.title == "qa@production: (new label) → v2" and move.who == "ana: eval 14"
    assert "gate BLOCKED on qa.jsonl (2 broken, 3 fixed)" in move.affects and "qa.jsonl (pass 100%" in move.affects
    served = digest.of("prompt")[1]
    assert served.title == "qa@v2 first served to acme (was qa@v1)" and served.who == "label move above"
    assert served.affects.startswith("10 answers")
    index = [i for i in digest.of("index") if "first served" in i.title]
    assert index and "1 of 2 documents retrieved since came back in a new version" in index[0].affects
    assert any(t.startswith("default: sync of docs/: 2 added, 1 updated") for t in titles(digest, "index"))
    gate = digest.of("gate")[0]
    assert "BLOCKED" in gate.title and gate.who == "ben at commit abcdef1" and gate.status == "blocked"
    events = [i.status for i in digest.of("alert")]
    assert events == ["opened", "closed"] and "tenant acme" in digest.of("alert")[0].affects
    budget = digest.of("budget")[0]
    assert budget.title.startswith("acme: $5.00 over 10 requests, 50% of its $10.0")  # a day and a minute or so
    assert digest.requests == 10 and digest.spend_usd == 5.0


def test_the_digest_renders_as_json_slack_and_escaped_html(inputs: StandupInputs) -> None:
    inputs.gates[0]["candidate"] = "<script>x</script>"
    digest = build_digest(inputs, since=SINCE, until=NOW + timedelta(minutes=5))
    as_json = json.loads(json.dumps(digest_json(digest)))
    assert {i["kind"] for i in as_json["items"]} == {"prompt", "index", "gate", "alert", "budget"}
    slack = slack_digest(digest)
    assert slack["text"].startswith("Standup") and any("*Eval gates*" in b["text"]["text"] for b in slack["blocks"][1:])
    page = digest_html(digest)
    assert "<script>" not in page and "&lt;script&gt;" in page


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_settings_commits_name_the_keys_the_author_and_the_model(inputs: StandupInputs, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {**os.environ, "GIT_AUTHOR_NAME": "Cai", "GIT_AUTHOR_EMAIL": "c@x", "GIT_COMMITTER_NAME": "Cai",
           "GIT_COMMITTER_EMAIL": "c@x"}

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)

    git("init", "-q")
    (repo / "dayshift.toml").write_text('[retrieve]\nmode = "hybrid"\n')
    git("add", "dayshift.toml")
    git("commit", "-qm", "start")
    (repo / "dayshift.toml").write_text('[retrieve]\nmode = "keyword"\n[llm]\nmodel = "qwen.gguf"\napi_key = "sk"\n')
    git("commit", "-qam", "keyword retrieval, a larger reader")
    inputs.settings_file = repo / "dayshift.toml"
    digest = build_digest(inputs, since=SINCE, until=datetime.now(UTC) + timedelta(minutes=1))
    change = digest.of("settings")[-1]
    assert "retrieve.mode: 'hybrid' → 'keyword'" in change.title and "api_key" not in change.title
    assert change.who.startswith("commit ") and "by Cai: keyword retrieval" in change.who
    assert titles(digest, "model")[0] == "llm.model: bundled → qwen.gguf"
