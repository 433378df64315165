"""GET /v1/monitor/report: the morning report over every tenant's traces, as the HTML page or as JSON.

    GET /v1/monitor/report?since=24h              -> text/html (monitor/report_html: checklist, plots, config)
    GET /v1/monitor/report?since=7d&format=json   -> the same as JSON (monitor/report.report_json)

The report spans all tenants, so it needs the admin key (or an open loopback
server, which has only the default tenant); a tenant key gets 403. The
detectors run on each request, over the trace database, after the spool has
been flushed into it; the web UI's Monitor page (ui/monitor.html) shows the
page in a sandboxed frame. The HTML response carries the page's own
Content-Security-Policy, so a browser opening it directly runs no script either.

Left out: caching reports (each request runs the detectors afresh; only the
questions' vectors are remembered), a rules file of the deployment's own (the
shipped rules.toml is used), and sending alerts, which `dayshift monitor
watch` does on its schedule.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from dayshift.embed.base import Embedder
from dayshift.monitor.report import MAX_WINDOW, report_json, window_start
from dayshift.monitor.report_html import CSP, render_html
from dayshift.monitor.rules import load_rules, with_slo
from dayshift.monitor.run import run_detectors
from dayshift.service.access import caller
from dayshift.service.api import SINCE_SCHEMA, Problem
from dayshift.service.auth import Principal
from dayshift.service.errors import ApiError
from dayshift.service.state import service_of

router = APIRouter(prefix="/v1/monitor", tags=["monitor"])
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": Problem} for code in (400, 401, 403, 429)}
_HEADERS = {
    "Content-Security-Policy": f"{CSP}; frame-ancestors 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def operator(who: Principal = Depends(caller)) -> Principal:
    """The admin key, or the open server's caller: the report covers every tenant."""
    if who.admin or who.key_id == "open":
        return who
    raise ApiError(403, "forbidden", "the monitor report covers every tenant, so it needs the admin key "
                                     "(DAYSHIFT_SERVICE__ADMIN_KEY); a tenant key reads its own traces at /v1/traces")


@router.get(
    "/report", response_class=HTMLResponse, summary="The monitor's report: cost, quality, drift, retrieval",
    responses={**_ERRORS, 200: {"content": {"text/html": {"schema": {"type": "string"}},
                                            "application/json": {"schema": {"type": "object"}}},
                                "description": "The report page, or with `format=json` its data"}},
)
def report(
    request: Request,
    who: Principal = Depends(operator),
    since: str = Query("24h", max_length=40, json_schema_extra=SINCE_SCHEMA,
                       description=f"24h, 7d, 90m, or an ISO date or time (UTC); at most {MAX_WINDOW.days} days "
                                   "back (an older start is moved up to that); a future one shows the last minute"),
    format: Literal["html", "json"] = Query("html"),
) -> Response:
    service = service_of(request)
    now = datetime.now(UTC)
    try:
        start = window_start(since, now=now, clamp=True)
    except ValueError as exc:
        raise ApiError(400, "invalid", f"since: {exc}") from exc
    rules = with_slo(load_rules(), service.settings.monitor.slo)  # the shipped rules.toml, the settings' SLOs
    service.traces.sync()
    found = run_detectors(service.traces.store, since=start, until=now, rules=rules,
                          embed_queries=_query_vectors(request), now=now)
    config = found.served  # what served the window's traces, as they recorded it
    if format == "json":
        return JSONResponse(report_json(found, config=config), headers={"Cache-Control": "no-store"})
    page = render_html(found, config=config, runbook_base=rules.runbook_base_url)
    return HTMLResponse(page, headers=_HEADERS)


class QueryVectors:
    """The shared embedder's query vectors, remembered by text: each refresh of the page re-reads the same
    questions. Bounded; starts over when full."""

    def __init__(self, embedder: Embedder, *, capacity: int = 50_000) -> None:
        self.embedder, self.capacity = embedder, capacity
        self._vectors: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.embedder.dim), np.float32)
        with self._lock:
            known = {t: self._vectors[t] for t in texts if t in self._vectors}
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:  # embedded outside the lock: the embedder may take seconds
            fresh = list(self.embedder.embed(missing, kind="query"))
            known.update(zip(missing, fresh, strict=True))
            with self._lock:
                if len(self._vectors) + len(missing) > self.capacity:
                    self._vectors.clear()
                self._vectors.update(zip(missing, fresh, strict=True))
        return np.stack([known[t] for t in texts])


def _query_vectors(request: Request) -> QueryVectors:
    state = request.app.state
    if getattr(state, "monitor_query_vectors", None) is None:
        state.monitor_query_vectors = QueryVectors(service_of(request).pool.embedder)
    return state.monitor_query_vectors  # type: ignore[no-any-return]
