"""Everything the routes share, built once per app: settings, auth, tenants, jobs, traces, telemetry."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from fastapi import Request

from dayshift.service.auth import Authenticator, RateLimiter
from dayshift.service.jobs import JobRunner
from dayshift.service.metrics import ServiceMetrics
from dayshift.service.tenants import TenantPool
from dayshift.service.tracing import TraceSink
from dayshift.settings import Settings
from dayshift.trace.otel import ModelRef, Telemetry


@dataclass(slots=True)
class Service:
    settings: Settings
    auth: Authenticator
    limiter: RateLimiter
    pool: TenantPool
    jobs: JobRunner
    traces: TraceSink
    metrics: ServiceMetrics
    telemetry: Telemetry
    ask_slots: threading.BoundedSemaphore  # answers generated at once
    model_name: str  # the primary LLM, for readiness
    llm_ref: ModelRef  # the primary LLM, for spans
    embedder_ref: ModelRef

    def close(self) -> None:
        self.jobs.close()
        self.traces.close()
        self.pool.close()
        self.auth.keys.close()
        self.telemetry.shutdown()


def service_of(request: Request) -> Service:
    return request.app.state.service  # type: ignore[no-any-return]
