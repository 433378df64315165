"""The service's request and response bodies: the typed contract behind the OpenAPI document.

Every route takes and returns one of these models, so the OpenAPI document is
complete and a client can be generated from it. Filters are the CLI's
expressions (`source=nist`, `page>=3`), parsed by dayshift.retrieve.filters.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints

from dayshift.answer.answerer import Answer
from dayshift.answer.sources import Source
from dayshift.trace.record import Feedback, TraceRecord
from dayshift.types import Hit

Mode = Literal["hybrid", "keyword", "dense"]
# A filter expression as retrieve.filters reads it: field, operator, a value that does not start with one.
FILTER_PATTERN = r"^\s*[A-Za-z0-9_.\-]+\s*(!=|>=|<=|=|>|<)\s*[^=<>!\s][^\n]*$"
Filter = Annotated[str, StringConstraints(min_length=1, max_length=500, pattern=FILTER_PATTERN)]
# A window's start: 7d, 24h, 90m, or an ISO date or date-time (monitor.report / evals.harvest window_start).
SINCE_SCHEMA: dict[str, Any] = {"anyOf": [{"pattern": r"^[0-9]{1,5}[dhm]$"}, {"format": "date"},
                                          {"format": "date-time"}]}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchRequest(_Body):
    query: str = Field(min_length=1, max_length=2000, examples=["how are incidents prioritised"])
    k: int = Field(5, ge=1, le=100)
    mode: Mode | None = None  # None: the server's setting
    where: list[Filter] = Field(default_factory=list, max_length=20, examples=[["source=nist", "page>=3"]])


class ChunkOut(BaseModel):
    chunk_id: str
    doc_id: str
    doc_version: str
    title: str
    source: str
    page: int | None
    section: list[str]
    text: str
    metadata: dict[str, Any]


class HitOut(BaseModel):
    rank: int
    score: float
    chunk: ChunkOut


class SearchResponse(BaseModel):
    trace_id: str
    hits: list[HitOut]
    timings_ms: dict[str, float]


class JsonSchemaFormat(BaseModel):
    """The JSON schema a structured answer must satisfy (OpenAI's `response_format.json_schema` shape)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str = Field("answer", max_length=64)
    json_schema: dict[str, Any] = Field(alias="schema")  # a JSON schema (Draft 2020-12) whose root is an object
    strict: bool = True


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["json_schema"]
    json_schema: JsonSchemaFormat


class AskRequest(_Body):
    question: str = Field(min_length=1, max_length=2000, examples=["What does the Framework Core contain?"])
    where: list[Filter] = Field(default_factory=list, max_length=20)
    stream: StrictBool = False  # true: a text/event-stream of token, citations and done events (0 is not false)
    # A structured answer: JSON valid against the schema, in `data` (the same retrieval, citations and
    # "I don't know"); not streamed.
    response_format: ResponseFormat | None = None


class Citation(BaseModel):
    n: int  # the [n] marker in the answer
    location: str  # document, page or section, for display
    excerpt: str  # the passage the model was shown
    chunk: ChunkOut


class UsageOut(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


class AskResponse(BaseModel):
    trace_id: str
    answer: str
    abstained: bool
    reason: str  # why it abstained; empty when it answered
    confidence: float
    supported: bool  # released, and every sentence of it is in the text it cites (false for an abstention)
    data: Any = None  # with response_format: the JSON value, valid against the schema (null when abstained)
    citations: list[Citation]
    prompt: str  # name@version
    model: str | None
    usage: UsageOut
    timings_ms: dict[str, float]


class JobAccepted(BaseModel):
    job_id: str
    status_url: str
    files: list[str]


class FileFailureOut(BaseModel):
    source: str
    kind: str
    reason: str
    fix: str


class JobStatus(BaseModel):
    job_id: str
    state: Literal["queued", "running", "done", "failed"]
    files: list[str]
    stage: str | None = None  # the ingest stage running now
    done: int = 0  # items of that stage finished
    total: int | None = None
    counts: dict[str, int] = Field(default_factory=dict)  # added, updated, unchanged, deleted, failed, ...
    failures: list[FileFailureOut] = Field(default_factory=list)
    error: str | None = None  # why the whole job failed
    created_at: datetime
    finished_at: datetime | None = None


class DocumentOut(BaseModel):
    doc_id: str
    version: str


class DocumentList(BaseModel):
    documents: list[DocumentOut]


class DocumentDeleted(BaseModel):
    doc_id: str
    chunks_removed: int


class FeedbackRequest(_Body):
    trace_id: str = Field(min_length=1, max_length=64)
    rating: Literal["up", "down"]
    comment: str = Field("", max_length=2000)


class FeedbackOut(BaseModel):
    trace_id: str
    rating: Literal["up", "down"]
    comment: str
    created_at: datetime


class RetrievedOut(BaseModel):
    rank: int
    chunk_id: str
    doc_id: str
    doc_version: str
    score: float


class TraceOut(BaseModel):
    trace_id: str
    request_id: str  # the X-Request-ID of the request, as in the logs
    tenant: str
    route: str
    started_at: datetime
    status: str
    http_status: int
    latency_ms: float
    stages_ms: dict[str, float]
    query: str | None
    answer: str | None
    prompt: str | None
    model: str | None
    retrieved: list[RetrievedOut]
    confidence: float | None
    abstained: bool | None
    abstain_reason: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    retries: int
    errors: list[str]
    params: dict[str, Any]
    feedback: list[FeedbackOut]
    # The trace debugger's view (dayshift.trace.detail): scores and ranks per chunk, excerpts, prompt, draft,
    # support, evidence and threshold; {} for searches and for traces written before it existed.
    detail: dict[str, Any] = Field(default_factory=dict)


class TraceList(BaseModel):
    traces: list[TraceOut]
    next_before: str | None  # pass as `before` for the next page; None on the last page


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str]  # component -> "ok" or what is wrong


class Problem(BaseModel):
    """Every error body: what went wrong and how to fix it."""

    error: str  # a short code: unauthorized, rate_limited, too_large, not_found, invalid, ...
    detail: str
    request_id: str


# -- conversions ------------------------------------------------------------


def chunk_out(hit_or_source: Hit | Source) -> ChunkOut:
    c = hit_or_source.chunk
    return ChunkOut(
        chunk_id=c.chunk_id, doc_id=c.doc_id, doc_version=c.doc_version, title=c.title, source=c.source,
        page=c.page, section=list(c.section), text=c.indexed_text, metadata=dict(c.metadata),
    )


def ask_response(answer: Answer, *, trace_id: str) -> AskResponse:
    completion = answer.completion
    usage = UsageOut()
    if completion is not None:
        usage = UsageOut(input_tokens=completion.usage.input_tokens, output_tokens=completion.usage.output_tokens,
                         cost_usd=completion.cost_usd)
    return AskResponse(
        trace_id=trace_id, answer=answer.text, abstained=answer.abstained, reason=answer.reason,
        confidence=round(answer.confidence, 4),
        supported=answer.supported, data=answer.data,
        citations=[Citation(n=s.n, location=s.location, excerpt=s.text, chunk=chunk_out(s)) for s in answer.cited],
        prompt=answer.prompt, model=completion.model if completion else None, usage=usage,
        timings_ms={k: round(v, 3) for k, v in answer.timings_ms.items() if k != "total"},
    )


def trace_out(record: TraceRecord, feedback: list[Feedback]) -> TraceOut:
    prompt = f"{record.prompt_name}@{record.prompt_version}" if record.prompt_name else None
    return TraceOut(
        trace_id=record.trace_id, request_id=record.request_id, tenant=record.tenant, route=record.route, started_at=record.started_at,
        status=record.status, http_status=record.http_status, latency_ms=record.latency_ms,
        stages_ms=record.stages_ms, query=record.query, answer=record.answer, prompt=prompt, model=record.model,
        retrieved=[RetrievedOut(rank=c.rank, chunk_id=c.chunk_id, doc_id=c.doc_id, doc_version=c.doc_version,
                                score=c.score) for c in record.retrieved],
        confidence=record.confidence, abstained=record.abstained, abstain_reason=record.abstain_reason,
        input_tokens=record.input_tokens, output_tokens=record.output_tokens, cost_usd=record.cost_usd,
        retries=record.retries, errors=record.errors, params=record.params, detail=record.detail,
        feedback=[FeedbackOut(trace_id=f.trace_id, rating=f.rating, comment=f.comment, created_at=f.created_at)
                  for f in feedback],
    )
