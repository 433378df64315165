"""Prometheus metrics of one app, on the app's own registry, rendered for GET /metrics.

    finished request --TraceRecord--> observe_trace: requests, latency, stages, tokens, cost,
                                                     retries, answered | abstained, confidence
    middleware       --inflight(route)   routes       --observe_feedback, rate_limited, job, trace_spooled

Labels are bounded on purpose: route templates, HTTP status codes, stage and
model names come from code and configuration. Nothing is labelled by tenant,
API key, trace id or request id: every distinct label value is a new time
series held in memory here and in Prometheus forever, so an id-valued label
grows without bound and takes both down. Per-tenant figures live in the trace
database and the usage ledger instead. Routes must be templates
(`/v1/documents/{doc_id}`), never raw paths, for the same reason.

Each ServiceMetrics has its own CollectorRegistry (never prometheus_client's
global one), so several apps in one process, as in tests, do not collide.

Left out: process metrics (CPU, memory, GC), which a deployment's node
exporter covers, and multiprocess mode (one registry per worker process).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

from dayshift.trace.record import TraceRecord

__all__ = ["REQUEST_BUCKETS_S", "STAGE_BUCKETS_S", "ServiceMetrics"]

# 1 ms to 60 s: a cached search is a few ms, an answer from a slow model up to the total timeout.
REQUEST_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0)
# Stages go lower: fusion of two lists takes well under a millisecond.
STAGE_BUCKETS_S = (0.0001, 0.00025, 0.0005, *REQUEST_BUCKETS_S)
CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
_NO_MODEL = "none"  # the label of a trace that called no model (a search, an abstention)


class ServiceMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.requests = Counter("dayshift_requests_total", "Requests finished, by route template and HTTP status",
                                ["route", "status"], registry=r)
        self.request_duration = Histogram("dayshift_request_duration_seconds", "Request latency, by route template",
                                          ["route"], buckets=REQUEST_BUCKETS_S, registry=r)
        self.stage_duration = Histogram("dayshift_stage_duration_seconds",
                                        "Time in each stage: keyword, embed, dense, fuse, rerank, generate, check",
                                        ["stage"], buckets=STAGE_BUCKETS_S, registry=r)
        self.llm_tokens = Counter("dayshift_llm_tokens_total", "Model tokens, by model and direction (input|output)",
                                  ["model", "direction"], registry=r)
        self.llm_cost = Counter("dayshift_llm_cost_usd_total", "Model cost in US dollars, from the price table",
                                ["model"], registry=r)
        self.llm_retries = Counter("dayshift_llm_retries_total", "Model attempts beyond the first, fallbacks included",
                                   ["model"], registry=r)
        self.answers = Counter("dayshift_answers_total", "Questions answered or abstained on", ["outcome"], registry=r)
        self.confidence = Histogram("dayshift_answer_confidence", "Confidence of each answer or abstention",
                                    buckets=CONFIDENCE_BUCKETS, registry=r)
        self.feedback = Counter("dayshift_feedback_total", "Feedback received, by rating", ["rating"], registry=r)
        self.rate_limited_requests = Counter("dayshift_rate_limited_total", "Requests refused by the rate limit",
                                             registry=r)
        self.jobs = Counter("dayshift_ingest_jobs_total", "Ingest jobs reaching each state", ["state"], registry=r)
        self.traces_spooled = Counter("dayshift_traces_spooled_total", "Traces appended to the spool", registry=r)
        self.inflight_requests = Gauge("dayshift_inflight_requests", "Requests being served now, by route template",
                                       ["route"], registry=r)
        self.agent_runs = Counter("dayshift_agent_runs_total", "Agent runs, by how they ended: answer, budget:steps, "
                                  "budget:seconds, budget:tokens, budget:cost, loop, invalid_arguments, error, cancelled",
                                  ["stop_reason"], registry=r)
        self.agent_budget_stops = Counter("dayshift_agent_budget_stops_total", "Agent runs a budget stopped, by budget",
                                          ["budget"], registry=r)
        self.agent_tool_errors = Counter("dayshift_agent_tool_errors_total", "Agent tool calls that failed or were "
                                         "refused or invalid, by tool", ["tool"], registry=r)

    # -- from a finished request ------------------------------------------------

    def observe_trace(self, record: TraceRecord) -> None:
        """Everything a finished /v1/ask or /v1/search request tells: call once per trace."""
        self.observe_request(record.route, status=record.http_status, duration_s=record.latency_ms / 1000.0)
        for stage, ms in record.stages_ms.items():
            if stage != "total":
                self.stage_duration.labels(stage=stage).observe(ms / 1000.0)
        model = record.model or _NO_MODEL
        if record.input_tokens:
            self.llm_tokens.labels(model=model, direction="input").inc(record.input_tokens)
        if record.output_tokens:
            self.llm_tokens.labels(model=model, direction="output").inc(record.output_tokens)
        if record.cost_usd:
            self.llm_cost.labels(model=model).inc(record.cost_usd)
        if record.retries:
            self.llm_retries.labels(model=model).inc(record.retries)
        if record.abstained is not None:
            self.answers.labels(outcome="abstained" if record.abstained else "answered").inc()
        if record.confidence is not None:
            self.confidence.observe(record.confidence)

    def observe_request(self, route: str, *, status: int, duration_s: float) -> None:
        """A request without a trace (ingest, feedback, traces, ...). Traced ones come through observe_trace."""
        self.requests.labels(route=route, status=str(status)).inc()
        self.request_duration.labels(route=route).observe(duration_s)

    # -- events ---------------------------------------------------------------

    def observe_feedback(self, rating: str) -> None:
        self.feedback.labels(rating=rating).inc()  # "up" | "down": the API admits no other value

    def rate_limited(self) -> None:
        self.rate_limited_requests.inc()

    def job(self, state: str) -> None:
        """An ingest job entered `state`: queued, running, done or failed."""
        self.jobs.labels(state=state).inc()

    def agent_run(self, result: Any) -> None:
        """One finished agent run (dayshift.agents.result.AgentResult): how it ended, budget stops, tool errors."""
        self.agent_runs.labels(stop_reason=result.stop_reason).inc()
        if result.stop_reason.startswith("budget:"):
            self.agent_budget_stops.labels(budget=result.stop_reason.split(":", 1)[1]).inc()
        for step in result.steps:
            if step.status in ("error", "refused", "invalid"):
                self.agent_tool_errors.labels(tool=step.tool or "(reply)").inc()

    def trace_spooled(self) -> None:
        self.traces_spooled.inc()

    @contextmanager
    def inflight(self, route: str) -> Iterator[None]:
        gauge = self.inflight_requests.labels(route=route)
        gauge.inc()
        try:
            yield
        finally:
            gauge.dec()

    # -- exposition -----------------------------------------------------------

    def render(self, accept: str | None = None) -> tuple[bytes, str]:
        """(body, content type) for GET /metrics, in the format the scraper's Accept header asks for
        (OpenMetrics or Prometheus text; Prometheus text 0.0.4 when it asks for none)."""
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type
