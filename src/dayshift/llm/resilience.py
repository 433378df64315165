"""Retry timing and circuit breaking for LLM calls: plain values and one small state machine.

    RetryPolicy     how many retries per model, and the backoff curve
    backoff_s       full jitter: uniform(0, min(max, base * 2**retry))
    retry_wait_s    backoff, or the server's Retry-After (capped), for one failure
    CircuitBreaker  closed -> open after N consecutive failures -> half-open after
                    reset_s (one trial call) -> closed on success, open on failure

`dayshift.llm.client.LLMClient` is the only user; these are separate so the
client reads as the call's story and this file as the arithmetic.

Left out: sharing breaker state between processes (each process learns on its
own), adaptive retry budgets and hedged requests.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from dayshift.errors import ConfigError, LLMError, LLMRateLimitError

BreakerState = Literal["closed", "open", "half-open"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 2  # per model, after the first attempt
    backoff_base_s: float = 0.5
    backoff_max_s: float = 20.0

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ConfigError(f"max_retries must be 0 or more, got {self.max_retries}: fix DAYSHIFT_LLM__MAX_RETRIES")
        if self.backoff_base_s < 0 or self.backoff_max_s < 0:
            raise ConfigError(
                "backoff times must be 0 or more: fix DAYSHIFT_LLM__BACKOFF_BASE_S / DAYSHIFT_LLM__BACKOFF_MAX_S"
            )


def backoff_s(retry: int, policy: RetryPolicy, rng: random.Random) -> float:
    """Full jitter (AWS style): a uniform draw below the capped exponential, so clients spread out.

    retry 0 -> [0, base), 1 -> [0, 2 base), 2 -> [0, 4 base) ... never above backoff_max_s.
    """
    ceiling_s = min(policy.backoff_max_s, policy.backoff_base_s * 2.0**retry)
    return rng.uniform(0.0, ceiling_s)


def retry_wait_s(error: LLMError, retry: int, policy: RetryPolicy, rng: random.Random) -> float:
    """How long to wait before retrying after `error`: Retry-After when the server said, capped."""
    if isinstance(error, LLMRateLimitError) and error.retry_after_s is not None:
        return min(max(0.0, error.retry_after_s), policy.backoff_max_s)
    return backoff_s(retry, policy, rng)


class CircuitBreaker:
    """One model's breaker. Thread-safe: one LLMClient serves many requests at once.

    Only failures that say something about the service's health count (timeouts,
    dropped connections, 5xx, 429, garbled streams); a rejected request (4xx)
    or a cancelled call leaves the count alone. Every `allow()` that returned
    True must be followed by exactly one of `succeeded`, `failed` or `release`.
    """

    def __init__(self, *, failures: int, reset_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        if failures < 1:
            raise ConfigError(
                f"breaker_failures must be at least 1, got {failures}: fix DAYSHIFT_LLM__BREAKER_FAILURES"
            )
        if reset_s <= 0:
            raise ConfigError(f"breaker_reset_s must be positive, got {reset_s}: fix DAYSHIFT_LLM__BREAKER_RESET_S")
        self.failures_to_open = failures
        self.reset_s = reset_s
        self._clock = clock
        self._lock = threading.Lock()
        self._consecutive = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> BreakerState:
        with self._lock:
            if self._opened_at is None:
                return "closed"
            if self._trial_running or self._clock() - self._opened_at >= self.reset_s:
                return "half-open"
            return "open"

    def allow(self) -> bool:
        """May a call go to this model now? In half-open, only the first caller gets the trial."""
        with self._lock:
            if self._opened_at is None:
                return True
            if self._trial_running or self._clock() - self._opened_at < self.reset_s:
                return False
            self._trial_running = True
            return True

    def retry_in_s(self) -> float:
        """Seconds until an open breaker lets a trial call through (0 when it would now)."""
        with self._lock:
            if self._opened_at is None:
                return 0.0
            return max(0.0, self.reset_s - (self._clock() - self._opened_at))

    def succeeded(self) -> None:
        with self._lock:
            self._consecutive, self._opened_at, self._trial_running = 0, None, False

    def failed(self) -> None:
        with self._lock:
            if self._trial_running:  # the trial failed: rest again for reset_s
                self._trial_running, self._opened_at = False, self._clock()
                return
            self._consecutive += 1
            if self._opened_at is None and self._consecutive >= self.failures_to_open:
                self._opened_at = self._clock()

    def release(self) -> None:
        """The call ended without telling us anything about health (cancelled, 4xx)."""
        with self._lock:
            self._trial_running = False
