"""POST /v1/chat/completions (JSON, or a stream of chat.completion.chunk events) and GET /v1/models.

What OpenAI SDKs, LangChain's ChatOpenAI and chat front ends send, answered by dayshift's pipeline:
service.openai_api says what a model id names and what a request may hold. Keys and tenants are the
service's own (`Authorization: Bearer <key>`; the admin key acts for `X-Dayshift-Tenant`); with no key
at all (an open loopback server) any bearer token is accepted, since OpenAI clients insist on sending one.

A stream is `data: {chunk}` lines and `data: [DONE]`: the role first, the draft as it is written, then
a last chunk with the finish reason and the `dayshift` extension (the /v1/ask response: citations,
confidence, abstained), then usage when `stream_options.include_usage` is set. A draft the support
check withdraws is followed by the withdrawal and the "I don't know" text, so a plain client never shows
an unsupported draft as the last word; `"dayshift": {"stream_draft": false}` sends the checked answer only.
Errors use OpenAI's shape, {"error": {"message", "type", "code", "param"}}, on these two routes.

Every request leaves one trace (route /v1/chat/completions), as /v1/ask does.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from starlette.exceptions import HTTPException as StarletteHTTPException

from dayshift.answer.answerer import Answer, Answerer
from dayshift.assemble import open_answerer
from dayshift.errors import ConfigError, DayshiftError, LLMCancelledError, QueryError
from dayshift.llm.base import CancelToken
from dayshift.prompts import PromptRegistry
from dayshift.retrieve.filters import parse_filters
from dayshift.service import access
from dayshift.service.api import AskResponse, ask_response
from dayshift.service.auth import Principal
from dayshift.service.errors import ApiError, status_of
from dayshift.service.logs import request_id_var
from dayshift.service.openai_api import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    CompletionUsage,
    ModelList,
    ModelRef,
    list_models,
    question_of,
    resolve_model,
)
from dayshift.service.state import Service, service_of
from dayshift.service.tenants import TenantRuntime
from dayshift.service.tracing import Pending, fill_answer, start_trace
from dayshift.trace.detail import record_retrieval, recording

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["openai"])
ROUTE = "/v1/chat/completions"
WITHDRAWN = "\n\n(The draft above is withdrawn: the sources it cites do not support it.)\n\n"
_ERROR_SCHEMA = {"type": "object", "properties": {"error": {"type": "object"}}}
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"content": {"application/json": {"schema": _ERROR_SCHEMA}}, "description": "OpenAI-style error"}
    for code in (400, 401, 402, 404, 413, 429, 502, 503, 504)
}
# One server-sent event as a client parses it: OpenAI's stream has unnamed events ("message"), each data a
# chat.completion.chunk (or an error) as JSON, and the last one "[DONE]".
_SSE_CHUNK = {"type": "object", "required": ["event", "data"], "properties": {
    "event": {"const": "message"}, "data": {"type": "string"}}}


class OpenAIError(Exception):
    """An error answered in OpenAI's shape (these routes only)."""

    def __init__(self, status: int, message: str, *, kind: str, code: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.kind, self.code, self.headers = status, message, kind, code, headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.kind, "code": self.code, "param": None,
                          "request_id": request_id_var.get() or ""}}


def _from_api(exc: ApiError) -> OpenAIError:
    kind = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}.get(
        exc.status, "invalid_request_error")
    return OpenAIError(exc.status, exc.detail, kind=kind, code=exc.code, headers=exc.headers)


def _from_dayshift(exc: DayshiftError) -> OpenAIError:
    status, code, headers = status_of(exc)
    kind = "invalid_request_error" if status < 500 else "api_error"
    if status == 402:
        kind = "insufficient_quota"
    return OpenAIError(status, str(exc), kind=kind, code=code, headers=headers)


async def openai_caller(
    request: Request,
    bearer: HTTPAuthorizationCredentials | None = Depends(access._bearer),
    header_key: str | None = Depends(access._header),
) -> Principal:
    """The service's caller, with errors in OpenAI's shape; on an open server the SDK's dummy key is ignored."""
    service = service_of(request)
    if service.auth.open:
        bearer, header_key = None, None
    try:
        return await access.caller(request, bearer, header_key)
    except ApiError as exc:
        raise _from_api(exc) from exc


@router.get("/models", response_model=ModelList, responses=_ERRORS, summary="The prompt versions, as OpenAI models")
def models(request: Request, who: Principal = Depends(openai_caller)) -> ModelList:
    service = service_of(request)
    try:
        return list_models(PromptRegistry.from_settings(service.pool.settings_for(who.tenant)))
    except ConfigError as exc:
        raise OpenAIError(500, str(exc), kind="api_error", code="prompts_unreadable") from exc


