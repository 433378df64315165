"""GET /healthz (the process answers), GET /readyz (it can serve), GET /metrics (Prometheus)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from dayshift.service.api import Health, Ready
from dayshift.service.state import service_of
from dayshift.tenancy import DEFAULT_TENANT

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health, summary="Liveness: the process is up")
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Ready, responses={503: {"model": Ready}},
            summary="Readiness: the index, the trace database and the model can be used")
def readyz(request: Request) -> Response:
    service = service_of(request)
    checks: dict[str, str] = {}
    try:
        with service.pool.use(DEFAULT_TENANT) as runtime:
            runtime.store.stats()
        checks["index"] = "ok"
    except Exception as exc:  # noqa: BLE001 - readiness reports every failure
        checks["index"] = f"{type(exc).__name__}: {exc}"
    try:
        service.traces.store.count(tenant=DEFAULT_TENANT)
        # Ready once the flusher has stored what an earlier run left in the spool (its start loads the
        # PII redactor, a few seconds): until then a trace the client was given could not be read.
        checks["traces"] = "ok" if service.traces.sync(timeout_s=2.0) else "catching up on the trace spool"
    except Exception as exc:  # noqa: BLE001
        checks["traces"] = f"{type(exc).__name__}: {exc}"
    open_circuits = [b.state == "open" for b in service.pool.llm.breakers]
    checks["model"] = "ok" if not all(open_circuits) else (
        f"{service.model_name}: every model's circuit is open after repeated failures; see the log")
    ready = all(v == "ok" for v in checks.values())
    body = Ready(status="ready" if ready else "not ready", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}})
def metrics(request: Request) -> Response:
    body, content_type = service_of(request).metrics.render()
    return Response(body, media_type=content_type)
