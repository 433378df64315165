"""The trace debugger on real answers: the service records the detail; show, replay and why read it.

The service runs in-process over the demo corpus with the bundled models; `dayshift traces` runs as
the user runs it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from service_env import ServiceEnv, start_service

from dayshift.cli.demo import corpus_dir
from dayshift.debugger.replay import replay
from dayshift.debugger.why import explain_chunk
from dayshift.errors import ConfigError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from cli_runner import run  # noqa: E402

ANSWERED = "Which file formats can be ingested?"
UNKNOWN = "How many legs does a spider have?"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, models: Any) -> Iterator[ServiceEnv]:
    for started in start_service(tmp_path_factory.mktemp("debugger"), models):
        with started.service.pool.use("default") as runtime:
            runtime.ingestor.sync(corpus_dir())
        yield started


def ask(env: ServiceEnv, question: str) -> dict[str, Any]:
    body = env.client.post("/v1/ask", json={"question": question}).json()
    env.service.traces.sync()
    return env.client.get(f"/v1/traces/{body['trace_id']}").json()


def test_an_answer_records_the_whole_anatomy(env: ServiceEnv) -> None:
    trace = ask(env, ANSWERED)
    detail = trace["detail"]
    chunks = detail["retrieval"]["chunks"]
    assert [c["chunk_id"] for c in chunks] == [r["chunk_id"] for r in trace["retrieved"]]
    assert all(c["keyword"] is not None or c["dense"] is not None for c in chunks)
    assert detail["retrieval"]["mode"] == "hybrid" and detail["retrieval"]["keyword_cutoff"] is not None
    assert detail["sources"] and detail["messages"][-1]["role"] == "user"
    prompt = detail["messages"][-1]["content"]
    assert ANSWERED in prompt and detail["sources"][0]["text"] in prompt
    assert detail["draft"] and detail["verdict"]["stage"] in ("answered", "support")
    assert detail["support"]["checked_against"] in ("cited", "all given")
    assert detail["threshold"] > 0 and set(detail["evidence"]) >= {"dense_top", "coverage", "support"}


def test_show_prints_the_views(env: ServiceEnv) -> None:
    trace = ask(env, ANSWERED)
    shown = run(env.settings.data_dir, "traces", "show", trace["trace_id"])
    assert shown.returncode == 0, shown.stderr
    for part in ("retrieved", "keyword (rank)", "excerpts sent", "prompt as rendered", "draft", "support", "verdict"):
        assert part in shown.stdout, part


def test_a_replay_changes_one_setting_and_shows_what_moved(env: ServiceEnv) -> None:
    trace = ask(env, UNKNOWN)
    assert trace["abstained"] and trace["detail"]["verdict"]["stage"] == "retrieval"
    record = env.service.traces.store.get(trace["trace_id"], tenant=None).record
    result = replay(env.settings, record, overrides=["answer.abstain_threshold=0.0"])
    # Before: as recorded, no model call. After: the evidence bar is gone, so the model is asked; whether
    # its draft then survives the support check is the model's business, but the verdict is another one.
    assert result.recorded_matches and result.before.verdict == "abstained before generating"
    assert result.after.threshold == 0.0 and result.after.detail["messages"] and result.after.tokens[1] > 0
    what = {d.what for d in result.differences()}
    assert {"verdict", "confidence", "draft"} <= what
    with pytest.raises(ConfigError, match="nothing to change"):
        replay(env.settings, record)
    with pytest.raises(ConfigError, match="cannot change store"):
        replay(env.settings, record, overrides=["store.backend=qdrant"])
    printed = run(env.settings.data_dir, "traces", "replay", trace["trace_id"], "--set", "answer.abstain_threshold=0")
    assert printed.returncode == 0, printed.stderr
    assert "what changed" in printed.stdout and "abstained before generating" in printed.stdout


def test_why_explains_a_retrieved_chunk_and_one_left_out(env: ServiceEnv) -> None:
    trace = ask(env, ANSWERED)
    record = env.service.traces.store.get(trace["trace_id"], tenant=None).record
    top = record.retrieved[0].chunk_id
    why = explain_chunk(env.settings, record, top)
    assert why.trace_rank == 1 and why.now_rank == 1 and why.keyword_rank is not None and why.dense is not None
    assert why.lines()[0].startswith("retrieved at rank 1 in this trace")
    assert why.terms and any(score > 0 for score in why.terms.values())
    retrieved = {c.chunk_id for c in record.retrieved}
    with env.service.pool.use("default") as runtime:
        other = next(h.chunk.chunk_id for h in runtime.retriever.search("the web UI review page", k=20).hits
                     if h.chunk.chunk_id not in retrieved)
    left_out = explain_chunk(env.settings, record, other)
    assert left_out.trace_rank is None and left_out.lines()[0] == "not retrieved in this trace"
    assert any(line.startswith("fused:") and "misses the top" in line for line in left_out.lines())
    gone = explain_chunk(env.settings, record, "no-such-doc.md:0")
    assert gone.chunk is None and "not in the index now" in gone.lines()[0]
    printed = run(env.settings.data_dir, "traces", "why", trace["trace_id"], "--chunk", other)
    assert printed.returncode == 0 and "not retrieved in this trace" in printed.stdout