@router.post(
    "/chat/completions", response_model=ChatCompletion, responses={
        **_ERRORS,
        200: {"content": {"text/event-stream": {"schema": _SSE_CHUNK}},
              "description": "A chat.completion, or with `stream: true` chat.completion.chunk events and [DONE]"},
    }, summary="OpenAI-compatible chat completions: a grounded answer with citations, or \"I don't know\"",
)
async def chat_completions(body: ChatCompletionRequest, request: Request,
                           who: Principal = Depends(openai_caller)) -> Any:
    service = service_of(request)
    request.state.traced = True
    try:
        question = question_of(body)
        where = parse_filters(body.dayshift.where)
    except (ValueError, QueryError) as exc:
        raise OpenAIError(400, str(exc), kind="invalid_request_error", code="invalid") from exc
    if len(question) > service.settings.service.max_question_chars:
        raise OpenAIError(413, f"the question is over {service.settings.service.max_question_chars} characters; "
                               "shorten it", kind="invalid_request_error", code="too_large")
    try:
        model = resolve_model(body.model, PromptRegistry.from_settings(service.pool.settings_for(who.tenant)))
    except ConfigError as exc:
        raise OpenAIError(404, str(exc), kind="invalid_request_error", code="model_not_found") from exc
    job = _ChatJob(service, request, who, body, model, question, where)
    if not body.stream:
        done = await asyncio.get_running_loop().run_in_executor(None, job.run_to_end)
        if isinstance(done, DayshiftError):
            raise _from_dayshift(done)
        return job.completion(done)
    return StreamingResponse(job.chunks(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


# -- one answer -----------------------------------------------------------------------------------------


class _ChatJob:
    """One answer on a worker thread, as /v1/ask's; its trace is written whatever the client does."""

    def __init__(self, service: Service, request: Request, who: Principal, body: ChatCompletionRequest,
                 model: ModelRef, question: str, where: list[Any]) -> None:
        self.service, self.answerers, self.who, self.body = service, _answerers(request), who, body
        self.model, self.question, self.where = model, question, where
        self.cancel = CancelToken()
        self.started = time.perf_counter()
        self.created = int(time.time())
        params = {"where": body.dayshift.where, "stream": body.stream, "model": body.model}
        self.pending = start_trace(ROUTE, tenant=who.tenant, request_id=request_id_var.get() or "", query=question,
                                   params=params, started=self.started)
        self.id = f"chatcmpl-{self.pending.record.trace_id}"
        self.answer: Answer | None = None

    def run_to_end(self) -> AskResponse | DayshiftError:
        return self._generate(on_piece=None)

    def completion(self, done: AskResponse) -> ChatCompletion:
        u = done.usage
        return ChatCompletion(
            id=self.id, created=self.created, model=self.body.model,
            system_fingerprint=self.model.template.content_hash[:16],
            choices=[Choice(message=AssistantMessage(content=done.answer), finish_reason=self._finish())],
            usage=CompletionUsage(prompt_tokens=u.input_tokens, completion_tokens=u.output_tokens,
                                  total_tokens=u.input_tokens + u.output_tokens),
            dayshift=done,
        )

    def _finish(self) -> str:
        c = self.answer.completion if self.answer is not None else None
        return "length" if c is not None and c.finish_reason == "length" and not self.answer.abstained else "stop"

    async def chunks(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        live = self.body.dayshift.stream_draft
        sent: list[str] = []

        def on_piece(text: str) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, ("token", text))

        def worker() -> None:
            outcome = self._generate(on_piece=on_piece if live else None)
            loop.call_soon_threadsafe(queue.put_nowait, ("end", outcome))

        usage_wanted = bool(self.body.stream_options and self.body.stream_options.include_usage)
        threading.Thread(target=worker, name="dayshift-chat", daemon=True).start()
        try:
            yield self._chunk({"role": "assistant", "content": ""}, usage_wanted=usage_wanted)
            while True:
                kind, data = await queue.get()
                if kind == "token":
                    sent.append(data)
                    yield self._chunk({"content": data}, usage_wanted=usage_wanted)
                    continue
                if isinstance(data, DayshiftError):
                    yield _sse(_from_dayshift(data).body())
                    yield b"data: [DONE]\n\n"
                    return
                rest = _tail(data.answer, "".join(sent))
                if rest:
                    yield self._chunk({"content": rest}, usage_wanted=usage_wanted)
                yield self._chunk({}, finish=self._finish(), usage_wanted=usage_wanted,
                                  extra={"dayshift": data.model_dump(mode="json")})
                if usage_wanted:
                    u = data.usage
                    yield _sse({"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                                "model": self.body.model, "choices": [],
                                "usage": {"prompt_tokens": u.input_tokens, "completion_tokens": u.output_tokens,
                                          "total_tokens": u.input_tokens + u.output_tokens}})
                yield b"data: [DONE]\n\n"
                return
        finally:
            self.cancel.cancel()  # the client went away (or the stream ended): stop generating

    def _chunk(self, delta: dict[str, Any], *, usage_wanted: bool, finish: str | None = None,
               extra: dict[str, Any] | None = None) -> bytes:
        chunk: dict[str, Any] = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                                 "model": self.body.model,
                                 "system_fingerprint": self.model.template.content_hash[:16],
                                 "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}
        if usage_wanted:
            chunk["usage"] = None
        if extra:
            chunk.update(extra)
        return _sse(chunk)

    def _generate(self, *, on_piece: Any) -> AskResponse | DayshiftError:
        service, pending = self.service, self.pending
        record = pending.record
        with service.telemetry.request(ROUTE, tenant=self.who.tenant, request_id=record.request_id,
                                       trace_id=record.trace_id) as span:
            try:
                with service.metrics.inflight(ROUTE), service.ask_slots, \
                        service.pool.use(self.who.tenant) as runtime:
                    record.params["index_version"] = runtime.ingestor.catalog.index_version()
                    answerer = self.answerers.get(service, runtime, self.model)
                    with recording() as seen:
                        stream = answerer.ask(self.question, where=self.where, tenant=self.who.tenant,
                                              cancel=self.cancel)
                        for piece in stream:
                            if on_piece is not None:
                                on_piece(piece)
                        self.answer = answer = stream.result()
                fill_answer(pending, answer, list(answer.retrieved), answerer=answerer, search=seen.result)
                service.telemetry.stages(span, answer.timings_ms, k=service.settings.answer.k,
                                         embedder=service.embedder_ref, llm=service.llm_ref,
                                         completion=answer.completion)
                return ask_response(answer, trace_id=record.trace_id)
            except DayshiftError as exc:
                _fail(pending, exc)
                return exc
            except Exception as exc:  # noqa: BLE001 - the trace and the client still get an answer
                log.exception("unexpected error while answering a chat completion")
                _fail(pending, exc)
                return DayshiftError(f"unexpected {type(exc).__name__} while answering; see the server log")
            finally:
                service.traces.finish(pending, latency_ms=(time.perf_counter() - self.started) * 1000)


def _tail(final: str, streamed: str) -> str:
    """What the client still needs after the streamed draft: the rest of the answer, or the withdrawal."""
    if not streamed:
        return final
    if final.startswith(streamed):
        return final[len(streamed):]
    if final.startswith(streamed.strip()):
        return final[len(streamed.strip()):]
    return WITHDRAWN + final


def _fail(pending: Pending, exc: Exception) -> None:
    record = pending.record
    record.status = "cancelled" if isinstance(exc, LLMCancelledError) else "error"
    record.http_status = status_of(exc)[0] if isinstance(exc, DayshiftError) else 500
    record.errors.append(f"{type(exc).__name__}: {exc}")


def _sse(data: Any) -> bytes:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


# -- an answerer per prompt version ---------------------------------------------------------------------


class _Answerers:
    """The tenant's own answerer for its configured prompt; for another version, one built beside it and kept
    (at most `capacity`) while that tenant's store stays open."""

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self._built: OrderedDict[tuple[str, str, str], tuple[TenantRuntime, Answerer]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, service: Service, runtime: TenantRuntime, model: ModelRef) -> Answerer:
        template = model.template
        own = runtime.answerer
        if own.prompt.ref == template.ref and own.prompt.content_hash == template.content_hash:
            return own
        key = (runtime.tenant, template.ref, template.content_hash)
        with self._lock:
            found = self._built.get(key)
            if found is not None and found[0] is runtime:
                self._built.move_to_end(key)
                return found[1]
            settings = runtime.settings.model_copy(
                update={"answer": runtime.settings.answer.model_copy(update={"prompt": template.ref})})
            answerer = record_retrieval(open_answerer(settings, embedder=service.pool.embedder, store=runtime.store,
                                                      llm=service.pool.llm))
            self._built[key] = (runtime, answerer)
            while len(self._built) > self.capacity:
                self._built.popitem(last=False)
            return answerer


_STATE_LOCK = threading.Lock()


def _answerers(request: Request) -> _Answerers:
    state = request.app.state
    with _STATE_LOCK:
        if not hasattr(state, "chat_answerers"):
            state.chat_answerers = _Answerers()
    return state.chat_answerers  # type: ignore[no-any-return]


def install(app: FastAPI) -> None:
    """Errors of these routes in OpenAI's shape; every other route keeps the service's Problem bodies."""
    previous = app.exception_handlers[RequestValidationError]

    async def _openai(request: Request, exc: OpenAIError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    async def _invalid(request: Request, exc: RequestValidationError) -> Any:
        if request.url.path not in (ROUTE, "/v1/models"):
            return await previous(request, exc)
        where = "; ".join(f"{'.'.join(str(p) for p in err['loc'][1:]) or 'body'}: {err['msg']}"
                          for err in exc.errors()[:5])
        error = OpenAIError(400, f"the request does not fit the schema ({where}); see /openapi.json",
                            kind="invalid_request_error", code="invalid")
        return JSONResponse(error.body(), status_code=400)

    previous_http = app.exception_handlers[StarletteHTTPException]

    async def _http(request: Request, exc: StarletteHTTPException) -> Any:  # a body that is not JSON at all
        if request.url.path != ROUTE or exc.status_code != 400:
            return await previous_http(request, exc)
        error = OpenAIError(400, "the body is not JSON; send a chat.completions request as UTF-8 JSON",
                            kind="invalid_request_error", code="invalid")
        return JSONResponse(error.body(), status_code=400)

    app.add_exception_handler(OpenAIError, _openai)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http)
