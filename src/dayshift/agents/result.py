"""What a run returns: every step it took, its answer and sources, or why it stopped and what it had found.

    AgentResult.status       answered | cannot_answer | stopped (no final answer: see stop_reason)
    AgentResult.stop_reason  answer                 the model gave its final answer
                             budget:steps           the step budget ran out (the last step was offered only
                                                    final_answer, so the answer, if any, is kept)
                             budget:seconds | budget:tokens | budget:cost
                                                    the next call could have crossed that budget: not made
                             loop                   the same call with the same arguments, max_repeats times
                             invalid_arguments      calls that did not validate, max_invalid_calls times
                             error | cancelled      the model failed, or the caller went away

Left out: resuming a stopped run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from dayshift.agents.budget import Budget
from dayshift.agents.tools.base import Evidence

Status = Literal["answered", "cannot_answer", "stopped"]
StepStatus = Literal["ok", "error", "refused", "invalid", "repeated", "answer"]


@dataclass(slots=True)
class AgentStep:
    """One action of a run: a tool call and its result, or the final answer."""

    n: int  # 1-based, in order
    model_call: int  # the model call that asked for it (one call may ask for several tools)
    started_ms: float  # since the run started
    status: StepStatus
    tool: str | None  # None: the model's reply could not be read as a call
    arguments: str | None  # the JSON text the model wrote
    result: str = ""  # what the tool returned (or the answer), cut to the trace's limit
    error: str | None = None
    evidence: list[str] = field(default_factory=list)  # ids this step produced
    model_ms: float = 0.0  # the model call's time (on the first action of that call)
    tool_ms: float = 0.0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    withheld: int = 0  # sentences of the result withheld from the model (injection quarantine)

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "model_call": self.model_call, "started_ms": round(self.started_ms, 1),
                "status": self.status, "tool": self.tool, "arguments": self.arguments, "result": self.result,
                "error": self.error, "evidence": list(self.evidence), "model_ms": round(self.model_ms, 1),
                "tool_ms": round(self.tool_ms, 1), "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens, "cost_usd": round(self.cost_usd, 8), "withheld": self.withheld}


@dataclass(slots=True)
class AgentResult:
    task: str
    status: Status
    answer: str  # the final answer; "" when the run stopped without one
    stop_reason: str
    stop_detail: str  # a sentence for the user: why it ended (never quotes data)
    citations: list[Evidence]
    citations_inferred: bool
    invalid_citations: list[str]
    evidence: list[Evidence]  # every result the run produced, cited or not
    steps: list[AgentStep]
    usage: dict[str, Any]  # steps (model calls), seconds, input_tokens, output_tokens, tokens, cost_usd
    budget: Budget
    overruns: list[str]  # budgets the run ended above: always empty unless something is wrong
    prompt: str  # name@vN
    model: str
    protocol: str  # json | tools
    tools: list[str]
    tool_errors: int = 0
    invalid_calls: int = 0
    repeats: int = 0
    withheld: int = 0
    links_removed: list[str] = field(default_factory=list)  # URLs taken out of the answer (agents/links.py)
    system_prompt: str = field(default="", repr=False)  # what the model was told (kept for scoring, not output)

    @property
    def budget_stop(self) -> bool:
        return self.stop_reason.startswith("budget:")

    @property
    def partial(self) -> str:
        """The work so far, in a sentence: what a stopped run hands back besides its steps."""
        if not self.evidence:
            return f"{self.stop_detail}. No tool returned a result before the run stopped."
        found = "; ".join(f"{e.id} ({e.kind}: {e.label[:80]})" for e in self.evidence[:8])
        return f"{self.stop_detail}. Results so far: {found}."

    def to_json(self) -> dict[str, Any]:
        return {
            "task": self.task, "status": self.status, "answer": self.answer, "stop_reason": self.stop_reason,
            "stop_detail": self.stop_detail, "partial": self.partial if self.status == "stopped" else None,
            "citations": [e.to_json() for e in self.citations], "citations_inferred": self.citations_inferred,
            "invalid_citations": list(self.invalid_citations), "evidence": [e.to_json() for e in self.evidence],
            "steps": [s.to_json() for s in self.steps], "usage": dict(self.usage), "budget": self.budget.to_json(),
            "overruns": list(self.overruns), "prompt": self.prompt, "model": self.model, "protocol": self.protocol,
            "tools": list(self.tools), "tool_errors": self.tool_errors, "invalid_calls": self.invalid_calls,
            "repeats": self.repeats, "withheld": self.withheld, "links_removed": list(self.links_removed),
        }
