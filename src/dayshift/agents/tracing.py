"""A run as a trace: one span per step under the request's trace, in TraceRecord.detail["agent"].

    record.detail = {"agent": {"status", "stop_reason", "stop_detail", "budget", "usage", "protocol", "model",
                               "citations": [...], "spans": [span, ...]}}
    span = {"n", "name": "sql" | "final_answer" | "(unreadable reply)", "status", "start_ms", "duration_ms",
            "model_ms", "tool_ms", "input_tokens", "output_tokens", "cost_usd", "evidence": ["Q1"],
            "arguments": {"text"}, "result": {"text"}, "error": {"text"}, "withheld"}

Text sits under "text" keys (trace.detail.TEXT_KEYS), so trace.store_text redacts or drops it like
the question and the answer. Results are cut to agent.trace_result_chars when the step is made.
GET /v1/traces/{id} returns it as `detail`; the web UI draws the spans as a timeline.

Left out: OpenTelemetry export of the steps (the request's span covers the whole run).
"""

from __future__ import annotations

from typing import Any

from dayshift.agents.result import AgentResult
from dayshift.trace.record import TraceRecord


def spans(result: AgentResult) -> list[dict[str, Any]]:
    out = []
    for s in result.steps:
        start = max(0.0, s.started_ms - s.model_ms)
        out.append({
            "n": s.n, "model_call": s.model_call, "name": s.tool or "(unreadable reply)", "status": s.status,
            "start_ms": round(start, 1), "duration_ms": round(s.model_ms + s.tool_ms, 1),
            "model_ms": round(s.model_ms, 1), "tool_ms": round(s.tool_ms, 1), "input_tokens": s.input_tokens,
            "output_tokens": s.output_tokens, "cost_usd": round(s.cost_usd, 8), "evidence": list(s.evidence),
            "withheld": s.withheld, "arguments": {"text": s.arguments or ""}, "result": {"text": s.result},
            "error": {"text": s.error} if s.error else None,
        })
    return out


def agent_detail(result: AgentResult) -> dict[str, Any]:
    return {"agent": {
        "status": result.status, "stop_reason": result.stop_reason, "stop_detail": result.stop_detail,
        "budget": result.budget.to_json(), "usage": dict(result.usage), "protocol": result.protocol,
        "model": result.model, "tools": list(result.tools), "tool_errors": result.tool_errors,
        "invalid_calls": result.invalid_calls, "repeats": result.repeats, "withheld": result.withheld,
        "links_removed": len(result.links_removed),
        "citations": [{"id": c.id, "kind": c.kind, "label": {"text": c.label}, "doc_id": c.doc_id,
                       "chunk_id": c.chunk_id} for c in result.citations],
        "spans": spans(result),
    }}


def fill_record(record: TraceRecord, result: AgentResult) -> None:
    """The run's fields of its trace: answer, prompt, model, tokens, cost, errors, and the spans."""
    record.answer = result.answer or result.partial
    # abstained stays None: an agent run is not a question the answer metrics and drift detectors count
    name, _, version = result.prompt.partition("@")
    record.prompt_name, record.prompt_version = name or None, version or None
    record.model = result.model or None
    record.input_tokens = int(result.usage.get("input_tokens", 0))
    record.output_tokens = int(result.usage.get("output_tokens", 0))
    record.cost_usd = float(result.usage.get("cost_usd", 0.0))
    record.stages_ms = {"model": round(sum(s.model_ms for s in result.steps), 3),
                        "tools": round(sum(s.tool_ms for s in result.steps), 3)}
    record.errors += [f"step {s.n} {s.tool or 'reply'}: {s.status}" for s in result.steps
                      if s.status in ("error", "refused", "invalid", "repeated")]
    if result.budget_stop:
        record.errors.append(f"budget stop: {result.stop_reason}")
    record.detail = agent_detail(result)
