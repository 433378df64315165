"""The service end to end in-process: real models, real store, real trace database.

One open (no key) service over the demo corpus answers searches and questions;
every request leaves one trace that GET /v1/traces finds and feedback attaches to.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from service_env import ServiceEnv, start_service

from dayshift.cli.demo import corpus_dir

ANSWERABLE = "Which embedding model does dayshift bundle?"
OUT_OF_CORPUS = "What is the boiling point of tungsten?"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, models) -> Iterator[ServiceEnv]:  # type: ignore[no-untyped-def]
    data_dir = tmp_path_factory.mktemp("served")
    for started in start_service(data_dir, models):
        with started.service.pool.use("default") as runtime:
            runtime.ingestor.sync(corpus_dir())
        yield started


def _sse(body: str) -> list[tuple[str, object]]:
    events = []
    for block in body.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_search_returns_ranked_hits_and_a_trace_with_the_retrieved_chunks(env: ServiceEnv) -> None:
    r = env.client.post("/v1/search", json={"query": "hybrid search weighted fusion", "k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["hits"]) == 3 and body["hits"][0]["rank"] == 1
    assert "fusion" in body["hits"][0]["chunk"]["text"].lower()
    assert r.headers["x-request-id"]
    trace = env.client.get(f"/v1/traces/{body['trace_id']}").json()
    assert trace["route"] == "/v1/search" and trace["tenant"] == "default" and trace["status"] == "ok"
    assert trace["request_id"] == r.headers["x-request-id"]
    assert [c["chunk_id"] for c in trace["retrieved"]] == [h["chunk"]["chunk_id"] for h in body["hits"]]
    assert all(c["doc_version"] for c in trace["retrieved"])
    assert {"embed", "keyword", "dense", "fuse"} <= set(trace["stages_ms"])
    assert trace["latency_ms"] >= sum(trace["stages_ms"].values()) * 0.5


def test_search_filters_and_bad_filters(env: ServiceEnv) -> None:
    hits = env.client.post("/v1/search", json={"query": "dayshift", "k": 10, "where": ["source=faq"]}).json()["hits"]
    assert hits and all("faq" in h["chunk"]["source"] for h in hits)
    bad = env.client.post("/v1/search", json={"query": "x", "where": ["page>>3"]})
    assert bad.status_code == 422 and bad.json()["error"] == "invalid" and "page>=3" in bad.json()["detail"]
    schema = env.client.post("/v1/search", json={"query": "", "k": 0})
    assert schema.status_code == 422 and "k" in schema.json()["detail"]


def test_ask_answers_with_citations_and_traces_the_model_call(env: ServiceEnv) -> None:
    r = env.client.post("/v1/ask", json={"question": ANSWERABLE})
    assert r.status_code == 200, r.text
    body = r.json()
    assert not body["abstained"], body
    assert "minilm" in body["answer"].lower()
    assert body["citations"] and "faq" in body["citations"][0]["chunk"]["source"]
    assert body["usage"]["input_tokens"] > 0 and body["usage"]["output_tokens"] > 0
    trace = env.client.get(f"/v1/traces/{body['trace_id']}").json()
    assert trace["prompt"] == body["prompt"] and trace["model"] == body["model"]
    assert trace["abstained"] is False and trace["confidence"] == pytest.approx(body["confidence"], abs=1e-3)
    assert trace["input_tokens"] == body["usage"]["input_tokens"]
    assert {"embed", "dense", "select", "generate", "check"} <= set(trace["stages_ms"])
    assert trace["answer"] == body["answer"]
    # The trace holds the retriever's top k with fused scores, not only the passage the model was shown.
    assert len(trace["retrieved"]) == env.settings.answer.k
    assert body["citations"][0]["chunk"]["chunk_id"] in {c["chunk_id"] for c in trace["retrieved"]}
    assert [c["rank"] for c in trace["retrieved"]] == list(range(1, env.settings.answer.k + 1))


def test_ask_abstains_out_of_corpus_and_the_trace_says_why(env: ServiceEnv) -> None:
    body = env.client.post("/v1/ask", json={"question": OUT_OF_CORPUS}).json()
    assert body["abstained"] and body["reason"] and not body["citations"]
    trace = env.client.get(f"/v1/traces/{body['trace_id']}").json()
    assert trace["abstained"] is True and trace["abstain_reason"] == body["reason"]


def test_ask_stream_sends_tokens_then_the_answer_citations_and_the_trace_id_last(env: ServiceEnv) -> None:
    with env.client.stream("POST", "/v1/ask", json={"question": ANSWERABLE, "stream": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = _sse("".join(r.iter_text()))
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "token" and kinds[-3:] == ["answer", "citations", "done"]
    draft = "".join(data["text"] for kind, data in events if kind == "token")  # type: ignore[index]
    answer = events[-3][1]
    assert draft.strip() and isinstance(answer, dict) and answer["trace_id"] == events[-1][1]["trace_id"]  # type: ignore[index]
    assert env.client.get(f"/v1/traces/{answer['trace_id']}").status_code == 200


def test_feedback_attaches_to_a_trace_and_traces_filter_by_it(env: ServiceEnv) -> None:
    since = time.time()
    asked = env.client.post("/v1/search", json={"query": "calibration threshold"}).json()
    other = env.client.post("/v1/search", json={"query": "circuit breaker"}).json()
    r = env.client.post("/v1/feedback", json={"trace_id": asked["trace_id"], "rating": "down", "comment": "stale"})
    assert r.status_code == 201 and r.json()["rating"] == "down"
    missing = env.client.post("/v1/feedback", json={"trace_id": "0" * 32, "rating": "up"})
    assert missing.status_code == 404
    down = env.client.get("/v1/traces", params={"feedback": "down"}).json()["traces"]
    assert [t["trace_id"] for t in down] == [asked["trace_id"]]
    assert down[0]["feedback"][0]["comment"] == "stale"
    none = {t["trace_id"] for t in env.client.get("/v1/traces", params={"feedback": "none"}).json()["traces"]}
    assert other["trace_id"] in none and asked["trace_id"] not in none
    assert since  # the window filter:
    recent = env.client.get("/v1/traces", params={"route": "/v1/search", "limit": 2}).json()
    assert [t["trace_id"] for t in recent["traces"]] == [other["trace_id"], asked["trace_id"]]
    assert recent["next_before"] == asked["trace_id"]


def test_traces_filter_by_prompt_version_and_abstention(env: ServiceEnv) -> None:
    answered = env.client.post("/v1/ask", json={"question": ANSWERABLE}).json()
    abstained = env.client.post("/v1/ask", json={"question": OUT_OF_CORPUS}).json()
    yes = {t["trace_id"] for t in env.client.get("/v1/traces", params={"abstained": True}).json()["traces"]}
    no = {t["trace_id"] for t in env.client.get("/v1/traces", params={"abstained": False}).json()["traces"]}
    assert abstained["trace_id"] in yes and answered["trace_id"] in no and answered["trace_id"] not in yes
    name, version = answered["prompt"].split("@")
    for given in (answered["prompt"], version):
        hits = {t["trace_id"] for t in env.client.get("/v1/traces", params={"prompt_version": given}).json()["traces"]}
        assert answered["trace_id"] in hits
    assert env.client.get("/v1/traces", params={"prompt_version": "answer@999"}).json()["traces"] == []


def test_upload_ingests_as_a_job_and_delete_removes_every_chunk(env: ServiceEnv, tmp_path: Path) -> None:
    note = "# Zorblax\n\nThe Zorblax protocol rotates keys every ninety minutes.\n"
    r = env.client.post("/v1/documents", files=[("files", ("zorblax.md", note.encode(), "text/markdown"))])
    assert r.status_code == 202, r.text
    job = r.json()
    for _ in range(200):
        status = env.client.get(job["status_url"]).json()
        if status["state"] in ("done", "failed"):
            break
        time.sleep(0.05)
    assert status["state"] == "done" and status["counts"]["added"] == 1, status
    hits = env.client.post("/v1/search", json={"query": "Zorblax protocol", "k": 1}).json()["hits"]
    doc_id = hits[0]["chunk"]["doc_id"]
    assert "Zorblax" in hits[0]["chunk"]["text"]
    assert doc_id in {d["doc_id"] for d in env.client.get("/v1/documents").json()["documents"]}
    gone = env.client.delete(f"/v1/documents/{doc_id}")
    assert gone.status_code == 200 and gone.json()["chunks_removed"] >= 1
    after = env.client.post("/v1/search", json={"query": "Zorblax protocol", "k": 5}).json()["hits"]
    assert all(h["chunk"]["doc_id"] != doc_id for h in after)
    assert env.client.delete(f"/v1/documents/{doc_id}").status_code == 404


def test_upload_lists_unknown_types_and_unsafe_names_as_failures(env: ServiceEnv) -> None:
    """Like `dayshift ingest`, an upload takes the files it can read and lists the rest, with the fix."""
    r = env.client.post("/v1/documents", files=[("files", ("tool.exe", b"MZ", "application/octet-stream")),
                                                 ("files", ("../", b"x", "text/plain"))])
    assert r.status_code == 202 and r.json()["files"] == []
    status = _wait(env, r.json()["job_id"])
    failures = {f["source"]: f for f in status["failures"]}
    assert failures["tool.exe"]["kind"] == "unsupported" and "PDF" in failures["tool.exe"]["fix"]
    assert failures["../"]["kind"] == "bad_name" and "report.pdf" in failures["../"]["fix"]
    assert not (env.settings.data_dir / "uploads" / "tool.exe").exists()
    assert env.client.post("/v1/documents", files=[]).status_code == 422  # no file at all
    assert env.client.get("/v1/documents/jobs/nope").status_code == 404


def test_health_readiness_metrics_and_openapi(env: ServiceEnv) -> None:
    assert env.client.get("/healthz").json() == {"status": "ok"}
    ready = env.client.get("/readyz").json()
    assert ready["status"] == "ready" and set(ready["checks"]) == {"index", "traces", "model"}
    env.client.post("/v1/search", json={"query": "index"})
    metrics = env.client.get("/metrics").text
    assert 'dayshift_requests_total{route="/v1/search",status="200"}' in metrics
    spec = env.client.get("/openapi.json").json()
    routes = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert {("/v1/ask", "post"), ("/v1/search", "post"), ("/v1/documents", "post"),
            ("/v1/documents/jobs/{job_id}", "get"), ("/v1/documents/{doc_id}", "delete"), ("/v1/feedback", "post"),
            ("/v1/traces", "get"), ("/metrics", "get"), ("/healthz", "get"), ("/readyz", "get")} <= routes
    assert "Problem" in spec["components"]["schemas"] and "bearerAuth" not in spec.get("security", [])
    assert env.client.get("/").headers["content-type"].startswith("text/html")


def test_spans_follow_the_genai_conventions(env: ServiceEnv) -> None:
    env.spans.clear()
    body = env.client.post("/v1/ask", json={"question": ANSWERABLE}).json()
    spans = env.spans.get_finished_spans()
    root = next(s for s in spans if s.parent is None and s.attributes.get("dayshift.trace_id") == body["trace_id"])
    chat = next(s for s in spans if s.attributes.get("gen_ai.operation.name") == "chat")
    assert chat.parent is not None and chat.parent.span_id == root.context.span_id
    assert chat.attributes["gen_ai.usage.input_tokens"] == body["usage"]["input_tokens"]
    assert chat.attributes["gen_ai.usage.output_tokens"] == body["usage"]["output_tokens"]
    assert chat.attributes["gen_ai.request.model"]
    texts = [str(v) for s in spans for v in s.attributes.values()]
    assert not any(ANSWERABLE in t or body["answer"] in t for t in texts)  # no prompt or answer text leaves


def _wait(env: ServiceEnv, job_id: str) -> dict:  # type: ignore[type-arg]
    for _ in range(400):
        status = env.client.get(f"/v1/documents/jobs/{job_id}").json()
        if status["state"] in ("done", "failed"):
            return status  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {status}")


MODEL_SCHEMA = {
    "type": "object",
    "properties": {"model": {"type": "string", "maxLength": 60}, "dimensions": {"type": ["integer", "null"]}},
    "required": ["model", "dimensions"],
    "additionalProperties": False,
}


def test_ask_with_response_format_returns_json_valid_against_the_schema_cited_and_supported(env: ServiceEnv) -> None:
    from jsonschema import Draft202012Validator

    fmt = {"type": "json_schema", "json_schema": {"name": "model", "schema": MODEL_SCHEMA}}
    body = env.client.post("/v1/ask", json={"question": ANSWERABLE, "response_format": fmt}).json()
    assert not body["abstained"], body
    assert not list(Draft202012Validator(MODEL_SCHEMA).iter_errors(body["data"]))
    assert "minilm" in body["data"]["model"].lower()
    assert json.loads(body["answer"]) == body["data"] and body["supported"] is True
    assert body["citations"] and "faq" in body["citations"][0]["chunk"]["source"]
    off = env.client.post("/v1/ask", json={"question": OUT_OF_CORPUS, "response_format": fmt}).json()
    assert off["abstained"] and off["data"] is None and off["supported"] is False


def test_response_format_that_cannot_be_honoured_is_a_clear_422(env: ServiceEnv) -> None:
    fmt = {"type": "json_schema", "json_schema": {"schema": MODEL_SCHEMA}}
    streamed = env.client.post("/v1/ask", json={"question": ANSWERABLE, "response_format": fmt, "stream": True})
    assert streamed.status_code == 422 and "not streamed" in streamed.json()["detail"]
    not_object = {"type": "json_schema", "json_schema": {"schema": {"type": "array"}}}
    bad = env.client.post("/v1/ask", json={"question": ANSWERABLE, "response_format": not_object})
    assert bad.status_code == 422 and "object" in bad.json()["detail"]
    broken = {"type": "json_schema", "json_schema": {"schema": {"type": "object", "properties": {"a": {"type": 7}}}}}
    assert env.client.post("/v1/ask", json={"question": ANSWERABLE, "response_format": broken}).status_code == 422
