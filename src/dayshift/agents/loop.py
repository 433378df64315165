"""The agent loop: plan, act, observe, until a final answer or a budget ends it.

    agent = Agent(llm, tools, prompt=registry.get("agent"), settings=settings.agent)
    result = agent.run("Which five customers spent the most?", on_step=print)

    each model call    budget check (steps, tokens, cost, time: BudgetTracker.before_call) -> the call,
                       cancelled at the deadline -> the reply read as calls or a final answer (protocol.py)
    each call          the tool exists?  its arguments validate (the tool's pydantic Args)?  not a repeat?
                       -> run it within the time left -> its result framed as data (injection.py) -> next call
    a final answer     its sources resolved to the results the run produced (citations.py) -> AgentResult

Mistakes go back to the model as the call's result, so it can fix them: an unknown tool, arguments
that do not validate, a refused or failed statement. Arguments that do not validate
`max_invalid_calls` times, or the same call with the same arguments `max_repeats` times (loop
detection), end the run; so does the step budget. Each of these first gives the model one last
call that may only answer, when a step is left for it, so the run hands back the best answer its
results allow, marked with why it stopped. The time, token and cost budgets stop the run without
another call: the next call could cross them.

Left out: parallel tool execution (calls of one reply run in order) and memory across runs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError

from dayshift.agents.budget import SAFETY_S, Budget, BudgetStop, BudgetTracker
from dayshift.agents.citations import cannot_answer, resolve
from dayshift.agents.injection import frame, quarantine
from dayshift.agents.links import Trusted, keep_trusted_links
from dayshift.agents.protocol import FINAL, Call, Decision, Final, JsonCalls, ModelProtocol, ToolCalls, Unreadable
from dayshift.agents.result import AgentResult, AgentStep
from dayshift.agents.tools.base import Evidence, RunContext, Tool, ToolError, clip
from dayshift.answer.prompts import PromptTemplate
from dayshift.errors import BudgetExceededError, LLMCancelledError, LLMError
from dayshift.llm.base import CancelToken, ChatRequest, Completion, Message, Usage
from dayshift.settings import AgentSettings

log = logging.getLogger(__name__)
DEFAULT_STEP_TOKENS = 256
StepListener = Callable[[AgentStep], None]


def protocol_for(llm: Any) -> ModelProtocol:
    """Grammar-constrained JSON for in-process models, the OpenAI tools protocol for servers."""
    from dayshift.llm.openai import OpenAIBackend

    return ToolCalls() if isinstance(llm.chain[0], OpenAIBackend) else JsonCalls()


def budget_from(settings: AgentSettings, **overrides: Any) -> Budget:
    values = {"max_steps": settings.max_steps, "max_seconds": settings.max_seconds,
              "max_tokens": settings.max_tokens, "max_cost_usd": settings.max_cost_usd}
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Budget(**values)


# An answer must rest on the run's results: one that cites none, and is not a refusal, goes back once.
UNCITED = ("final_answer was not accepted: it cites no result of this run, and an answer may only use what the "
           "tools returned. Search or query for the answer and cite the ids you use, or, if the results do not "
           "hold it, answer starting with 'Cannot be answered:'")


class _Stopped(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason, self.detail = reason, detail


@dataclass(slots=True)
class _Run:
    task: str
    tracker: BudgetTracker
    context: RunContext
    messages: list[Message] = field(default_factory=list)
    observations: list[int] = field(default_factory=list)  # indices of result messages, oldest first
    evidence: list[Evidence] = field(default_factory=list)
    steps: list[AgentStep] = field(default_factory=list)
    seen: dict[str, AgentStep] = field(default_factory=dict)  # canonical call -> the step that made it
    invalid: int = 0
    repeats: int = 0
    tool_errors: int = 0
    withheld: int = 0
    stop: tuple[str, str] | None = None  # (reason, detail): wrap up with one answer-only call
    final_only: bool = False  # this call was offered only final_answer
    told_to_cite: bool = False  # an uncited answer was sent back once


class Agent:
    def __init__(self, llm: Any, tools: Sequence[Tool], *, prompt: PromptTemplate,
                 settings: AgentSettings | None = None, protocol: ModelProtocol | None = None,
                 tenant: str | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.llm, self.prompt = llm, prompt
        self.settings = settings or AgentSettings()
        self.tools = {t.name: t for t in tools}
        self.protocol = protocol or protocol_for(llm)
        self.tenant, self.clock = tenant, clock
        self.backend = llm.chain[0]
        self.step_tokens = self.settings.step_max_tokens or int(prompt.params.get("max_tokens", DEFAULT_STEP_TOKENS))
        self.temperature = float(prompt.params.get("temperature", 0.0))

    def run(self, task: str, *, budget: Budget | None = None, cancel: CancelToken | None = None,
            on_step: StepListener | None = None) -> AgentResult:
        tracker = BudgetTracker(budget or budget_from(self.settings), clock=self.clock)
        run = _Run(task, tracker, RunContext(deadline=tracker.deadline - SAFETY_S, clock=self.clock))
        run.messages = self._opening(task)
        while True:
            final_only = run.stop is not None or tracker.steps_left() <= 1
            run.final_only = final_only
            tools_only = self.settings.look_first and not run.steps and not final_only
            try:
                completion, model_ms = self._call(run, final_only=final_only, tools_only=tools_only, cancel=cancel)
            except BudgetStop as exc:
                reason, detail = run.stop or (f"budget:{exc.budget}", str(exc))
                return self._finish(run, reason, detail, None)
            except _Stopped as exc:
                return self._finish(run, exc.reason, exc.detail, None)
            message, decisions = self.protocol.decide(completion)
            run.messages.append(message)
            for i, decision in enumerate(decisions):
                step = self._act(run, decision, completion if i == 0 else None, model_ms if i == 0 else 0.0)
                if on_step is not None:
                    on_step(step)
                if isinstance(decision, Final) and step.status == "answer":
                    reason, detail = run.stop or (("budget:steps", self._steps_detail()) if final_only else
                                                  ("answer", f"answered after {tracker.steps} model call(s)"))
                    return self._finish(run, reason, detail, decision)
            self._check_counters(run)
            if final_only:  # offered only final_answer, and it did not answer
                reason, detail = run.stop or ("budget:steps", self._steps_detail())
                return self._finish(run, reason, detail, None)

    # -- one model call --------------------------------------------------------------------------------

    def _opening(self, task: str) -> list[Message]:
        rendered = list(self.prompt.render(question=task))
        if rendered and rendered[0].role == "system":
            system, rest = rendered[0].content, rendered[1:]
        else:
            system, rest = "", rendered
        return [Message("system", self.protocol.system(system, list(self.tools.values()))), *rest]

    def _call(self, run: _Run, *, final_only: bool, tools_only: bool,
              cancel: CancelToken | None) -> tuple[Completion, float]:
        request = self.protocol.request(
            run.messages, list(self.tools.values()), evidence_ids=[e.id for e in run.evidence], final_only=final_only,
            tools_only=tools_only, max_tokens=self.step_tokens, temperature=self.temperature)
        request, prompt_tokens = self._fit_context(run, request, final_only=final_only)
        allowed = run.tracker.before_call(prompt_tokens=prompt_tokens, max_tokens=self.step_tokens,
                                          cost_usd=lambda n: self._estimate_usd(request, n))
        request = dataclasses.replace(request, max_tokens=allowed)
        token = run.tracker.cancel_token(cancel)
        started = self.clock()
        try:
            completion = self.llm.complete(request, cancel=token, tenant=self.tenant)
        except LLMCancelledError:
            run.tracker.after_call(usage=Usage(prompt_tokens, 0), cost_usd=0.0, seconds=self.clock() - started)
            if cancel is not None and cancel.cancelled:
                raise _Stopped("cancelled", "the caller cancelled the run") from None
            raise BudgetStop("seconds", f"the time budget ({run.tracker.budget.max_seconds:g} s) ran out during a "
                                        "model call, which was stopped") from None
        except BudgetExceededError as exc:
            raise _Stopped("budget:cost", str(exc)) from None
        except LLMError as exc:
            raise _Stopped("error", f"the model call failed: {exc}") from None
        seconds = self.clock() - started
        run.tracker.after_call(usage=completion.usage, cost_usd=completion.cost_usd, seconds=seconds)
        return completion, seconds * 1000

    def _fit_context(self, run: _Run, request: ChatRequest, *, final_only: bool) -> tuple[ChatRequest, int]:
        """The request within the model's context window: the oldest results left out first (their ids stay)."""
        window = int(getattr(self.backend, "context_window", 0) or 0)
        tokens = self._count(request)
        for index in list(run.observations):
            if not window or tokens + self.step_tokens <= window:
                break
            old = run.messages[index]
            run.messages[index] = dataclasses.replace(old, content="[an earlier tool result, left out to fit the "
                                                      "context window; its ids can still be cited]")
            run.observations.remove(index)
            request = dataclasses.replace(request, messages=tuple(run.messages))
            tokens = self._count(request)
        if window and tokens + 24 > window:
            raise _Stopped("budget:tokens", f"the conversation ({tokens:,} tokens) no longer fits the model's "
                                            f"{window:,}-token context window")
        return request, tokens

    def _count(self, request: ChatRequest) -> int:
        texts = [m.content for m in request.messages] + [c.arguments for m in request.messages for c in m.tool_calls]
        if request.tools:
            texts.append(json.dumps([{"name": t.name, "description": t.description, "parameters": t.parameters}
                                     for t in request.tools]))
        return sum(self.backend.count_tokens(t) for t in texts if t) + 4 * len(request.messages) + 3

    def _estimate_usd(self, request: ChatRequest, max_tokens: int) -> float:
        estimate = getattr(getattr(self.llm, "meter", None), "estimate_usd", None)
        if estimate is None:
            return 0.0
        return float(estimate(self.backend, dataclasses.replace(request, max_tokens=max_tokens)))

    # -- acting on a reply -------------------------------------------------------------------------------

    def _act(self, run: _Run, decision: Decision, completion: Completion | None, model_ms: float) -> AgentStep:
        step = AgentStep(n=len(run.steps) + 1, model_call=run.tracker.steps, started_ms=run.tracker.elapsed_s() * 1000,
                         status="ok", tool=None, arguments=None, model_ms=model_ms)
        if completion is not None:
            step.input_tokens, step.output_tokens = completion.usage.input_tokens, completion.usage.output_tokens
            step.cost_usd = completion.cost_usd
        run.steps.append(step)
        if isinstance(decision, Final):
            step.tool, step.result = FINAL, decision.answer
            step.arguments = json.dumps({"answer": decision.answer, "sources": list(decision.sources)})
            if not run.final_only and not run.told_to_cite and self._uncited(run, decision):
                run.told_to_cite = True  # once: a second uncited answer is taken as it is
                return self._invalid(run, step, None, UNCITED, call_id="call_final")
            step.status = "answer"
            return step
        if isinstance(decision, Unreadable):
            return self._invalid(run, step, None, decision.reason, raw=decision.raw, call_id=decision.id)
        step.tool, step.arguments = decision.name, decision.arguments
        if run.final_only:  # a server that ignored tool_choice: the tool is not run
            return self._invalid(run, step, decision, "only final_answer may be called now: answer from the "
                                                      "results you have")
        tool = self.tools.get(decision.name)
        if tool is None:
            known = ", ".join([*self.tools, FINAL])
            return self._invalid(run, step, decision, f"there is no tool named {decision.name!r}; the tools are: {known}")
        try:
            args = tool.Args.model_validate(json.loads(decision.arguments))
        except (ValueError, ValidationError) as exc:
            return self._invalid(run, step, decision, f"the arguments of {tool.name} are not valid: {_problems(exc)}. "
                                                      f"Its arguments: {json.dumps(_schema_hint(tool.Args))}")
        key = f"{tool.name}:{json.dumps(args.model_dump(mode='json'), sort_keys=True)}"
        if key in run.seen:
            return self._repeated(run, step, decision, run.seen[key])
        run.seen[key] = step
        self._execute(run, step, decision, tool, args)
        return step

    @staticmethod
    def _uncited(run: _Run, final: Final) -> bool:
        """An answer (not a refusal) that names no result the run produced, and holds none of their numbers."""
        return not cannot_answer(final.answer) and not resolve(final.answer, final.sources, run.evidence).evidence

    def _execute(self, run: _Run, step: AgentStep, call: Call, tool: Tool, args: BaseModel) -> None:
        started = self.clock()
        try:
            output = tool.run(args, run=run.context)
        except ToolError as exc:
            step.status, step.error = ("refused" if exc.refused else "error"), str(exc)
        except Exception as exc:
            log.exception("tool %s failed", tool.name)
            step.status, step.error = "error", f"the {tool.name} tool failed ({type(exc).__name__})"
        step.tool_ms = (self.clock() - started) * 1000
        if step.error is not None:
            run.tool_errors += 1
            self._observe(run, call, step.error, tool=tool.name, ids=[], error=True)
            return
        run.evidence.extend(output.evidence)
        step.evidence = [e.id for e in output.evidence]
        step.result = clip(output.text, self.settings.trace_result_chars)
        shown = quarantine(output.text) if self.settings.quarantine else None
        step.withheld = shown.withheld if shown else 0
        run.withheld += step.withheld
        text = clip(shown.text if shown else output.text, self.settings.result_chars)
        self._observe(run, call, text, tool=tool.name, ids=step.evidence)

    def _invalid(self, run: _Run, step: AgentStep, call: Call | None, reason: str, *, raw: str = "",
                 call_id: str | None = None) -> AgentStep:
        run.invalid += 1
        step.status, step.error = "invalid", reason
        if step.arguments is None and raw:
            step.arguments = raw
        target = call or Call(step.tool or "", step.arguments or "", call_id or "call_0")
        self._observe(run, target, reason, tool=step.tool or "reply", ids=[], error=True)
        return step

    def _repeated(self, run: _Run, step: AgentStep, call: Call, first: AgentStep) -> AgentStep:
        run.repeats += 1
        ids = ", ".join(first.evidence) or "no result"
        step.status = "repeated"
        step.error = (f"this is the same call, with the same arguments, as step {first.n} ({ids}): it was not run "
                      "again. Use that result, change the arguments, or call final_answer")
        self._observe(run, call, step.error, tool=call.name, ids=[], error=True)
        return step

    def _observe(self, run: _Run, call: Call | None, text: str, *, tool: str, ids: list[str],
                 error: bool = False) -> None:
        last = (run.tracker.steps_left() <= 1 or run.invalid >= self.settings.max_invalid_calls
                or run.repeats >= self.settings.max_repeats)
        framed = frame(text, tool=tool, ids=ids, task=run.task, error=error, last_step=last)
        run.observations.append(len(run.messages))
        run.messages.append(self.protocol.observation(call, framed))

    def _check_counters(self, run: _Run) -> None:
        s = self.settings
        if run.stop is not None:
            return
        if run.invalid >= s.max_invalid_calls:
            run.stop = ("invalid_arguments", (f"{run.invalid} calls had arguments that were not valid (the limit is "
                                             f"{s.max_invalid_calls})"))
        elif run.repeats >= s.max_repeats:
            run.stop = ("loop", (f"the same call with the same arguments was asked for again {run.repeats} time(s): "
                                "stopped as a loop"))

    @staticmethod
    def _steps_detail() -> str:
        return "the step budget ran out"

    # -- the end -------------------------------------------------------------------------------------------

    def _finish(self, run: _Run, reason: str, detail: str, final: Final | None) -> AgentResult:
        tracker = run.tracker
        if reason == "budget:steps":
            detail = (f"the step budget ({tracker.budget.max_steps} model calls) ran out"
                      + ("; the last call could only give the final answer" if final else ""))
        answer, status = "", "stopped"
        cited = resolve("", (), ())
        trusted = Trusted("")
        if final is not None:
            allowed = [*self.settings.fetch_allow_hosts, *self.settings.answer_link_hosts]
            trusted = keep_trusted_links(final.answer, allowed=allowed, task=run.task)
            if trusted.removed:
                log.warning("agent answer: %d link(s) to hosts not allowed were taken out", len(trusted.removed))
            answer = trusted.text
            status = "cannot_answer" if cannot_answer(answer) else "answered"
            cited = resolve(answer, final.sources, run.evidence)
        log.info("agent run ended: %s (%s), %d steps, %d model calls", status, reason, len(run.steps), tracker.steps)
        return AgentResult(
            task=run.task, status=status, answer=answer, stop_reason=reason, stop_detail=detail,
            citations=list(cited.evidence), citations_inferred=cited.inferred, invalid_citations=list(cited.invalid),
            evidence=list(run.evidence), steps=run.steps, usage=tracker.usage_json(), budget=tracker.budget,
            overruns=list(tracker.overruns()), prompt=self.prompt.ref, model=str(getattr(self.backend, "model", "")),
            protocol=self.protocol.name, tools=list(self.tools), tool_errors=run.tool_errors,
            invalid_calls=run.invalid, repeats=run.repeats, withheld=run.withheld, links_removed=trusted.removed,
            system_prompt=run.messages[0].content if run.messages else "",
        )


def _problems(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        parts = [f"{'.'.join(str(p) for p in e['loc']) or '(arguments)'}: {e['msg']}"
                 for e in exc.errors(include_url=False, include_input=False)]
        return "; ".join(parts[:5])
    return f"not a JSON object ({str(exc)[:120]})"


def _schema_hint(args: type[BaseModel]) -> dict[str, Any]:
    from dayshift.agents.protocol import parameters

    return parameters(args)
