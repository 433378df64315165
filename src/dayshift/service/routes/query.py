"""POST /v1/search and POST /v1/ask (JSON, or a stream of server-sent events).

Each trace's params carry the tenant's index version (the catalog's last sync run that changed the
index, Catalog.index_version), so the monitor can say which index was live when an alert fired.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from dayshift.answer.answerer import Answer
from dayshift.errors import ConfigError, DayshiftError, LLMCancelledError
from dayshift.llm.base import CancelToken
from dayshift.llm.structured import check_json_schema
from dayshift.retrieve.filters import parse_filters
from dayshift.service.access import caller
from dayshift.service.api import (
    AskRequest,
    AskResponse,
    HitOut,
    Problem,
    SearchRequest,
    SearchResponse,
    ask_response,
    chunk_out,
)
from dayshift.service.auth import Principal
from dayshift.service.errors import ApiError, status_of
from dayshift.service.logs import request_id_var
from dayshift.service.state import Service, service_of
from dayshift.service.tracing import Pending, fill_answer, fill_search, start_trace
from dayshift.trace.detail import recording

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["query"])
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem} for code in (400, 401, 402, 413, 422, 429, 502, 503, 504)
}


# One server-sent event, as a client parses it: the event's name and its data (a JSON text).
_SSE_EVENT = {"type": "object", "required": ["event", "data"], "properties": {
    "event": {"enum": ["token", "answer", "citations", "error", "done"]}, "data": {"type": "string"}}}


@router.post("/search", response_model=SearchResponse, responses=_ERRORS, summary="Hybrid search")
def search(body: SearchRequest, request: Request, who: Principal = Depends(caller)) -> SearchResponse:
    service = service_of(request)
    settings = service.settings
    request.state.traced = True
    started = time.perf_counter()
    where = parse_filters(body.where)
    pending = start_trace("/v1/search", tenant=who.tenant, request_id=request_id_var.get() or "", query=body.query,
                          params={"k": body.k, "mode": body.mode, "where": body.where}, started=started)
    with service.telemetry.request("/v1/search", tenant=who.tenant, request_id=pending.record.request_id,
                                   trace_id=pending.record.trace_id) as span:
        try:
            with service.pool.use(who.tenant) as runtime:
                pending.record.params["index_version"] = runtime.ingestor.catalog.index_version()
                result = runtime.retriever.search(body.query, k=body.k, mode=body.mode, where=where)
            fill_search(pending, result)
            service.telemetry.stages(span, result.timings_ms, k=body.k, mode=body.mode or settings.retrieve.mode,
                                 embedder=service.embedder_ref)
        except Exception as exc:
            _fail(pending, exc)
            raise
        finally:
            service.traces.finish(pending, latency_ms=(time.perf_counter() - started) * 1000)
    return SearchResponse(
        trace_id=pending.record.trace_id,
        hits=[HitOut(rank=i, score=round(h.score, 6), chunk=chunk_out(h)) for i, h in enumerate(result.hits, 1)],
        timings_ms={k: round(v, 3) for k, v in result.timings_ms.items()},
    )


@router.post(
    "/ask", response_model=AskResponse, responses={
        **_ERRORS,
        200: {"content": {"text/event-stream": {"schema": _SSE_EVENT}},
              "description": "JSON, or with `stream: true` server-sent events: `token` ({text}) as the draft "
                             "arrives, then `answer` (the AskResponse: the draft may be withdrawn), `citations`, "
                             "and last `done` ({trace_id}); `error` ({error, detail}) replaces `answer` on failure"},
    }, summary="A grounded answer with citations, or a clean \"I don't know\"",
)
async def ask(body: AskRequest, request: Request, who: Principal = Depends(caller)) -> Any:
    service = service_of(request)
    request.state.traced = True
    if len(body.question) > service.settings.service.max_question_chars:
        raise ApiError(413, "too_large", f"the question is over {service.settings.service.max_question_chars} "
                                         "characters; shorten it")
    where = parse_filters(body.where)
    if body.response_format is not None:
        if body.stream:
            raise ApiError(422, "invalid", "structured answers are not streamed: send response_format with "
                                           "stream false")
        try:
            check_json_schema(body.response_format.json_schema.json_schema)
        except ConfigError as exc:
            raise ApiError(422, "invalid", f"response_format.json_schema.schema: {exc}") from None
    job = _AskJob(service, who, body, where, request_id_var.get() or "")
    if not body.stream:
        done = await asyncio.get_running_loop().run_in_executor(None, job.run_to_end)
        if isinstance(done, DayshiftError):
            raise done
        return done
    return StreamingResponse(job.events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


class _AskJob:
    """One answer, generated on a worker thread; its trace is written there, whatever the client does."""

    def __init__(self, service: Service, who: Principal, body: AskRequest, where: list[Any], request_id: str):
        self.service, self.who, self.body, self.where = service, who, body, where
        self.cancel = CancelToken()
        self.started = time.perf_counter()
        self.pending = start_trace("/v1/ask", tenant=who.tenant, request_id=request_id, query=body.question,
                                   params={"where": body.where, "stream": body.stream}, started=self.started)

    def run_to_end(self) -> AskResponse | DayshiftError:
        return self._generate(on_piece=None)

    async def events(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def on_piece(text: str) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, ("token", {"text": text}))

        def worker() -> None:
            outcome = self._generate(on_piece=on_piece)
            loop.call_soon_threadsafe(queue.put_nowait, ("end", outcome))

        threading.Thread(target=worker, name="dayshift-ask", daemon=True).start()
        try:
            while True:
                kind, data = await queue.get()
                if kind == "token":
                    yield _sse("token", data)
                    continue
                if isinstance(data, AskResponse):
                    yield _sse("answer", data.model_dump(mode="json"))
                    yield _sse("citations", [c.model_dump(mode="json") for c in data.citations])
                else:
                    status, code, _ = status_of(data)
                    yield _sse("error", {"error": code, "status": status, "detail": str(data)})
                yield _sse("done", {"trace_id": self.pending.record.trace_id})
                return
        finally:
            self.cancel.cancel()  # the client went away (or the stream ended): stop generating

    def _generate(self, *, on_piece: Any) -> AskResponse | DayshiftError:
        service, pending = self.service, self.pending
        record = pending.record
        with service.telemetry.request("/v1/ask", tenant=self.who.tenant, request_id=record.request_id,
                                       trace_id=record.trace_id) as span:
            try:
                with service.metrics.inflight("/v1/ask"), service.ask_slots, \
                        service.pool.use(self.who.tenant) as runtime:
                    record.params["index_version"] = runtime.ingestor.catalog.index_version()
                    with recording() as seen:
                        answer: Answer = self._answer(runtime, on_piece)
                fill_answer(pending, answer, list(answer.retrieved), answerer=runtime.answerer, search=seen.result)
                service.telemetry.stages(span, answer.timings_ms, k=service.settings.answer.k,
                                         embedder=service.embedder_ref, llm=service.llm_ref,
                                         completion=answer.completion)
                return ask_response(answer, trace_id=record.trace_id)
            except DayshiftError as exc:
                _fail(pending, exc)
                return exc
            except Exception as exc:
                log.exception("unexpected error while answering")
                _fail(pending, exc)
                return DayshiftError(f"unexpected {type(exc).__name__} while answering; see the server log")
            finally:
                service.traces.finish(pending, latency_ms=(time.perf_counter() - self.started) * 1000)


    def _answer(self, runtime: Any, on_piece: Any) -> Answer:
        wanted = self.body.response_format
        if wanted is not None:
            return runtime.answerer.ask_json(self.body.question, schema=wanted.json_schema.json_schema, where=self.where,
                                             tenant=self.who.tenant, cancel=self.cancel)
        stream = runtime.answerer.ask(self.body.question, where=self.where, tenant=self.who.tenant, cancel=self.cancel)
        for piece in stream:
            if on_piece is not None:
                on_piece(piece)
        return stream.result()


def _fail(pending: Pending, exc: Exception) -> None:
    record = pending.record
    status = status_of(exc)[0] if isinstance(exc, DayshiftError) else 500
    record.status = "cancelled" if isinstance(exc, LLMCancelledError) else "error"
    record.http_status = status
    record.errors.append(f"{type(exc).__name__}: {exc}")


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()
