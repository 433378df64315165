"""POST /v1/agent: run a task with the configured tools, within budgets; JSON, or server-sent events per step.

    {"task": "...", "tools": ["sql"], "max_steps": 6, "stream": true}
    stream: event `step` (one per step: tool, arguments, result cut short, status, tokens, cost, time) ...
            then `result` (the AgentResult), then `done` ({trace_id}); `error` replaces `result` on failure

A request may narrow the tools to some of agent.tools and lower the budgets, never widen them; the
databases are the server's (agent.databases): a request cannot name a file or a URL. The run is
traced like /v1/ask, one span per step (dayshift.agents.tracing), and the monitor's counters get
its budget stops and tool errors.

Left out: resuming a run, and human approval between steps.
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
from pydantic import BaseModel, ConfigDict, Field

from dayshift.agents.build import open_agent, tool_names
from dayshift.agents.loop import budget_from
from dayshift.agents.result import AgentResult, AgentStep
from dayshift.agents.tools import close_tools
from dayshift.agents.tracing import fill_record
from dayshift.errors import DayshiftError, LLMCancelledError
from dayshift.llm.base import CancelToken
from dayshift.service.access import caller
from dayshift.service.api import Problem
from dayshift.service.auth import Principal
from dayshift.service.errors import ApiError, status_of
from dayshift.service.logs import request_id_var
from dayshift.service.state import Service, service_of
from dayshift.service.tracing import start_trace

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1", tags=["agent"])
_ERRORS: dict[int | str, dict[str, Any]] = {code: {"model": Problem} for code in (400, 401, 413, 422, 429, 503)}
# One server-sent event as a client parses it: its name, and its data (a JSON text).
_SSE_EVENT = {"type": "object", "required": ["event", "data"], "properties": {
    "event": {"enum": ["step", "result", "error", "done"]}, "data": {"type": "string"}}}


class AgentRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task: str = Field(min_length=1, max_length=4000, examples=["How many tracks are in the catalogue?"])
    tools: list[str] | None = Field(None, max_length=10, description="some of the server's agent.tools (default: all)")
    max_steps: int | None = Field(None, ge=1, le=100, description="lower than agent.max_steps, or left out")
    max_seconds: float | None = Field(None, gt=0, le=3600, description="lower than agent.max_seconds, or left out")
    stream: bool = False


class AgentResponse(BaseModel):
    trace_id: str
    result: dict[str, Any]  # AgentResult.to_json(): status, answer, citations, steps, usage, budget, stop_reason


@router.post("/agent", response_model=AgentResponse, responses={**_ERRORS, 200: {
    "content": {"text/event-stream": {"schema": _SSE_EVENT}},
    "description": "stream false: AgentResponse. stream true: events `step` (one per step), then `result` and "
                   "`done` ({trace_id}); `error` replaces `result` on failure"}},
    summary="Run a multi-step task with tools, within budgets, each step traced")
async def agent(body: AgentRequest, request: Request, who: Principal = Depends(caller)) -> Any:
    service = service_of(request)
    request.state.traced = True
    allowed = tool_names(service.settings.agent.tools)
    wanted = tool_names(body.tools) if body.tools is not None else allowed
    extra = [t for t in wanted if t not in allowed]
    if extra or not wanted:
        raise ApiError(422, "invalid", f"tools: {extra or wanted} not among this server's agent tools "
                                       f"({', '.join(allowed)}); send some of those, or leave tools out")
    a = service.settings.agent
    budget = budget_from(a, max_steps=min(body.max_steps or a.max_steps, a.max_steps),
                         max_seconds=min(body.max_seconds or a.max_seconds, a.max_seconds))
    job = _AgentJob(service, who, body, wanted, budget, request_id_var.get() or "")
    if not body.stream:
        done = await asyncio.get_running_loop().run_in_executor(None, job.run, None)
        if isinstance(done, DayshiftError):
            raise done
        return AgentResponse(trace_id=job.pending.record.trace_id, result=done.to_json())
    return StreamingResponse(job.events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


class _AgentJob:
    def __init__(self, service: Service, who: Principal, body: AgentRequest, tools: list[str], budget: Any,
                 request_id: str) -> None:
        self.service, self.who, self.body, self.tools, self.budget = service, who, body, tools, budget
        self.cancel = CancelToken()
        self.started = time.perf_counter()
        self.pending = start_trace("/v1/agent", tenant=who.tenant, request_id=request_id, query=body.task,
                                   params={"tools": tools, "stream": body.stream, "budget": budget.to_json()},
                                   started=self.started)

    def run(self, on_step: Any) -> AgentResult | DayshiftError:
        service, record = self.service, self.pending.record
        try:
            with service.metrics.inflight("/v1/agent"), service.ask_slots, \
                    service.pool.use(self.who.tenant) as runtime:
                runner, built = open_agent(runtime.settings, tools=self.tools, databases=(), llm=service.pool.llm,
                                           searcher=runtime.retriever, tenant=self.who.tenant)
                try:
                    result = runner.run(self.body.task, budget=self.budget, cancel=self.cancel, on_step=on_step)
                finally:
                    close_tools(built)
            fill_record(record, result)
            count_run(service, result)
            if result.stop_reason == "cancelled":
                record.status = "cancelled"
            return result
        except DayshiftError as exc:
            record.status = "cancelled" if isinstance(exc, LLMCancelledError) else "error"
            record.http_status = status_of(exc)[0]
            record.errors.append(f"{type(exc).__name__}: {exc}")
            return exc
        except Exception as exc:
            log.exception("unexpected error in an agent run")
            record.status, record.http_status = "error", 500
            record.errors.append(f"{type(exc).__name__}: {exc}")
            return DayshiftError(f"unexpected {type(exc).__name__} in the agent run; see the server log")
        finally:
            service.traces.finish(self.pending, latency_ms=(time.perf_counter() - self.started) * 1000)

    async def events(self) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

        def on_step(step: AgentStep) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, ("step", step.to_json()))

        def worker() -> None:
            outcome = self.run(on_step)
            loop.call_soon_threadsafe(queue.put_nowait, ("end", outcome))

        threading.Thread(target=worker, name="dayshift-agent", daemon=True).start()
        try:
            while True:
                kind, data = await queue.get()
                if kind == "step":
                    yield _sse("step", data)
                    continue
                if isinstance(data, AgentResult):
                    yield _sse("result", data.to_json())
                else:
                    status, code, _ = status_of(data)
                    yield _sse("error", {"error": code, "status": status, "detail": str(data)})
                yield _sse("done", {"trace_id": self.pending.record.trace_id})
                return
        finally:
            self.cancel.cancel()


def count_run(service: Service, result: AgentResult) -> None:
    """The monitor's counters: budget stops by budget, tool errors by tool, loop and invalid-argument stops."""
    count = getattr(service.metrics, "agent_run", None)
    if callable(count):
        count(result)


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()
