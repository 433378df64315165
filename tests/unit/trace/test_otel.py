"""Spans of dayshift.trace.otel: structure, semantic-convention names, no text, no-op cost, OTLP export."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.semconv._incubating.attributes import gen_ai_attributes as genai
from opentelemetry.semconv.attributes import error_attributes, http_attributes
from opentelemetry.trace import SpanKind, StatusCode

from dayshift.errors import LLMTimeoutError
from dayshift.llm.base import ChatRequest, Completion, Message, Usage
from dayshift.settings import TraceSettings
from dayshift.trace import otel
from dayshift.trace.otel import ModelRef, Telemetry, configure_tracing, traces_url

QUESTION = "Does alice@example.com owe 4111 1111 1111 1111 to the secret project?"
ANSWER = "Yes, the confidential ledger says so."
LLM = ModelRef("gpt-4o-mini", "openai")
EMBEDDER = ModelRef("all-MiniLM-L6-v2", "dayshift", in_process=True)


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def telemetry(exporter: InMemorySpanExporter) -> Iterator[Telemetry]:
    t = configure_tracing(TraceSettings(service_name="dayshift-test"), exporter=exporter)
    yield t
    t.shutdown()


def _request() -> ChatRequest:
    return ChatRequest(
        messages=(Message("system", "Answer from the sources."), Message("user", QUESTION)),
        max_tokens=192, temperature=0.2, stop=("\n\nQuestion:",), seed=7,
    )


def _completion(**changes: object) -> Completion:
    values: dict = dict(text=ANSWER, model="gpt-4o-mini", usage=Usage(120, 30), finish_reason="stop", cost_usd=0.0004,
                        attempts=2, redactions=1, metadata={"server_model": "gpt-4o-mini-2024-07-18"})
    values.update(changes)
    return Completion(**values)


def _by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, ReadableSpan]:
    return {s.name: s for s in spans}


def test_our_attribute_names_are_the_conventions() -> None:
    assert otel.OPERATION == genai.GEN_AI_OPERATION_NAME
    assert otel.PROVIDER == genai.GEN_AI_PROVIDER_NAME
    assert otel.REQUEST_MODEL == genai.GEN_AI_REQUEST_MODEL
    assert otel.REQUEST_MAX_TOKENS == genai.GEN_AI_REQUEST_MAX_TOKENS
    assert otel.REQUEST_TEMPERATURE == genai.GEN_AI_REQUEST_TEMPERATURE
    assert otel.REQUEST_SEED == genai.GEN_AI_REQUEST_SEED
    assert otel.REQUEST_STOP == genai.GEN_AI_REQUEST_STOP_SEQUENCES
    assert otel.REQUEST_STREAM == genai.GEN_AI_REQUEST_STREAM
    assert otel.REQUEST_TOP_K == genai.GEN_AI_REQUEST_TOP_K
    assert otel.OUTPUT_TYPE == genai.GEN_AI_OUTPUT_TYPE
    assert otel.RESPONSE_MODEL == genai.GEN_AI_RESPONSE_MODEL
    assert otel.RESPONSE_FINISH_REASONS == genai.GEN_AI_RESPONSE_FINISH_REASONS
    assert otel.RESPONSE_TIME_TO_FIRST_CHUNK == genai.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK
    assert otel.USAGE_INPUT_TOKENS == genai.GEN_AI_USAGE_INPUT_TOKENS
    assert otel.USAGE_OUTPUT_TOKENS == genai.GEN_AI_USAGE_OUTPUT_TOKENS
    assert otel.ERROR_TYPE == error_attributes.ERROR_TYPE
    assert (otel.HTTP_METHOD, otel.HTTP_ROUTE, otel.HTTP_STATUS) == (
        http_attributes.HTTP_REQUEST_METHOD, http_attributes.HTTP_ROUTE, http_attributes.HTTP_RESPONSE_STATUS_CODE
    )
    ops = {v.value for v in genai.GenAiOperationNameValues}
    assert {"chat", "embeddings", "retrieval"} <= ops
    assert genai.GenAiProviderNameValues.OPENAI.value == "openai"


def test_an_answer_request_is_one_tree_with_stages_end_to_end(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    stages_ms = {"keyword": 2.0, "embed": 3.0, "dense": 1.0, "fuse": 0.5, "select": 4.0, "generate": 50.0,
                 "check": 1.5, "total": 999.0}
    with telemetry.request("/v1/ask", request_id="req-1", tenant="acme", trace_id="t" * 32) as root:
        ended_ns = time.time_ns()
        telemetry.stages(root, stages_ms, ended_ns=ended_ns, k=5, mode="hybrid", embedder=EMBEDDER, llm=LLM,
                         completion=_completion())
        root.set_status_code(200)
    spans = exporter.get_finished_spans()
    named = _by_name(spans)
    assert set(named) == {"POST /v1/ask", "retrieval", "keyword", "embeddings all-MiniLM-L6-v2", "dense", "fuse",
                          "select", "chat gpt-4o-mini", "check"}
    root_span = named["POST /v1/ask"]
    assert root_span.kind is SpanKind.SERVER and root_span.parent is None
    assert dict(root_span.attributes) == {
        "http.request.method": "POST", "http.route": "/v1/ask", "http.response.status_code": 200,
        "dayshift.request_id": "req-1", "dayshift.tenant": "acme", "dayshift.trace_id": "t" * 32,
    }
    assert root_span.status.status_code is StatusCode.UNSET
    root_id, retrieval_id = root_span.context.span_id, named["retrieval"].context.span_id
    for name in ("retrieval", "select", "chat gpt-4o-mini", "check"):
        assert named[name].parent.span_id == root_id, name
    for name in ("keyword", "embeddings all-MiniLM-L6-v2", "dense", "fuse"):
        assert named[name].parent.span_id == retrieval_id, name
    assert {s.context.trace_id for s in spans} == {root_span.context.trace_id}

    order = ["keyword", "embeddings all-MiniLM-L6-v2", "dense", "fuse", "select", "chat gpt-4o-mini", "check"]
    for before, after in zip(order, order[1:]):
        assert named[before].end_time == named[after].start_time
    assert named["check"].end_time == ended_ns
    assert named["chat gpt-4o-mini"].end_time - named["chat gpt-4o-mini"].start_time == 50_000_000
    assert (named["retrieval"].start_time, named["retrieval"].end_time) == (
        named["keyword"].start_time, named["fuse"].end_time)


def test_retrieval_and_embedding_spans_carry_the_conventions(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    stages_ms = {"keyword": 1.0, "embed": 2.0, "dense": 1.0, "fuse": 0.1, "rerank": 9.0}
    telemetry.stages(None, stages_ms, k=10, mode="hybrid", embedder=ModelRef("text-embedding-3-small", "openai"))
    named = _by_name(exporter.get_finished_spans())
    assert dict(named["retrieval"].attributes) == {
        "gen_ai.operation.name": "retrieval", "gen_ai.request.top_k": 10.0, "dayshift.retrieval.mode": "hybrid",
    }
    embed = named["embeddings text-embedding-3-small"]
    assert embed.kind is SpanKind.CLIENT  # a remote embedder; the bundled one is INTERNAL
    assert dict(embed.attributes) == {
        "gen_ai.operation.name": "embeddings", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "text-embedding-3-small", "dayshift.stage": "embed",
    }
    assert named["rerank"].kind is SpanKind.INTERNAL
    assert dict(named["rerank"].attributes) == {"dayshift.stage": "rerank"}


def test_a_live_chat_span_has_request_response_usage_and_cost(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    with telemetry.request("/v1/ask", request_id="r") as root:
        with telemetry.chat(_request(), model=LLM) as call:
            call.first_chunk()
            call.finish(_completion())
        root.end(200)
    named = _by_name(exporter.get_finished_spans())
    chat = named["chat gpt-4o-mini"]
    assert chat.kind is SpanKind.CLIENT
    assert chat.parent.span_id == named["POST /v1/ask"].context.span_id  # the current span, inside its block
    attributes = dict(chat.attributes)
    ttfc = attributes.pop("gen_ai.response.time_to_first_chunk")
    assert 0 <= ttfc < 5
    assert attributes == {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.request.max_tokens": 192,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.request.seed": 7,
        "gen_ai.request.stop_sequences": ("\n\nQuestion:",),
        "gen_ai.request.stream": True,
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 120,
        "gen_ai.usage.output_tokens": 30,
        "dayshift.cost_usd": 0.0004,
        "dayshift.attempts": 2,
        "dayshift.llm.answered_by": "gpt-4o-mini",
        "dayshift.llm.redactions": 1,
    }
    assert chat.status.status_code is StatusCode.UNSET


def test_a_failed_call_records_the_error_class_only(telemetry: Telemetry, exporter: InMemorySpanExporter) -> None:
    with pytest.raises(LLMTimeoutError):
        with telemetry.chat(_request(), model=ModelRef("SmolLM2", "llama_cpp", in_process=True)):
            raise LLMTimeoutError(f"timed out while answering {QUESTION!r}")
    (chat,) = exporter.get_finished_spans()
    assert chat.kind is SpanKind.INTERNAL
    assert chat.attributes["error.type"] == "LLMTimeoutError"
    assert chat.status.status_code is StatusCode.ERROR
    assert chat.status.description == "LLMTimeoutError"
    assert not chat.events  # no exception event: its message and stack may quote the prompt


def test_the_request_span_reports_server_errors_not_client_errors(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    class Rejected(Exception):
        status = 429

    with pytest.raises(Rejected):
        with telemetry.request("/v1/search", request_id="a"):
            raise Rejected()
    with pytest.raises(RuntimeError):
        with telemetry.request("/v1/search", request_id="b"):
            raise RuntimeError("boom")
    client_error, server_error = exporter.get_finished_spans()
    assert client_error.attributes["http.response.status_code"] == 429
    assert "error.type" not in client_error.attributes
    assert client_error.status.status_code is StatusCode.UNSET
    assert server_error.attributes["http.response.status_code"] == 500
    assert server_error.attributes["error.type"] == "RuntimeError"
    assert server_error.status.status_code is StatusCode.ERROR


def test_a_middleware_can_name_the_route_and_identify_the_caller_later(
    telemetry: Telemetry, exporter: InMemorySpanExporter
) -> None:
    span = telemetry.request("/v1/documents/abc", request_id="r", method="DELETE")
    span.set_route("/v1/documents/{doc_id}")
    span.identify(tenant="acme", trace_id="tid")
    span.end(503)
    span.end(200)  # a second end changes nothing
    (done,) = exporter.get_finished_spans()
    assert done.name == "DELETE /v1/documents/{doc_id}"
    assert done.attributes["http.route"] == "/v1/documents/{doc_id}"
    assert (done.attributes["dayshift.tenant"], done.attributes["dayshift.trace_id"]) == ("acme", "tid")
    assert done.attributes["http.response.status_code"] == 503
    assert done.attributes["error.type"] == "503"


def test_an_explicit_parent_works_from_another_thread(telemetry: Telemetry, exporter: InMemorySpanExporter) -> None:
    root = telemetry.request("/v1/ask", request_id="r")  # not entered: a streamed response ends it later
    worker = threading.Thread(target=lambda: telemetry.chat(None, model=LLM, parent=root).finish(_completion()))
    worker.start()
    worker.join()
    root.end(200)
    named = _by_name(exporter.get_finished_spans())
    assert named["chat gpt-4o-mini"].parent.span_id == named["POST /v1/ask"].context.span_id


def test_no_text_reaches_any_span(telemetry: Telemetry, exporter: InMemorySpanExporter) -> None:
    with telemetry.request("/v1/ask", request_id="r", tenant="acme") as root:
        telemetry.stages(root, {"keyword": 1, "embed": 1, "dense": 1, "generate": 5}, embedder=EMBEDDER,
                         llm=LLM, completion=_completion())
        with telemetry.chat(_request(), model=LLM) as call:
            call.finish(_completion(text=ANSWER))
        with pytest.raises(ValueError):
            with telemetry.chat(_request(), model=LLM):
                raise ValueError(f"could not parse {ANSWER}")
    fragments = ("alice", "4111", "secret", "confidential", "ledger", "Answer from the sources")
    for span in exporter.get_finished_spans():
        values = [str(v) for v in span.attributes.values()] + [span.name, span.status.description or ""]
        values += [str(e.attributes) + e.name for e in span.events]
        for value in values:
            assert not any(f in value for f in fragments), (span.name, value)


def test_the_provider_is_the_apps_own_not_the_global_one(telemetry: Telemetry) -> None:
    assert telemetry.enabled and telemetry.provider is not None
    assert trace.get_tracer_provider() is not telemetry.provider
    other = configure_tracing(TraceSettings(), exporter=InMemorySpanExporter())
    assert other.provider is not telemetry.provider
    other.shutdown()


def test_disabled_telemetry_creates_nothing_and_costs_next_to_nothing() -> None:
    off = configure_tracing(TraceSettings())
    assert not off.enabled and off.provider is None
    request = _request()
    assert off.request("/v1/ask", request_id="a") is off.request("/v1/search", request_id="b")  # shared, no allocation
    assert off.chat(request, model=LLM) is off.chat(None, model=LLM)
    with off.request("/v1/ask", request_id="a") as root:
        root.identify(tenant="t", trace_id="x")
        root.set_route("/v1/ask")
        off.stages(root, {"keyword": 1.0, "generate": 2.0}, llm=LLM, completion=_completion())
        with off.chat(request, model=LLM, parent=root) as call:
            call.first_chunk()
            call.finish(_completion())
        root.end(200)
    assert off.force_flush()
    off.shutdown()

    n = 20_000
    started = time.perf_counter()
    for _ in range(n):
        with off.request("/v1/ask", request_id="a"):
            with off.chat(request, model=LLM) as call:
                call.finish(None)
    per_span_us = (time.perf_counter() - started) / (2 * n) * 1e6
    assert per_span_us < 50  # measured about 0.3 µs; loose, for slow CI machines


@pytest.mark.parametrize(
    ("endpoint", "url"),
    [
        ("http://collector:4318", "http://collector:4318/v1/traces"),
        ("http://collector:4318/", "http://collector:4318/v1/traces"),
        ("https://otel.example/v1/traces", "https://otel.example/v1/traces"),
    ],
)
def test_traces_url(endpoint: str, url: str) -> None:
    assert traces_url(endpoint) == url


class _Collector(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.received.append((self.path, self.headers.get("Content-Type", ""), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_spans_are_posted_to_an_otlp_http_collector() -> None:
    _Collector.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_address[1]}"
        telemetry = configure_tracing(TraceSettings(otlp_endpoint=endpoint, service_name="dayshift-otlp-test"))
        with telemetry.request("/v1/search", request_id="r", tenant="acme") as root:
            telemetry.stages(root, {"keyword": 1.0, "fuse": 0.2}, k=3, mode="keyword")
            root.set_status_code(200)
        telemetry.shutdown()  # flushes the batch
    finally:
        server.shutdown()
        server.server_close()
    assert _Collector.received, "no export reached the collector"
    path, content_type, body = _Collector.received[0]
    assert path == "/v1/traces"
    assert content_type == "application/x-protobuf"
    export = ExportTraceServiceRequest()
    export.ParseFromString(body)
    (resource_spans,) = export.resource_spans
    service = {a.key: a.value.string_value for a in resource_spans.resource.attributes}["service.name"]
    assert service == "dayshift-otlp-test"
    names = {s.name for scope in resource_spans.scope_spans for s in scope.spans}
    assert names == {"POST /v1/search", "retrieval", "keyword", "fuse"}
