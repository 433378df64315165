"""OpenTelemetry spans for the service, named and attributed by the GenAI semantic conventions.

    POST /v1/ask                      SERVER    http.*, dayshift.tenant, dayshift.trace_id
     ├── retrieval                    INTERNAL  gen_ai.operation.name=retrieval, gen_ai.request.top_k
     │    ├── keyword                 INTERNAL  dayshift.stage=keyword
     │    ├── embeddings {model}      CLIENT    gen_ai.operation.name=embeddings, provider, model
     │    ├── dense / fuse / rerank   INTERNAL  dayshift.stage
     ├── select                       INTERNAL
     ├── chat {model}                 CLIENT    gen_ai.request.*, gen_ai.response.*, gen_ai.usage.*
     └── check                        INTERNAL

The request span is live (`Telemetry.request`). Stages are timed by the
Retriever and the Answerer, so `Telemetry.stages` draws them after the fact
from their `timings_ms`, end to end in pipeline order, ending now: durations
are exact, placement is to within the untimed code between stages. A model
call can also be wrapped live with `Telemetry.chat`. A model or store running
in this process gets INTERNAL instead of CLIENT, as the conventions allow.

Attribute names follow the GenAI conventions (open-telemetry/semantic-conventions-genai;
the `opentelemetry-semantic-conventions` package marks its copies deprecated, so
the names are spelled out here and a test pins them). No prompt, question,
answer or exception message is ever put on a span: the opt-in content
attributes (gen_ai.input.messages, gen_ai.output.messages,
gen_ai.retrieval.query.text) are deliberately left out, and failures record
only the exception's class name as `error.type`. Telemetry leaves the process;
text with PII must not.

With no OTLP endpoint and no exporter, `configure_tracing` gives a disabled
Telemetry whose methods return shared do-nothing objects (well under 1 µs a
span). The tracer provider lives on the Telemetry, never as the global one, so
several apps can share a process.

Left out: metrics and logs over OTLP (Prometheus and JSON logs cover them),
trace-context propagation from incoming `traceparent` headers, and sampling
beyond the SDK's environment defaults.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextvars import Token
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from dayshift import __version__
from dayshift.llm.base import ChatRequest, Completion
from dayshift.settings import TraceSettings

__all__ = ["ChatSpan", "ModelRef", "RequestSpan", "STAGE_ORDER", "Telemetry", "configure_tracing"]

# GenAI semantic conventions (development status; names as of semantic-conventions-genai, 2025)
OPERATION = "gen_ai.operation.name"
PROVIDER = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE = "gen_ai.request.temperature"
REQUEST_SEED = "gen_ai.request.seed"
REQUEST_STOP = "gen_ai.request.stop_sequences"
REQUEST_STREAM = "gen_ai.request.stream"
REQUEST_TOP_K = "gen_ai.request.top_k"
OUTPUT_TYPE = "gen_ai.output.type"
RESPONSE_MODEL = "gen_ai.response.model"
RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"
RESPONSE_TIME_TO_FIRST_CHUNK = "gen_ai.response.time_to_first_chunk"
USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
# Stable general conventions
ERROR_TYPE = "error.type"
HTTP_METHOD = "http.request.method"
HTTP_ROUTE = "http.route"
HTTP_STATUS = "http.response.status_code"
# dayshift's own, under its namespace
TENANT = "dayshift.tenant"
REQUEST_ID = "dayshift.request_id"
TRACE_ID = "dayshift.trace_id"  # the TraceRecord's id: finds the stored trace from a span
STAGE = "dayshift.stage"
RETRIEVAL_MODE = "dayshift.retrieval.mode"
COST_USD = "dayshift.cost_usd"
ATTEMPTS = "dayshift.attempts"
ANSWERED_BY = "dayshift.llm.answered_by"  # the chain's model that answered (a fallback, if one did)
REDACTIONS = "dayshift.llm.redactions"

# Pipeline order; a stage not listed is drawn after these, in the order given.
STAGE_ORDER = ("keyword", "embed", "hybrid", "dense", "fuse", "rerank", "select", "generate", "check")
_RETRIEVAL = frozenset({"keyword", "embed", "hybrid", "dense", "fuse", "rerank"})


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A model as spans name it."""

    name: str  # gen_ai.request.model
    provider: str  # gen_ai.provider.name: a well-known value ("openai") or a custom one ("llama_cpp")
    in_process: bool = False  # runs in this process: INTERNAL span kind instead of CLIENT

    @property
    def kind(self) -> SpanKind:
        return SpanKind.INTERNAL if self.in_process else SpanKind.CLIENT


