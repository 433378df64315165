"""The dayshift service: one FastAPI app over the tenants' indexes, the shared models and the traces.

    dayshift serve  ->  uvicorn  ->  create_app(settings)
        RequestContext (request id, body limits, access log)
        routes: /v1/search /v1/ask /v1/documents /v1/feedback /v1/traces
                /v1/chat/completions /v1/models (OpenAI-compatible: routes/openai_compat)
                /healthz /readyz /metrics /docs /openapi.json, and the web UI at /

Models are loaded once per process; a tenant's store opens on its first
request (service.tenants). Every /v1/search and /v1/ask leaves one trace
(service.tracing), whatever becomes of the client.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from opentelemetry.sdk.trace.export import SpanExporter
from starlette.types import Message, Receive, Scope, Send

from dayshift import __version__
from dayshift.assemble import open_embedder, open_key_ring, open_llm
from dayshift.embed.base import Embedder
from dayshift.errors import ConfigError
from dayshift.llm.client import LLMClient
from dayshift.service import errors
from dayshift.service.auth import Authenticator, RateLimiter
from dayshift.service.errors import ApiError, problem
from dayshift.service.jobs import JobRunner
from dayshift.service.logs import ScrubFilter, bind_request, request_id_var
from dayshift.service.metrics import ServiceMetrics
from dayshift.service.openapi import install_openapi
from dayshift.service.routes import agent, documents, evals, monitor, openai_compat, ops, query, traces, ui
from dayshift.service.state import Service
from dayshift.service.tenants import TenantPool
from dayshift.service.tracing import TraceSink
from dayshift.settings import Settings
from dayshift.trace.otel import ModelRef, configure_tracing

log = logging.getLogger("dayshift.service")
access_log = logging.getLogger("dayshift.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
LOOPBACK = ("127.0.0.1", "::1", "localhost")


def build_service(
    settings: Settings, *, embedder: Embedder | None = None, llm: LLMClient | None = None,
    span_exporter: SpanExporter | None = None,
) -> Service:
    """Everything the routes share. Tests pass models already loaded and an in-memory span exporter."""
    s = settings.service
    keys = open_key_ring(settings)
    auth = Authenticator(keys, admin_key=s.admin_key)
    for secret in (s.admin_key, settings.llm.api_key, settings.embed.api_key,
                   *(m.api_key for m in settings.llm.fallbacks), _password(settings.trace.url),
                   _password(settings.database.url), _password(settings.store.url)):
        if secret:
            ScrubFilter.add_secret(secret)
    embedder = embedder or open_embedder(settings)
    llm = llm or open_llm(settings)
    metrics = ServiceMetrics()
    pool = TenantPool(settings, embedder=embedder, llm=llm, capacity=s.tenant_cache)
    primary = llm.chain[0]
    return Service(
        settings=settings, auth=auth, limiter=RateLimiter(per_minute=s.rate_limit_per_minute, burst=s.rate_limit_burst),
        pool=pool, jobs=JobRunner(pool, on_finish=lambda job: metrics.job(job.state)),
        traces=TraceSink(settings.trace, data_dir=settings.data_dir, metrics=metrics), metrics=metrics,
        telemetry=configure_tracing(settings.trace, exporter=span_exporter),
        ask_slots=threading.BoundedSemaphore(s.ask_concurrency), model_name=primary.model,
        llm_ref=ModelRef(primary.model, {"local": "llama_cpp"}.get(settings.llm.backend, settings.llm.backend),
                         in_process=primary.is_local and settings.llm.backend == "local"),
        embedder_ref=ModelRef(embedder.space, "dayshift",
                              in_process=settings.embed.backend == "local"),
    )


def _password(url: str | None) -> str | None:
    match = re.match(r"^[a-z0-9+]+://[^:/@]+:([^@]+)@", url or "")
    return match.group(1) if match else None


def create_app(settings: Settings, *, service: Service | None = None) -> FastAPI:
    """The ASGI app. Without `service`, models load and the flusher starts when the app starts."""
    holder: dict[str, Service] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        built = service or build_service(settings)
        holder["service"] = built
        app.state.service = built
        log.info("dayshift %s serving; auth %s", __version__, "open (loopback, no keys)" if built.auth.open else "on")
        try:
            yield
        finally:
            built.close()

    app = FastAPI(
        title="dayshift",
        version=__version__,
        summary="Grounded answers with citations over your documents, with traces of every request.",
        description="Authenticate with `Authorization: Bearer <key>` (create one with `dayshift keys create "
                    "--tenant NAME`). Every error body is a Problem: `error`, `detail` (with the fix) and "
                    "`request_id`.",
        lifespan=lifespan,
    )
    if service is not None:
        app.state.service = service
    errors.install(app)
    openai_compat.install(app)
    for router in (query.router, agent.router, openai_compat.router, documents.router, traces.router,
                   monitor.router, evals.router, ops.router):
        app.include_router(router)
    app.include_router(ui.build_router())  # routes, not a mount at "/": wrong methods get 405 with Allow
    install_openapi(app, settings)
    return RequestContext(app, settings)  # type: ignore[return-value]


class RequestContext:
    """Request id, body size limits and one access-log line per request, as plain ASGI (no buffering)."""

    def __init__(self, app: FastAPI, settings: Settings) -> None:
        self.app = app
        self.max_json = settings.service.max_request_kb * 1024
        self.max_upload = int(settings.service.max_upload_mb * 1024 * 1024)

    def __getattr__(self, name: str) -> Any:  # state, openapi(), routes... of the wrapped app
        return getattr(self.app, name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if scope["method"] in _BODY_METHODS and not _is_multipart(headers):
            scope = _as_json(scope, headers)  # `curl -d '{...}'` sends form-urlencoded: the body is JSON all the same
        given = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        limit = self.max_upload if scope["path"].startswith("/v1/documents") else self.max_json
        started = time.perf_counter()
        status = {"code": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        with bind_request(request_id):
            declared = headers.get(b"content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                await _too_large(scope, receive, send_with_id, limit)
            else:
                await self.app(scope, _counting(receive, limit), send_with_id)
            elapsed_s = time.perf_counter() - started
            service = getattr(self.app.state, "service", None)
            if service is not None and not scope.get("state", {}).get("traced"):  # traced ones count themselves
                route = getattr(scope.get("route"), "path", None) or "unmatched"
                service.metrics.observe_request(route, status=status["code"], duration_s=elapsed_s)
            access_log.info(
                "%s %s %s", scope["method"], scope["path"], status["code"],
                extra={"method": scope["method"], "path": scope["path"], "status": status["code"],
                       "latency_ms": round(elapsed_s * 1000, 2)},
            )


_BODY_METHODS = ("POST", "PUT", "PATCH")


def _is_multipart(headers: dict[bytes, bytes]) -> bool:
    return headers.get(b"content-type", b"").lower().startswith(b"multipart/")


def _as_json(scope: Scope, headers: dict[bytes, bytes]) -> Scope:
    """The API reads every non-multipart body as JSON, whatever content type the client named."""
    if headers.get(b"content-type", b"").split(b";")[0].strip().lower() == b"application/json":
        return scope
    kept = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-type"]
    return {**scope, "headers": [*kept, (b"content-type", b"application/json")]}


def _counting(receive: Receive, limit: int) -> Receive:
    seen = 0

    async def counted() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise ApiError(413, "too_large", f"the request body is over {limit // 1024} KiB; send less")
        return message

    return counted


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    what = "upload" if scope["path"].startswith("/v1/documents") else "request body"
    setting = "DAYSHIFT_SERVICE__MAX_UPLOAD_MB" if what == "upload" else "DAYSHIFT_SERVICE__MAX_REQUEST_KB"
    response = problem(413, "too_large", f"the {what} is over {limit // 1024} KiB; send less, or raise {setting}")
    await response(scope, receive, send)


def check_bind(settings: Settings, *, host: str, open_auth: bool) -> None:
    """An open server (no keys) may only listen on loopback."""
    if open_auth and host not in LOOPBACK:
        raise ConfigError(
            f"no API key exists, so the server would be open to anyone on {host}; create a key with "
            "`dayshift keys create --tenant NAME` or set DAYSHIFT_SERVICE__ADMIN_KEY, or serve on 127.0.0.1"
        )


__all__ = ["build_service", "check_bind", "create_app", "request_id_var"]
