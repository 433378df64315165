"""Every error the service returns is a Problem body: a short code, what went wrong and the fix."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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
from dayshift.service.logs import request_id_var

log = logging.getLogger(__name__)


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


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return problem(exc.status, exc.code, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        where = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or 'body'}: {err['msg']}" for err in exc.errors()[:5]
        )
        return problem(422, "invalid", f"the request does not fit the schema ({where}); see /openapi.json")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404:
            detail = f"no route {request.method} {request.url.path}; see /docs for the API"
        return problem(exc.status_code, code, detail, dict(exc.headers or {}))

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
