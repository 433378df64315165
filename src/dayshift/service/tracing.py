"""From a finished request to its trace: build the TraceRecord, spool it, count it.

    search / answer --record--> TraceRecord --spool.append (the only work on the request path)
                                            --metrics.observe_trace
    flusher process: spool --redact--> trace database (SQLAlchemy)
    POST /v1/feedback: comment --redact (TraceSink.comment_to_store)--> trace database

A trace is appended before the response completes (the JSON body, or the
stream's final `done` event), so a client that sees its trace id can find
the trace, even if the server is killed the next moment.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dayshift.answer.answerer import Answer
from dayshift.retrieve.retriever import SearchResult
from dayshift.service.metrics import ServiceMetrics
from dayshift.settings import TraceSettings
from dayshift.trace.detail import answer_detail
from dayshift.trace.flusher import TraceFlusher
from dayshift.trace.record import RetrievedChunk, TraceRecord, new_trace_id
from dayshift.trace.redact import TextRedactor, prepare_comment
from dayshift.trace.store import TraceStore, default_trace_url
from dayshift.types import Hit

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Pending:
    """A trace being filled in while its request runs."""

    record: TraceRecord
    started: float  # perf_counter at the start of the request
    extra_stages: dict[str, float] = field(default_factory=dict)


def start_trace(route: str, *, tenant: str, request_id: str, query: str, params: dict[str, Any],
                started: float) -> Pending:
    record = TraceRecord(trace_id=new_trace_id(), tenant=tenant, route=route, started_at=datetime.now(UTC),
                         request_id=request_id, query=query, params=params)
    return Pending(record=record, started=started)


def retrieved(hits: list[Hit]) -> list[RetrievedChunk]:
    return [
        RetrievedChunk(rank=i, chunk_id=h.chunk.chunk_id, doc_id=h.chunk.doc_id, doc_version=h.chunk.doc_version,
                       score=round(float(h.score), 6))
        for i, h in enumerate(hits, 1)
    ]


def fill_search(pending: Pending, result: SearchResult) -> None:
    r = pending.record
    r.retrieved = retrieved(result.hits)
    r.stages_ms = {k: round(v, 3) for k, v in result.timings_ms.items() if k != "total"}


def fill_answer(pending: Pending, answer: Answer, hits: list[Hit], *, answerer: Any = None,
                search: SearchResult | None = None) -> None:
    """The answer's fields of the trace; with the `answerer` that gave it, also the debugger's detail."""
    r = pending.record
    if answerer is not None:
        r.detail = answer_detail(answer, search=search, template=answerer.prompt,
                                 threshold=answerer.abstention.threshold, retrieve=_retrieve_settings(answerer))
    r.retrieved = retrieved(hits)
    r.stages_ms = {k: round(v, 3) for k, v in answer.timings_ms.items() if k != "total"}
    r.answer, r.confidence, r.abstained = answer.text, round(answer.confidence, 6), answer.abstained
    r.abstain_reason = answer.reason or None
    name, _, version = answer.prompt.partition("@")
    r.prompt_name, r.prompt_version = name or None, version or None
    if answer.completion is not None:
        c = answer.completion
        r.model, r.input_tokens, r.output_tokens = c.model, c.usage.input_tokens, c.usage.output_tokens
        r.cost_usd, r.retries = c.cost_usd, max(0, c.attempts - 1)


def _retrieve_settings(answerer: Any) -> dict[str, Any]:
    r = getattr(answerer.retriever, "settings", None)
    if r is None:
        return {}
    return {"mode": r.mode, "fusion": r.fusion, "dense_weight": r.dense_weight, "candidates": r.candidates,
            "rerank": r.rerank}


class TraceSink:
    """Where finished traces go: the spool (when tracing is on) and the metrics (always)."""

    def __init__(self, settings: TraceSettings, *, data_dir: Path, metrics: ServiceMetrics) -> None:
        self.settings, self.metrics = settings, metrics
        self.url = settings.url or default_trace_url(data_dir)
        self.enabled = settings.enabled
        self.store = TraceStore(self.url)  # migrates; reads and feedback go straight to the database
        self.flusher: TraceFlusher | None = None
        self._redactor: TextRedactor | None = None  # feedback comments' (loaded on the first one)
        self._redactor_lock = threading.Lock()
        if self.enabled:
            self.flusher = TraceFlusher.start(data_dir / "trace-spool", self.url, store_text=settings.store_text,
                                              retention_days=settings.retention_days)

    def finish(self, pending: Pending, *, latency_ms: float) -> TraceRecord:
        record = pending.record
        record.latency_ms = round(latency_ms, 3)
        if self.flusher is not None:
            self.flusher.append(record)
            self.metrics.trace_spooled()
        self.metrics.observe_trace(record)
        return record

    def comment_to_store(self, comment: str) -> str:
        """A feedback comment as trace.store_text allows it to be stored (redacted by default, like the question).

        Feedback is rare, so its comment is redacted on the request path (the route runs in a worker thread);
        the PII engine loads on the first comment that needs it.
        """
        if self.settings.store_text == "redacted" and comment and self._redactor is None:
            with self._redactor_lock:
                if self._redactor is None:
                    self._redactor = TextRedactor()
        return prepare_comment(comment, store_text=self.settings.store_text, redactor=self._redactor)

    def sync(self, timeout_s: float = 15.0) -> bool:
        """Wait until every trace finished so far is in the database (for reads that must see them)."""
        return self.flusher.sync(timeout_s) if self.flusher is not None else True

    def close(self) -> None:
        if self.flusher is not None:
            self.flusher.stop(timeout_s=30.0)
        self.store.close()
