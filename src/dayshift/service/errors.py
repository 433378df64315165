"""Every error the service returns is a Problem body: a short code, what went wrong and the fix."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from dayshift.errors import (
    BudgetExceededError,
    CircuitOpenError,
    ConfigError,
    DayshiftError,
    LLMCancelledError,
    LLMError,
    LLMRateLimitError,
    LLMTimeoutError,
    QueryError,
)
from dayshift.retrieve.filters import parse_filter
from dayshift.service.logs import request_id_var

log = logging.getLogger(__name__)
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers or {}


def problem(status: int, code: str, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": code, "detail": detail, "request_id": request_id_var.get() or ""}
    return JSONResponse(body, status_code=status, headers=headers)


def status_of(exc: DayshiftError) -> tuple[int, str, dict[str, str]]:
    """HTTP status, code and headers for a dayshift error."""
    if isinstance(exc, QueryError | ConfigError):
        return 400, "invalid", {}
    if isinstance(exc, BudgetExceededError):
        return 402, "budget_exceeded", {}
    if isinstance(exc, LLMRateLimitError):
        return 503, "model_busy", {"Retry-After": str(max(1, round(exc.retry_after_s or 5)))}
    if isinstance(exc, LLMTimeoutError):
        return 504, "model_timeout", {}
    if isinstance(exc, CircuitOpenError):
        return 503, "model_unavailable", {"Retry-After": "30"}
    if isinstance(exc, LLMCancelledError):
        return 499, "cancelled", {}
    if isinstance(exc, LLMError):
        return 502, "model_failed", {}
    return 500, "internal", {}


def allowed_methods(request: Request) -> list[str]:
    """The methods the OpenAPI document lists for this path's template; for a path it has no template for
    (the web UI's files), every method some route takes on it."""
    path = request.scope.get("path", "")
    documented = sorted({
        method.upper() for template, operations in request.app.openapi().get("paths", {}).items()
        if re.fullmatch(re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)), path) for method in operations
    })
    if documented:
        return documented
    taken = []
    for method in _METHODS:  # probed: FastAPI nests included routers, so their routes are not listed flat
        probe = {**request.scope, "method": method}
        if any(route.matches(probe)[0] == Match.FULL for route in request.app.router.routes):
            taken.append(method)
    return taken


def _message(err: dict[str, Any]) -> str:
    """Pydantic's message, or for a filter that misses its pattern the filter parser's own (with the fix)."""
    if err.get("type") == "string_pattern_mismatch" and "where" in err.get("loc", ()):
        try:
            parse_filter(str(err.get("input", "")))
        except QueryError as exc:
            return str(exc)
    return str(err["msg"])


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return problem(exc.status, exc.code, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        where = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or 'body'}: {_message(err)}" for err in exc.errors()[:5]
        )
        return problem(422, "invalid", f"the request does not fit the schema ({where}); see /openapi.json")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "invalid", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 400 and detail == "There was an error parsing the body":
            detail = "the body is not JSON (or not UTF-8); send one JSON object, as /openapi.json describes"
        if exc.status_code == 404:
            detail = f"no route {request.method} {request.url.path}; see /docs for the API"
        if exc.status_code == 405:  # Starlette names the methods of the first route that matched the path only
            headers["Allow"] = ", ".join(allowed_methods(request))
            detail = f"{request.url.path} does not take {request.method}; it takes {headers['Allow']}"
        return problem(exc.status_code, code, detail, headers)

    @app.exception_handler(DayshiftError)
    async def _dayshift(request: Request, exc: DayshiftError) -> JSONResponse:
        status, code, headers = status_of(exc)
        if status >= 500:
            log.warning("request failed: %s: %s", type(exc).__name__, exc)
        return problem(status, code, str(exc), headers)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return problem(500, "internal", "an unexpected error; the request id finds it in the server's log")