def configure_tracing(settings: TraceSettings, *, exporter: SpanExporter | None = None) -> Telemetry:
    """Telemetry exporting to `exporter` (synchronously: tests, debugging), else to the OTLP/HTTP
    endpoint in batches, else disabled. `otlp_endpoint` may be the collector's base URL
    (http://collector:4318) or the full traces URL (.../v1/traces)."""
    if exporter is None and not settings.otlp_endpoint:
        return Telemetry(None)
    provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        assert settings.otlp_endpoint is not None
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=traces_url(settings.otlp_endpoint))))
    return Telemetry(provider)


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL for a collector's base URL, or the URL itself if it names the path."""
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1/traces") else endpoint + "/v1/traces"


class Telemetry:
    """Spans for one app. Disabled (`provider=None`): every method is a cheap no-op."""

    def __init__(self, provider: TracerProvider | None) -> None:
        self.provider = provider
        self._tracer = provider.get_tracer("dayshift", __version__) if provider is not None else None

    @property
    def enabled(self) -> bool:
        return self._tracer is not None

    def request(
        self, route: str, *, request_id: str, tenant: str = "", trace_id: str = "", method: str = "POST"
    ) -> RequestSpan:
        """The root SERVER span of one HTTP request, named "{method} {route}" (route: the template)."""
        if self._tracer is None:
            return _NOOP_REQUEST
        attributes: dict[str, Any] = {HTTP_METHOD: method, HTTP_ROUTE: route, REQUEST_ID: request_id}
        if tenant:
            attributes[TENANT] = tenant
        if trace_id:
            attributes[TRACE_ID] = trace_id
        span = self._tracer.start_span(f"{method} {route}", kind=SpanKind.SERVER, attributes=attributes)
        return RequestSpan(span, method=method)

    def chat(
        self,
        request: ChatRequest | None,
        *,
        model: ModelRef,
        parent: RequestSpan | None = None,
        start_ns: int | None = None,
    ) -> ChatSpan:
        """A "chat {model}" span; end it with `.finish(completion, error)` or by leaving its `with` block.

        `request` None leaves out the gen_ai.request.* parameters (a call drawn after the fact)."""
        if self._tracer is None:
            return _NOOP_CHAT
        attributes: dict[str, Any] = {OPERATION: "chat", PROVIDER: model.provider, REQUEST_MODEL: model.name}
        if request is not None:
            attributes.update(_request_attributes(request))
        span = self._tracer.start_span(
            f"chat {model.name}", context=_context(parent), kind=model.kind, attributes=attributes,
            start_time=start_ns,
        )
        return ChatSpan(span, started_ns=start_ns or time.time_ns())

    def stages(
        self,
        parent: RequestSpan | None,
        stages_ms: Mapping[str, float],
        *,
        ended_ns: int | None = None,
        k: int | None = None,
        mode: str | None = None,
        embedder: ModelRef | None = None,
        llm: ModelRef | None = None,
        completion: Completion | None = None,
    ) -> None:
        """Child spans of `parent` (None: the current span) for timed stages, laid end to end in
        pipeline order and ending at `ended_ns` (default: now).

        Retrieval stages go under one "retrieval" span; "embed" becomes an embeddings span when
        `embedder` is given, "generate" a chat span when `llm` is (with `completion`'s response,
        usage and cost). "total" is skipped."""
        if self._tracer is None:
            return
        timeline = _timeline(stages_ms, ended_ns=ended_ns or time.time_ns())
        if not timeline:
            return
        retrieval = [step for step in timeline if step[0] in _RETRIEVAL]
        group: Span | None = None
        if retrieval:
            group = self._retrieval_span(retrieval, parent=parent, k=k, mode=mode)
        for stage, start_ns, end_ns in timeline:
            if stage == "generate" and llm is not None:
                self.chat(None, model=llm, parent=parent, start_ns=start_ns).finish(completion, end_ns=end_ns)
                continue
            ctx = trace.set_span_in_context(group) if group is not None and stage in _RETRIEVAL else _context(parent)
            self._stage_span(stage, ctx, start_ns, end_ns, embedder=embedder)

    def shutdown(self) -> None:
        """Export what is buffered and stop; spans started afterwards are dropped."""
        if self.provider is not None:
            self.provider.shutdown()

    def force_flush(self, timeout_ms: int = 30_000) -> bool:
        return self.provider.force_flush(timeout_ms) if self.provider is not None else True

    # -- after-the-fact spans --------------------------------------------------

    def _retrieval_span(
        self, steps: list[tuple[str, int, int]], *, parent: RequestSpan | None, k: int | None, mode: str | None
    ) -> Span:
        assert self._tracer is not None
        attributes: dict[str, Any] = {OPERATION: "retrieval"}
        if k is not None:
            attributes[REQUEST_TOP_K] = float(k)  # a double in the conventions
        if mode is not None:
            attributes[RETRIEVAL_MODE] = mode
        span = self._tracer.start_span(
            "retrieval", context=_context(parent), kind=SpanKind.INTERNAL, attributes=attributes,
            start_time=steps[0][1],
        )
        span.end(end_time=steps[-1][2])
        return span

    def _stage_span(
        self, stage: str, ctx: otel_context.Context | None, start_ns: int, end_ns: int, *, embedder: ModelRef | None
    ) -> None:
        assert self._tracer is not None
        if stage == "embed" and embedder is not None:
            name, kind = f"embeddings {embedder.name}", embedder.kind
            attributes = {OPERATION: "embeddings", PROVIDER: embedder.provider, REQUEST_MODEL: embedder.name,
                          STAGE: stage}
        else:
            name, kind, attributes = stage, SpanKind.INTERNAL, {STAGE: stage}
        span = self._tracer.start_span(name, context=ctx, kind=kind, attributes=attributes, start_time=start_ns)
        span.end(end_time=end_ns)


