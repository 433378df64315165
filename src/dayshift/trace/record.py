"""One trace per request: what was asked, what was retrieved, what was answered, and what it cost.

A `TraceRecord` is built while the request runs, appended to the spool
before the response completes (trace/spool.py), and written to the trace
database by the flusher (trace/store.py). It is plain data and round-trips
through JSON, so the spool, the database and the API share one shape.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal

TraceStatus = Literal["ok", "error", "cancelled"]  # cancelled: the client went away mid-stream
Rating = Literal["up", "down"]


def new_trace_id() -> str:
    return uuid.uuid4().hex


@dataclass(slots=True)
class RetrievedChunk:
    rank: int  # 1-based, after fusion and re-ranking
    chunk_id: str
    doc_id: str
    doc_version: str
    score: float


@dataclass(slots=True)
class TraceRecord:
    trace_id: str
    tenant: str
    route: str  # "/v1/ask", "/v1/search"
    started_at: datetime  # UTC
    request_id: str = ""
    status: TraceStatus = "ok"
    http_status: int = 200
    latency_ms: float = 0.0
    # Stage -> milliseconds: embed, keyword, dense, fuse, rerank, generate, check.
    stages_ms: dict[str, float] = field(default_factory=dict)
    query: str | None = ""  # the question or search query; redacted before storage, None when not stored
    answer: str | None = None  # what the user was shown
    prompt_name: str | None = None
    prompt_version: str | None = None
    model: str | None = None  # the model that answered (a fallback, if one did)
    retrieved: list[RetrievedChunk] = field(default_factory=list)
    confidence: float | None = None
    abstained: bool | None = None
    abstain_reason: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    retries: int = 0  # LLM attempts beyond the first, fallbacks included
    errors: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)  # k, mode, filters: what shaped the request
    # What the trace debugger shows (trace/detail.py): each retrieved chunk's keyword, dense and fused
    # scores and ranks, the excerpts and prompt sent, the draft, the support check, the evidence and
    # threshold behind the verdict. Holds text: stored under trace.store_text like query and answer.
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict. Written out by hand: dataclasses.asdict took 90 µs of a 120 µs spool append."""
        return {
            "trace_id": self.trace_id, "tenant": self.tenant, "route": self.route,
            "started_at": self.started_at.astimezone(UTC).isoformat(), "request_id": self.request_id,
            "status": self.status, "http_status": self.http_status, "latency_ms": self.latency_ms,
            "stages_ms": dict(self.stages_ms), "query": self.query, "answer": self.answer,
            "prompt_name": self.prompt_name, "prompt_version": self.prompt_version, "model": self.model,
            "retrieved": [
                {"rank": c.rank, "chunk_id": c.chunk_id, "doc_id": c.doc_id, "doc_version": c.doc_version,
                 "score": c.score}
                for c in self.retrieved
            ],
            "confidence": self.confidence, "abstained": self.abstained, "abstain_reason": self.abstain_reason,
            "input_tokens": self.input_tokens, "output_tokens": self.output_tokens, "cost_usd": self.cost_usd,
            "retries": self.retries, "errors": list(self.errors), "params": dict(self.params),
            "detail": self.detail,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TraceRecord:
        """The record `to_json` wrote; keys this version does not know (from a newer one) are ignored."""
        known = {k: v for k, v in data.items() if k in _FIELDS}
        known["started_at"] = datetime.fromisoformat(known["started_at"])
        known["retrieved"] = [RetrievedChunk(**c) for c in known.get("retrieved", [])]
        return cls(**known)


@dataclass(slots=True)
class Feedback:
    trace_id: str
    tenant: str
    rating: Rating
    comment: str = ""
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class TraceQuery:
    """Filters of GET /v1/traces; None means any. Tenant is required unless the caller is admin."""

    tenant: str | None
    since: datetime | None = None
    until: datetime | None = None
    route: str | None = None
    prompt_version: str | None = None  # "answer@2" or "2"
    abstained: bool | None = None
    feedback: Literal["up", "down", "none", "any"] | None = None  # any: has some feedback
    status: TraceStatus | None = None
    limit: int = 50
    before: str | None = None  # cursor: the last trace id of the previous page


_FIELDS = frozenset(f.name for f in fields(TraceRecord))
