"""GET /v1/traces (filtered), GET /v1/traces/{id}, POST /v1/feedback."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from dayshift.errors import QueryError
from dayshift.service.access import caller
from dayshift.service.api import FeedbackOut, FeedbackRequest, Problem, TraceList, TraceOut, trace_out
from dayshift.service.auth import Principal
from dayshift.service.errors import ApiError
from dayshift.service.state import service_of
from dayshift.tenancy import TENANT_PATTERN
from dayshift.trace.record import Feedback, TraceQuery

router = APIRouter(prefix="/v1", tags=["traces"])
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": Problem} for code in (400, 401, 403, 404, 422, 429)}


_DATE_TIME = {"format": "date-time"}


def _instant(name: str, text: str | None) -> datetime | None:
    """An ISO 8601 date-time (UTC without a zone). Parsed here: pydantic would also take numbers as Unix times,
    which the schema does not say."""
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(422, "invalid", f"{name}: {text!r} is not an ISO 8601 date-time, such as "
                                       "2025-03-01T06:00:00Z") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@router.get("/traces", response_model=TraceList, responses=_ERRORS, summary="Traces, newest first, filtered")
def traces(
    request: Request,
    who: Principal = Depends(caller),
    since: str | None = Query(None, json_schema_extra=_DATE_TIME,
                              description="ISO 8601; traces that started at or after this"),
    until: str | None = Query(None, json_schema_extra=_DATE_TIME,
                              description="ISO 8601; traces that started before this"),
    tenant: str | None = Query(None, pattern=TENANT_PATTERN, description="admin key only: one tenant (default: all)"),
    route: str | None = Query(None, min_length=1, max_length=200, examples=["/v1/ask"]),
    prompt_version: str | None = Query(None, min_length=1, max_length=200,
                                       description='"answer@2", or only the version "2"'),
    abstained: bool | None = None,
    feedback: Literal["up", "down", "none", "any"] | None = None,
    status: Literal["ok", "error", "cancelled"] | None = None,
    limit: int = Query(50, ge=1, le=500),
    before: str | None = Query(None, min_length=1, max_length=64,
                               description="next_before of the previous page; an unknown one gets 404"),
) -> TraceList:
    service = service_of(request)
    if tenant is not None and not who.admin and tenant != who.tenant:
        raise ApiError(403, "forbidden", "a tenant key reads only its own traces; leave out `tenant`")
    scope = (tenant if who.admin else who.tenant) if not (who.admin and tenant is None) else None
    service.traces.sync()
    try:
        found = service.traces.store.query(TraceQuery(
            tenant=scope, since=_instant("since", since), until=_instant("until", until), route=route,
            prompt_version=prompt_version, abstained=abstained,
            feedback=feedback, status=status, limit=limit + 1, before=before,
        ))
    except QueryError as exc:  # the cursor names no trace of this scope: the page it points after is not there
        raise ApiError(404, "not_found", str(exc)) from exc
    page = found[:limit]
    return TraceList(traces=[trace_out(t.record, t.feedback) for t in page],
                     next_before=page[-1].record.trace_id if len(found) > limit else None)


@router.get("/traces/{trace_id}", response_model=TraceOut, responses=_ERRORS, summary="One trace")
def trace(trace_id: str, request: Request, who: Principal = Depends(caller)) -> TraceOut:
    service = service_of(request)
    service.traces.sync()
    found = service.traces.store.get(trace_id, tenant=None if who.admin else who.tenant)
    if found is None:
        raise ApiError(404, "not_found", f"no trace {trace_id} for this tenant")
    return trace_out(found.record, found.feedback)


@router.post("/feedback", status_code=201, response_model=FeedbackOut, responses=_ERRORS,
             summary="Thumbs up or down, and a comment, on an answer")
def feedback(body: FeedbackRequest, request: Request, who: Principal = Depends(caller)) -> FeedbackOut:
    service = service_of(request)
    service.traces.sync()
    given = Feedback(trace_id=body.trace_id, tenant=who.tenant, rating=body.rating,
                     comment=service.traces.comment_to_store(body.comment))  # PII out, as for the question
    if not service.traces.store.add_feedback(given):
        raise ApiError(404, "not_found", f"no trace {body.trace_id} for this tenant; use the trace_id that "
                                         "/v1/ask returned")
    service.metrics.observe_feedback(body.rating)
    return FeedbackOut(trace_id=given.trace_id, rating=given.rating, comment=given.comment,
                       created_at=given.created_at)