class RequestSpan:
    """The root span of a request. Use as a context manager (it becomes the current span), or
    call `.end()` yourself when the response outlives the block (a stream)."""

    __slots__ = ("_span", "_method", "_token", "_ended")

    def __init__(self, span: Span | None, *, method: str = "POST") -> None:
        self._span = span
        self._method = method
        self._token: Token[otel_context.Context] | None = None
        self._ended = False

    def __enter__(self) -> RequestSpan:
        if self._span is not None:
            self._token = otel_context.attach(trace.set_span_in_context(self._span))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._span is None:
            return
        if self._token is not None:
            otel_context.detach(self._token)
            self._token = None
        if exc is not None:  # an HTTP error raised through carries its status; anything else is a 500
            status = getattr(exc, "status_code", None) or getattr(exc, "status", None)
            status = status if isinstance(status, int) else 500
            if status >= 500:
                self._span.set_attribute(ERROR_TYPE, type(exc).__qualname__)
            self.set_status_code(status)
        self.end()

    def identify(self, *, tenant: str | None = None, trace_id: str | None = None) -> None:
        """Add who asked and the stored trace's id once they are known (after auth, in the route)."""
        if self._span is None:
            return
        if tenant:
            self._span.set_attribute(TENANT, tenant)
        if trace_id:
            self._span.set_attribute(TRACE_ID, trace_id)

    def set_route(self, route: str) -> None:
        """The matched route template, known only after routing (a middleware opens the span before)."""
        if self._span is None:
            return
        self._span.update_name(f"{self._method} {route}")
        self._span.set_attribute(HTTP_ROUTE, route)

    def set_status_code(self, status_code: int) -> None:
        if self._span is None:
            return
        self._span.set_attribute(HTTP_STATUS, status_code)
        if status_code >= 500:  # 4xx are the client's errors, not the server span's
            self._span.set_status(Status(StatusCode.ERROR))
            if not _has(self._span, ERROR_TYPE):
                self._span.set_attribute(ERROR_TYPE, str(status_code))

    def end(self, status_code: int | None = None) -> None:
        if self._span is None or self._ended:
            return
        if status_code is not None:
            self.set_status_code(status_code)
        self._ended = True
        self._span.end()

    @property
    def span(self) -> Span | None:
        return self._span


