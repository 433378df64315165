"""One trace per request: what was asked, what was retrieved, what was answered, and what it cost.

A `TraceRecord` is built while the request runs, appended to the spool
before the response completes (trace/spool.py), and written to the trace
database by the flusher (trace/store.py). It is plain data and round-trips
through JSON, so the spool, the database and the API share one shape.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
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
    query: str = ""  # the question or search query; redacted before storage (settings.trace.store_text)
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

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.astimezone(UTC).isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TraceRecord:
        data = dict(data)
        data["started_at"] = datetime.fromisoformat(data["started_at"])
        data["retrieved"] = [RetrievedChunk(**c) for c in data.get("retrieved", [])]
        return cls(**data)


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
