"""POST /v1/agent in-process with a scripted model (so the steps are known) over a real SQLite file: the JSON
result, the server-sent events per step, the trace with one span per step at GET /v1/traces/{id}, the
Prometheus counts of runs, budget stops and tool errors, and requests that would widen the server's tools."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from fastapi.testclient import TestClient

from dayshift.assemble import open_embedder
from dayshift.llm.base import Timeouts
from dayshift.llm.client import LLMClient, RetryPolicy
from dayshift.service.app import build_service, create_app
from dayshift.settings import load_settings
from dayshift.testing.scripted_llm import ScriptedBackend


def stored_trace(client: TestClient, trace_id: str) -> dict[str, object]:
    """The trace once the flusher has written it (each GET waits for it up to 15 s; a loaded runner needs more)."""
    for _ in range(20):
        response = client.get(f"/v1/traces/{trace_id}")
        if response.status_code == 200:
            return response.json()  # type: ignore[no-any-return]
        assert response.status_code == 404, response.text
    raise AssertionError(f"trace {trace_id} was not written: {response.text}")


def call(name: str, **arguments: object) -> str:
    return json.dumps({"name": name, "arguments": arguments})


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TestClient, ScriptedBackend]]:
    shop = tmp_path / "shop.sqlite"
    db = sqlite3.connect(shop)
    db.executescript("CREATE TABLE Customer (Id INTEGER, Name TEXT); INSERT INTO Customer VALUES (1, 'Ada'), (2, 'Bo');")
    db.commit()
    db.close()
    # store_text "raw": the trace is written without loading the PII redactor (redaction has its own tests)
    settings = load_settings(data_dir=tmp_path / "data", agent={"databases": [str(shop)],
                                                                "tools": ["sql", "calculator"]},
                             trace={"store_text": "raw"})
    backend = ScriptedBackend(context_window=8192)
    llm = LLMClient([backend], timeouts=Timeouts(), retry=RetryPolicy(max_retries=0, backoff_base_s=0.0),
                    breaker_failures=5, breaker_reset_s=30)
    built = build_service(settings, embedder=open_embedder(settings), llm=llm)
    with TestClient(create_app(settings, service=built)) as client:
        yield client, backend


def test_json_result_trace_spans_and_counters(served: tuple[TestClient, ScriptedBackend]) -> None:
    client, backend = served
    backend.add(call("sql", query="DROP TABLE Customer"), call("sql", query="SELECT COUNT(*) FROM Customer"),
                call("final_answer", answer="2 customers", sources=["Q1"]))
    response = client.post("/v1/agent", json={"task": "How many customers?"})
    assert response.status_code == 200, response.text
    body = response.json()
    result = body["result"]
    assert result["answer"] == "2 customers" and [c["id"] for c in result["citations"]] == ["Q1"]
    assert [s["status"] for s in result["steps"]] == ["refused", "ok", "answer"]
    trace = stored_trace(client, body["trace_id"])
    spans = trace["detail"]["agent"]["spans"]
    assert [s["name"] for s in spans] == ["sql", "sql", "final_answer"] and trace["route"] == "/v1/agent"
    assert spans[1]["result"]["text"].endswith("2") and spans[0]["error"]["text"].startswith("only SELECT")
    assert trace["answer"] == "2 customers" and "step 1 sql: refused" in trace["errors"]
    metrics = client.get("/metrics").text
    assert 'dayshift_agent_tool_errors_total{tool="sql"} 1.0' in metrics
    assert 'dayshift_agent_runs_total{stop_reason="answer"} 1.0' in metrics


def test_events_per_step_and_a_budget_stop(served: tuple[TestClient, ScriptedBackend]) -> None:
    client, backend = served
    counter = iter(range(1000))
    backend.default_reply = lambda request: call("calculator", expression=f"{next(counter)} + 1")
    with client.stream("POST", "/v1/agent", json={"task": "Count forever.", "max_steps": 3, "stream": True}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        blocks = [b for b in r.read().decode().split("\n\n") if b.strip()]
    events = [(b.split("\n")[0].removeprefix("event: "), json.loads(b.split("\n", 1)[1].removeprefix("data: ")))
              for b in blocks]
    names = [name for name, _ in events]
    assert names[-2:] == ["result", "done"] and names[:-2] == ["step"] * len(events[-2][1]["steps"])
    # each event, as a client parses it ({event, data}), is what the OpenAPI document says a 200 stream holds
    documented = client.get("/openapi.json").json()["paths"]["/v1/agent"]["post"]["responses"]["200"]["content"]
    for block in blocks:
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        jsonschema.validate(fields, documented["text/event-stream"]["schema"])
    result = events[-2][1]
    assert result["stop_reason"] == "budget:steps" and result["usage"]["steps"] == 3 and result["overruns"] == []
    assert 'dayshift_agent_budget_stops_total{budget="steps"} 1.0' in client.get("/metrics").text


def test_a_request_cannot_widen_the_tools_or_the_budget(served: tuple[TestClient, ScriptedBackend]) -> None:
    client, _ = served
    wider = client.post("/v1/agent", json={"task": "x", "tools": ["fetch_url"]})
    assert wider.status_code == 422 and "fetch_url" in wider.json()["detail"]
    assert client.post("/v1/agent", json={"task": "x", "max_steps": 1000}).status_code == 422
    assert client.post("/v1/agent", json={"task": "x", "databases": ["/etc/passwd"]}).status_code == 422