class ChatSpan:
    """One model call's span. Leaving the `with` block ends it; an exception leaving it is recorded."""

    __slots__ = ("_span", "_started_ns", "_finished")

    def __init__(self, span: Span | None, *, started_ns: int = 0) -> None:
        self._span = span
        self._started_ns = started_ns
        self._finished = False

    def __enter__(self) -> ChatSpan:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._span is not None and not self._finished:
            self.finish(None, error=exc if isinstance(exc, Exception) else None)

    def first_chunk(self) -> None:
        """Mark the first streamed piece (gen_ai.response.time_to_first_chunk, in seconds)."""
        if self._span is None:
            return
        self._span.set_attribute(REQUEST_STREAM, True)
        self._span.set_attribute(RESPONSE_TIME_TO_FIRST_CHUNK, (time.time_ns() - self._started_ns) / 1e9)

    def finish(
        self, completion: Completion | None, error: BaseException | None = None, *, end_ns: int | None = None
    ) -> None:
        """Record the response (model, finish reason, usage, cost, attempts) or the error's class, and end."""
        if self._span is None or self._finished:
            return
        self._finished = True
        span = self._span
        if completion is not None:
            span.set_attributes(_response_attributes(completion))
        if error is not None:
            span.set_attribute(ERROR_TYPE, type(error).__qualname__)
            span.set_status(Status(StatusCode.ERROR, type(error).__qualname__))  # the message may quote text
        span.end(end_time=end_ns)


_NOOP_REQUEST = RequestSpan(None)
_NOOP_CHAT = ChatSpan(None)


def _context(parent: RequestSpan | None) -> otel_context.Context | None:
    """The parent's context; None: the current one (the request span inside its `with` block)."""
    if parent is None or parent.span is None:
        return None
    return trace.set_span_in_context(parent.span)


def _timeline(stages_ms: Mapping[str, float], *, ended_ns: int) -> list[tuple[str, int, int]]:
    """(stage, start_ns, end_ns), end to end in pipeline order, the last ending at `ended_ns`."""
    known = [s for s in STAGE_ORDER if s in stages_ms]
    names = known + [s for s in stages_ms if s not in STAGE_ORDER and s != "total"]
    durations_ns = [max(0, round(float(stages_ms[s]) * 1e6)) for s in names]
    start = ended_ns - sum(durations_ns)
    steps = []
    for stage, duration_ns in zip(names, durations_ns):
        steps.append((stage, start, start + duration_ns))
        start += duration_ns
    return steps


def _request_attributes(request: ChatRequest) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        REQUEST_MAX_TOKENS: request.max_tokens,
        REQUEST_TEMPERATURE: float(request.temperature),
    }
    if request.seed is not None:
        attributes[REQUEST_SEED] = request.seed
    if request.stop:
        attributes[REQUEST_STOP] = list(request.stop)  # from the prompt file, not from the user
    if request.json_schema is not None:
        attributes[OUTPUT_TYPE] = "json"
    return attributes


def _response_attributes(completion: Completion) -> dict[str, Any]:
    return {
        RESPONSE_MODEL: str(completion.metadata.get("server_model") or completion.model),
        RESPONSE_FINISH_REASONS: [completion.finish_reason],
        USAGE_INPUT_TOKENS: completion.usage.input_tokens,
        USAGE_OUTPUT_TOKENS: completion.usage.output_tokens,
        COST_USD: float(completion.cost_usd),
        ATTEMPTS: completion.attempts,
        ANSWERED_BY: completion.model,
        REDACTIONS: completion.redactions,
    }


def _has(span: Span, key: str) -> bool:
    attributes = getattr(span, "attributes", None)  # the SDK's span exposes them; the API's does not
    return bool(attributes) and key in attributes  # type: ignore[operator]
