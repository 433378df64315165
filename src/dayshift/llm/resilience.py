"""The circuit breaker for LLM calls: one small state machine per model of the chain.

    CircuitBreaker  closed -> open after N consecutive failures -> half-open after
                    reset_s (one trial call) -> closed on success, open on failure

It is streaming-aware through its caller: `dayshift.llm.client.LLMClient` books a
failure only for errors that say something about the server's health, and never
for a stream the caller stopped reading. How long to wait between retries, and
which statuses are retried, is the one HTTP policy of `dayshift.http`.

Left out: sharing breaker state between processes (each process learns on its
own), adaptive retry budgets and hedged requests.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

from dayshift.errors import ConfigError

BreakerState = Literal["closed", "open", "half-open"]


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
