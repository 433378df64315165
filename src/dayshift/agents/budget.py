"""Budgets per task -- steps, wall time, tokens, cost -- checked before every model call, never after.

    tracker = BudgetTracker(Budget(max_steps=8, max_seconds=120, max_tokens=30_000, max_cost_usd=0.10))
    max_tokens = tracker.before_call(prompt_tokens=1200, max_tokens=256, cost_usd=estimate)  # or BudgetStop
    ... the call, cancelled at tracker.deadline ...
    tracker.after_call(usage, cost_usd, seconds, prompt_tokens)

Before a call the tracker asks whether the call could cross a budget at its worst: the prompt and
`max_tokens` of output against the tokens left; its estimated cost against the money left; and
its estimated duration against the time left. When it could, the call's `max_tokens` is lowered
until it fits, or, when too little would be left, no call is made and the run stops with
BudgetStop: the budget's name and a sentence for the user. The duration of a call is estimated
from the calls already made (seconds per output token, prompt tokens counted at PREFILL_SHARE of an
output token -- reading is that much faster than writing), starting from a cautious guess. A call
also carries a cancel token that fires at the deadline, so a call that runs longer than estimated
is stopped rather than allowed to overrun.

`overruns()` is what the benchmark counts: a budget that ended the run above its limit.

Left out: budgets shared by several runs (a tenant's daily money is the LLM meter's).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from dayshift.errors import DayshiftError
from dayshift.llm.base import CancelToken, Usage

BudgetName = Literal["steps", "seconds", "tokens", "cost"]
PREFILL_SHARE = 0.15  # a prompt token costs this share of an output token's time
FIRST_CALL_S_PER_TOKEN = 0.25  # before any call is measured: slow, so the first call is not over-promised
MIN_OUTPUT_TOKENS = 24  # a call that may write fewer than this cannot finish a tool call or an answer
TOKEN_MARGIN = 1.1  # prompt counts are estimates (template framing, tool specs): leave room
SAFETY_S = 1.0  # stop this long before the deadline


class BudgetStop(DayshiftError):
    """A budget would be crossed by the next call, so it is not made."""

    def __init__(self, budget: BudgetName, message: str) -> None:
        super().__init__(message)
        self.budget = budget


@dataclass(frozen=True, slots=True)
class Budget:
    max_steps: int = 8
    max_seconds: float = 180.0
    max_tokens: int = 30_000
    max_cost_usd: float = 0.10

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class BudgetTracker:
    def __init__(self, budget: Budget, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget, self._clock = budget, clock
        self.started = clock()
        self.deadline = self.started + budget.max_seconds
        self.steps = self.input_tokens = self.output_tokens = 0
        self.cost_usd = 0.0
        self._s_per_token: float | None = None  # measured: seconds per output-token equivalent
        self._last_context = 0  # tokens the model already read (a local model keeps them cached)

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def elapsed_s(self) -> float:
        return self._clock() - self.started

    def time_left_s(self) -> float:
        return self.deadline - self._clock()

    def steps_left(self) -> int:
        return self.budget.max_steps - self.steps

    def before_call(self, *, prompt_tokens: int, max_tokens: int, cost_usd: Callable[[int], float]) -> int:
        """The max_tokens this call may have (<= `max_tokens`); BudgetStop when no useful call fits.

        `cost_usd(n)`: what the call costs at most with n output tokens."""
        b = self.budget
        if self.steps >= b.max_steps:
            raise BudgetStop("steps", f"the step budget ({b.max_steps} model calls) is spent")
        prompt = int(prompt_tokens * TOKEN_MARGIN) + 16
        allowed = min(max_tokens, b.max_tokens - self.tokens - prompt)
        if allowed < MIN_OUTPUT_TOKENS:
            raise BudgetStop("tokens", f"the token budget ({b.max_tokens:,}) is nearly spent: {self.tokens:,} used, "
                                       f"and the next call alone reads about {prompt:,}")
        while allowed >= MIN_OUTPUT_TOKENS and self.cost_usd + cost_usd(allowed) > b.max_cost_usd:
            allowed //= 2
        if allowed < MIN_OUTPUT_TOKENS:
            raise BudgetStop("cost", f"the cost budget (${b.max_cost_usd:g}) is nearly spent: ${self.cost_usd:.4f} "
                                     "used, and the next call could cost more than is left")
        left_s = self.time_left_s() - SAFETY_S
        fits = self._tokens_in(left_s, prompt)
        if fits < MIN_OUTPUT_TOKENS:
            raise BudgetStop("seconds", f"the time budget ({b.max_seconds:g} s) is nearly spent: "
                                        f"{self.elapsed_s():.1f} s used, and the next call would not finish in time")
        return min(allowed, fits)

    def _tokens_in(self, seconds: float, prompt_tokens: int) -> int:
        """How many output tokens a call reading `prompt_tokens` can write in `seconds`, as measured so far."""
        if seconds <= 0:
            return 0
        rate = self._s_per_token or FIRST_CALL_S_PER_TOKEN
        new_prompt = max(prompt_tokens - self._last_context, 0)
        return int(seconds / rate - new_prompt * PREFILL_SHARE)

    def after_call(self, *, usage: Usage, cost_usd: float, seconds: float) -> None:
        self.steps += 1
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.cost_usd += cost_usd
        new_prompt = max(usage.input_tokens - self._last_context, 0)
        work = usage.output_tokens + new_prompt * PREFILL_SHARE
        if work > 0:
            rate = seconds / work
            # Cautious: the slowest rate seen lately, so one fast call does not promise too much.
            self._s_per_token = rate if self._s_per_token is None else max(rate, 0.7 * self._s_per_token)
        self._last_context = usage.input_tokens + usage.output_tokens

    def cancel_token(self, parent: CancelToken | None = None) -> CancelToken:
        """A token that reads as cancelled once the deadline (less the safety margin) passes, or `parent` is."""
        return _DeadlineToken(self.deadline - SAFETY_S / 2, parent, self._clock)

    def past_deadline(self) -> bool:
        return self._clock() >= self.deadline - SAFETY_S / 2

    def overruns(self) -> list[BudgetName]:
        b, over = self.budget, []
        if self.steps > b.max_steps:
            over.append("steps")
        if self.elapsed_s() > b.max_seconds:
            over.append("seconds")
        if self.tokens > b.max_tokens:
            over.append("tokens")
        if self.cost_usd > b.max_cost_usd + 1e-12:
            over.append("cost")
        return over  # type: ignore[return-value]

    def usage_json(self) -> dict[str, Any]:
        return {"steps": self.steps, "seconds": round(self.elapsed_s(), 3), "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens, "tokens": self.tokens, "cost_usd": round(self.cost_usd, 8)}


class _DeadlineToken(CancelToken):
    def __init__(self, deadline: float, parent: CancelToken | None, clock: Callable[[], float]) -> None:
        super().__init__()
        self._deadline, self._parent, self._clock = deadline, parent, clock

    @property
    def cancelled(self) -> bool:
        if self._parent is not None and self._parent.cancelled:
            return True
        return super().cancelled or self._clock() >= self._deadline

    def wait(self, seconds: float) -> bool:
        super().wait(max(0.0, min(seconds, self._deadline - self._clock())))
        return self.cancelled

    @property
    def timed_out(self) -> bool:
        return self._clock() >= self._deadline
