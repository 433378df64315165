"""LLMClient: retries and backoff, Retry-After, fallback order, the circuit breaker, the total
timeout, cancellation, the streaming rule (partial text kept), PII redaction that fails
closed, and the meter. Backends are scripted fakes on a fake clock, except where a real
HTTP server proves that nothing left the process."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from dayshift.errors import (
    BudgetExceededError,
    LLMCancelledError,
    LLMConnectionError,
    LLMError,
    LLMRateLimitError,
    LLMRequestError,
    LLMServerError,
    LLMTimeoutError,
    LLMUnavailableError,
    RedactionError,
)
from dayshift.http import RetryPolicy, backoff_s, retry_wait_s
from dayshift.llm.base import (
    CancelToken,
    ChatRequest,
    Completion,
    LLMBackend,
    Message,
    StreamEnd,
    StreamEvent,
    TextDelta,
    Timeouts,
    Usage,
)
from dayshift.llm.client import LLMClient
from dayshift.llm.openai import OpenAIBackend
from dayshift.llm.resilience import CircuitBreaker
from dayshift.testing.fault_server import FaultServer

REQUEST = ChatRequest(messages=(Message("user", "Email alice@example.com about the invoice."),), max_tokens=16)


class Clock:
    """A fake monotonic clock whose sleeps only move time forward, and are recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Partial:
    pieces: list[str]
    error: LLMError


@dataclass
class FakeBackend:
    """Plays one outcome per attempt: an error, a list of pieces (an answer), or a Partial."""

    model: str
    outcomes: list[Any]
    clock: Clock | None = None
    took_s: float = 0.0  # fake time each attempt takes
    is_local: bool = True
    context_window: int = 4096
    usage: Usage | None = field(default_factory=lambda: Usage(7, 3))
    calls: int = 0
    seen: list[ChatRequest] = field(default_factory=list)

    def stream(
        self, request: ChatRequest, *, timeouts: Timeouts, cancel: CancelToken | None = None
    ) -> Iterator[StreamEvent]:
        self.calls += 1
        self.seen.append(request)
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if self.clock is not None:
            self.clock.now += self.took_s
        if isinstance(outcome, LLMError):
            raise outcome
        pieces = outcome.pieces if isinstance(outcome, Partial) else outcome
        for piece in pieces:
            if cancel is not None and cancel.cancelled:
                raise LLMCancelledError("cancelled")
            yield TextDelta(piece)
        if isinstance(outcome, Partial):
            raise outcome.error
        yield StreamEnd("stop", self.usage, self.model)

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def client(chain: Sequence[LLMBackend], fake_clock: Clock, **overrides: Any) -> LLMClient:
    clock = fake_clock
    settings: dict[str, Any] = {
        "timeouts": Timeouts(connect_s=1.0, read_s=5.0, total_s=60.0),
        "retry": RetryPolicy(max_retries=2, backoff_base_s=0.5, backoff_max_s=4.0),
        "breaker_failures": 5,
        "breaker_reset_s": 30.0,
        "clock": clock,
        "sleep": clock.sleep,
        "rng": random.Random(0),
    }
    settings.update(overrides)
    return LLMClient(chain, **settings)


def boom(status: int = 500) -> LLMServerError:
    return LLMServerError(f"HTTP {status}", status=status)


# -- backoff arithmetic ----------------------------------------------------------------------


def test_full_jitter_backoff_stays_below_the_capped_exponential_and_spreads() -> None:
    policy, rng = RetryPolicy(backoff_base_s=0.5, backoff_max_s=3.0), random.Random(1)
    for retry, ceiling in enumerate([0.5, 1.0, 2.0, 3.0, 3.0]):
        samples = [backoff_s(retry, policy, rng) for _ in range(2000)]
        assert 0.0 <= min(samples) and max(samples) < ceiling
        assert max(samples) > 0.95 * ceiling and min(samples) < 0.05 * ceiling  # full jitter: the whole range
        assert sum(samples) / len(samples) == pytest.approx(ceiling / 2, rel=0.08)


def test_retry_after_is_used_as_given_but_capped_by_backoff_max() -> None:
    policy, rng = RetryPolicy(backoff_base_s=0.5, backoff_max_s=4.0), random.Random(1)
    assert retry_wait_s(0, policy, rng, retry_after_s=LLMRateLimitError("429", retry_after_s=2.5).retry_after_s) == 2.5
    assert retry_wait_s(0, policy, rng, retry_after_s=90.0) == 4.0
    assert retry_wait_s(0, policy, rng, retry_after_s=None) < 0.5


# -- retries ------------------------------------------------------------------------------------


def test_retryable_errors_are_retried_with_jittered_backoff_then_answer() -> None:
    clock = Clock()
    primary = FakeBackend("primary", [boom(), LLMConnectionError("reset"), ["Hel", "lo"]])
    completion = client([primary], clock).complete(REQUEST)
    assert (completion.text, completion.model, completion.attempts) == ("Hello", "primary", 3)
    assert primary.calls == 3
    assert len(clock.sleeps) == 2 and 0 <= clock.sleeps[0] < 0.5 and 0 <= clock.sleeps[1] < 1.0
    assert completion.metadata["failures"] == ["primary: LLMServerError", "primary: LLMConnectionError"]


def test_retry_after_is_honoured_exactly() -> None:
    clock = Clock()
    primary = FakeBackend("primary", [LLMRateLimitError("429", retry_after_s=3.0), ["ok"]])
    assert client([primary], clock).complete(REQUEST).text == "ok"
    assert clock.sleeps == [3.0]


def test_a_retry_after_longer_than_the_time_left_moves_to_the_fallback_at_once() -> None:
    clock = Clock()
    primary = FakeBackend("primary", [LLMRateLimitError("429", retry_after_s=3.0)])
    fallback = FakeBackend("fallback", [["from fallback"]])
    llm = client([primary, fallback], clock, timeouts=Timeouts(total_s=2.0), retry=RetryPolicy(backoff_max_s=10.0))
    completion = llm.complete(REQUEST)
    assert (completion.model, primary.calls, clock.sleeps) == ("fallback", 1, [])


def test_at_most_max_retries_per_model_then_fallbacks_in_chain_order() -> None:
    clock = Clock()
    first = FakeBackend("first", [boom()])
    second = FakeBackend("second", [LLMTimeoutError("silent")])
    third = FakeBackend("third", [["third answers"]])
    completion = client([first, second, third], clock).complete(REQUEST)
    assert (first.calls, second.calls, third.calls) == (3, 3, 1)
    assert completion.model == "third" and completion.attempts == 7
    assert [f.split(":")[0] for f in completion.metadata["failures"]] == ["first"] * 3 + ["second"] * 3


def test_a_rejected_request_is_not_retried_and_goes_to_the_next_model() -> None:
    clock = Clock()
    primary = FakeBackend("primary", [LLMRequestError("HTTP 401: check DAYSHIFT_LLM__API_KEY")])
    fallback = FakeBackend("fallback", [["fine"]])
    assert client([primary, fallback], clock).complete(REQUEST).model == "fallback"
    assert primary.calls == 1 and clock.sleeps == []


def test_when_every_model_fails_the_error_lists_each_failure_and_a_fix() -> None:
    clock = Clock()
    first = FakeBackend("first", [LLMRequestError("bad key")])
    second = FakeBackend("second", [boom(503)])
    with pytest.raises(LLMUnavailableError) as caught:
        client([first, second], clock, retry=RetryPolicy(max_retries=1)).complete(REQUEST)
    failures = caught.value.failures
    assert [(model, type(err)) for model, err in failures] == [
        ("first", LLMRequestError),
        ("second", LLMServerError),
        ("second", LLMServerError),
    ]
    message = str(caught.value)
    assert "first: LLMRequestError" in message and "second: LLMServerError" in message
    assert "DAYSHIFT_LLM__FALLBACKS" in message
    assert isinstance(caught.value.__cause__, LLMServerError)


# -- circuit breaker ----------------------------------------------------------------------------


def test_breaker_opens_after_consecutive_failures_skips_the_model_then_half_opens_and_closes() -> None:
    clock = Clock()
    primary = FakeBackend("primary", [boom(), boom(), ["primary is back"]])
    fallback = FakeBackend("fallback", [["fallback"]])
    llm = client([primary, fallback], clock, retry=RetryPolicy(max_retries=0), breaker_failures=2, breaker_reset_s=30.0)

    assert llm.complete(REQUEST).model == "fallback"  # failure 1
    assert llm.complete(REQUEST).model == "fallback"  # failure 2: the breaker opens
    assert llm.breakers[0].state == "open"
    skipped = llm.complete(REQUEST)
    assert skipped.model == "fallback" and primary.calls == 2  # not even tried
    assert skipped.metadata["failures"] == ["primary: CircuitOpenError"]

    clock.now += 30.0  # rested: one trial call is let through
    assert llm.breakers[0].state == "half-open"
    assert llm.complete(REQUEST).model == "primary" and primary.calls == 3
    assert llm.breakers[0].state == "closed"


def test_a_failed_trial_call_opens_the_breaker_again_for_a_full_rest() -> None:
    clock = Clock()
    primary = FakeBackend("primary", [boom()])
    fallback = FakeBackend("fallback", [["fallback"]])
    llm = client([primary, fallback], clock, retry=RetryPolicy(max_retries=2), breaker_failures=2, breaker_reset_s=10.0)
    llm.complete(REQUEST)  # two failures open it; the third retry finds it open
    assert primary.calls == 2 and llm.breakers[0].state == "open"
    clock.now += 10.0
    llm.complete(REQUEST)  # the trial fails: open again, the retries of this call skip it
    assert primary.calls == 3 and llm.breakers[0].state == "open"
    clock.now += 9.0
    llm.complete(REQUEST)
    assert primary.calls == 3


def test_half_open_lets_exactly_one_trial_through_and_release_frees_it() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=1, reset_s=5.0, clock=clock)
    breaker.failed()
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 5.0
    assert breaker.allow() and not breaker.allow()  # a second caller waits for the trial
    breaker.release()  # the trial told us nothing (cancelled)
    assert breaker.allow()
    breaker.succeeded()
    assert breaker.state == "closed" and breaker.allow()


def test_rejected_requests_do_not_open_the_breaker() -> None:
    clock = Clock()
    primary = FakeBackend("primary", [LLMRequestError("400 prompt too long")])
    fallback = FakeBackend("fallback", [["ok"]])
    llm = client([primary, fallback], clock, breaker_failures=1)
    for _ in range(3):
        llm.complete(REQUEST)
    assert primary.calls == 3 and llm.breakers[0].state == "closed"


# -- the total timeout --------------------------------------------------------------------------


def test_the_total_timeout_covers_every_attempt_and_raises_llm_timeout_error() -> None:
    clock = Clock()
    primary = FakeBackend("primary", [boom()], clock=clock, took_s=4.0)
    fallback = FakeBackend("fallback", [["never"]], clock=clock, took_s=4.0)
    llm = client([primary, fallback], clock, timeouts=Timeouts(total_s=10.0), retry=RetryPolicy(backoff_base_s=0.1))
    with pytest.raises(LLMTimeoutError, match="total 10 s") as caught:
        llm.complete(REQUEST)
    assert primary.calls == 3 and fallback.calls == 0
    assert "DAYSHIFT_LLM__TOTAL_TIMEOUT_S" in str(caught.value)


def test_each_attempt_gets_read_and_connect_timeouts_capped_by_the_time_left() -> None:
    seen: list[Timeouts] = []

    class Recording(FakeBackend):
        def stream(self, request: ChatRequest, *, timeouts: Timeouts, cancel: CancelToken | None = None):  # type: ignore[no-untyped-def]
            seen.append(timeouts)
            return super().stream(request, timeouts=timeouts, cancel=cancel)

    clock = Clock()
    backend = Recording("primary", [boom(), ["ok"]], clock=clock, took_s=4.0)
    client([backend], clock, timeouts=Timeouts(connect_s=5.0, read_s=30.0, total_s=10.0)).complete(REQUEST)
    assert (seen[0].connect_s, seen[0].read_s, seen[0].total_s) == (5.0, 10.0, 10.0)
    left_s = 10.0 - 4.0 - clock.sleeps[0]
    assert seen[1].read_s == pytest.approx(left_s) and seen[1].total_s == pytest.approx(left_s)
    assert seen[1].connect_s == 5.0


# -- cancellation -------------------------------------------------------------------------------


def test_cancelling_during_a_backoff_wait_stops_at_once() -> None:
    primary = FakeBackend("primary", [LLMRateLimitError("429", retry_after_s=5.0), ["late"]])
    llm = client([primary], Clock(), clock=time.monotonic, sleep=None, retry=RetryPolicy(backoff_max_s=10.0))
    cancel = CancelToken()
    threading.Timer(0.1, cancel.cancel).start()
    started = time.monotonic()
    with pytest.raises(LLMCancelledError, match="retry wait"):
        llm.complete(REQUEST, cancel=cancel)
    assert time.monotonic() - started < 1.0 and primary.calls == 1


def test_cancelling_mid_stream_raises_and_keeps_the_text_already_shown() -> None:
    primary = FakeBackend("primary", [["one ", "two ", "three"]])
    fallback = FakeBackend("fallback", [["never"]])
    cancel = CancelToken()
    call = client([primary, fallback], Clock()).stream(REQUEST, cancel=cancel)
    shown = []
    with pytest.raises(LLMCancelledError):
        for piece in call:
            shown.append(piece)
            cancel.cancel()
    assert shown == ["one "] and call.partial_text == "one " and call.result is None
    assert fallback.calls == 0


# -- the streaming rule ---------------------------------------------------------------------------


def test_a_failure_after_text_was_shown_is_raised_with_the_partial_text_and_never_retried() -> None:
    clock = Clock()
    primary = FakeBackend("primary", [Partial(["Hello ", "wor"], LLMConnectionError("dropped")), ["Hello world"]])
    fallback = FakeBackend("fallback", [["other"]])
    call = client([primary, fallback], clock).stream(REQUEST)
    with pytest.raises(LLMConnectionError) as caught:
        list(call)
    assert call.partial_text == "Hello wor" and caught.value.partial_text == "Hello wor"  # type: ignore[attr-defined]
    assert (primary.calls, fallback.calls, clock.sleeps) == (1, 0, [])


def test_a_failure_before_any_text_is_retried_transparently() -> None:
    primary = FakeBackend("primary", [Partial([], LLMConnectionError("dropped")), ["whole"]])
    call = client([primary], Clock()).stream(REQUEST)
    assert list(call) == ["whole"] and call.result is not None and call.result.attempts == 2


def test_an_llm_call_streams_once() -> None:
    call = client([FakeBackend("primary", [["x"]])], Clock()).stream(REQUEST)
    assert list(call) == ["x"]
    with pytest.raises(RuntimeError, match="streams once"):
        list(call)


def test_abandoning_a_stream_releases_a_half_open_trial() -> None:
    clock = Clock()
    primary = FakeBackend("primary", [["a ", "b ", "c"]])
    llm = client([primary], clock, breaker_failures=1, breaker_reset_s=5.0)
    llm.breakers[0].failed()
    clock.now += 5.0
    for _piece in llm.stream(REQUEST):
        break  # the caller walks away during the trial call
    assert llm.breakers[0].allow()  # the trial slot is free again


# -- PII redaction ---------------------------------------------------------------------------------


class Restorer:
    """Puts 'alice@example.com' back for '<EMAIL_1>', holding back a '<' that may start one."""

    def __init__(self) -> None:
        self.buffer = ""

    def feed(self, text: str) -> str:
        self.buffer += text.replace("<EMAIL_1>", "alice@example.com")
        cut = self.buffer.rfind("<")
        if cut == -1 or ">" in self.buffer[cut:]:
            shown, self.buffer = self.buffer.replace("<EMAIL_1>", "alice@example.com"), ""
            return shown
        shown, self.buffer = self.buffer[:cut], self.buffer[cut:]
        return shown

    def flush(self) -> str:
        shown, self.buffer = self.buffer.replace("<EMAIL_1>", "alice@example.com"), ""
        return shown


class EmailRedactor:
    def __init__(self) -> None:
        self.calls = 0

    def redact(self, messages: tuple[Message, ...]) -> tuple[tuple[Message, ...], int, Restorer]:
        self.calls += 1
        redacted = tuple(Message(m.role, m.content.replace("alice@example.com", "<EMAIL_1>")) for m in messages)
        return redacted, 1, Restorer()


class BrokenRedactor:
    def redact(self, messages: tuple[Message, ...]) -> Any:
        raise RuntimeError("spaCy model missing")


@pytest.mark.parametrize("redactor", [BrokenRedactor(), None], ids=["redactor-raises", "no-redactor"])
def test_redaction_fails_closed_and_no_request_reaches_the_server(redactor: Any) -> None:
    with FaultServer() as server:
        remote = OpenAIBackend(model="remote", base_url=server.base_url)
        local = FakeBackend("local", [["local answer"]])
        llm = client([remote, local], Clock(), redactor=redactor)
        with pytest.raises(RedactionError, match="not sent"):
            llm.complete(REQUEST)
        assert server.requests == 0 and local.calls == 0
        remote.close()


def test_remote_calls_carry_placeholders_and_the_answer_is_restored_piece_by_piece() -> None:
    with FaultServer(text="I wrote to <EMAIL_1> today.") as server:
        remote = OpenAIBackend(model="remote", base_url=server.base_url)
        redactor = EmailRedactor()
        call = client([remote], Clock(), redactor=redactor).stream(REQUEST)
        pieces = list(call)
        assert "".join(pieces) == "I wrote to alice@example.com today."
        assert "<EMAIL_1>" not in "".join(pieces)
        assert call.result is not None and call.result.redactions == 1
        sent = server.bodies[0]["messages"][0]["content"]
        assert "alice@example.com" not in sent and "<EMAIL_1>" in sent
        remote.close()


def test_auto_redacts_only_non_local_models_and_never_and_always_do_what_they_say() -> None:
    local = FakeBackend("local", [["fine"]], is_local=True)
    redactor = EmailRedactor()
    client([local], Clock(), redactor=redactor, redact="auto").complete(REQUEST)
    assert redactor.calls == 0 and "alice@example.com" in local.seen[-1].messages[0].content
    client([local], Clock(), redactor=redactor, redact="always").complete(REQUEST)
    assert redactor.calls == 1 and "<EMAIL_1>" in local.seen[-1].messages[0].content
    remote = FakeBackend("remote", [["fine"]], is_local=False)
    client([remote], Clock(), redactor=None, redact="never").complete(REQUEST)
    assert "alice@example.com" in remote.seen[-1].messages[0].content


# -- accounting ----------------------------------------------------------------------------------------


class FakeMeter:
    def __init__(self, *, budget_left: bool = True) -> None:
        self.budget_left = budget_left
        self.checks: list[tuple[str, str | None]] = []
        self.records: list[dict[str, Any]] = []

    def check(self, backend: LLMBackend, request: ChatRequest, *, tenant: str | None) -> None:
        self.checks.append((backend.model, tenant))
        if not self.budget_left:
            raise BudgetExceededError(
                "tenant acme is over its daily budget: raise DAYSHIFT_LLM__TENANT_DAILY_BUDGET_USD"
            )

    def record(
        self, backend: LLMBackend, request: ChatRequest, *, output_text: str, usage: Usage | None, tenant: str | None
    ) -> tuple[Usage, float]:
        self.records.append({"model": backend.model, "output_text": output_text, "usage": usage, "tenant": tenant})
        return Usage(11, 5), 0.0042


def test_meter_checks_before_each_models_first_attempt_and_records_the_answer() -> None:
    clock, meter = Clock(), FakeMeter()
    primary = FakeBackend("primary", [boom()])
    fallback = FakeBackend("fallback", [["paid ", "answer"]], usage=None)
    completion = client([primary, fallback], clock, meter=meter).complete(REQUEST, tenant="acme")
    assert meter.checks == [("primary", "acme"), ("fallback", "acme")]  # once per model, not per retry
    assert meter.records == [{"model": "fallback", "output_text": "paid answer", "usage": None, "tenant": "acme"}]
    assert (completion.usage, completion.cost_usd) == (Usage(11, 5), 0.0042)


def test_an_exceeded_budget_ends_the_call_without_any_model_call_or_fallback() -> None:
    primary = FakeBackend("primary", [["no"]])
    fallback = FakeBackend("fallback", [["no"]])
    llm = client([primary, fallback], Clock(), meter=FakeMeter(budget_left=False))
    with pytest.raises(BudgetExceededError, match="DAYSHIFT_LLM__TENANT_DAILY_BUDGET_USD"):
        llm.complete(REQUEST, tenant="acme")
    assert primary.calls == fallback.calls == 0


def test_without_a_meter_usage_comes_from_the_backend_or_its_tokenizer() -> None:
    reported = client([FakeBackend("m", [["a b c"]], usage=Usage(9, 3))], Clock()).complete(REQUEST)
    assert (reported.usage, reported.cost_usd) == (Usage(9, 3), 0.0)
    counted = client([FakeBackend("m", [["a b c"]], usage=None)], Clock()).complete(REQUEST)
    assert counted.usage == Usage(len(REQUEST.messages[0].content.split()), 3, source="tokenizer")


def test_completion_is_what_the_caller_saw() -> None:
    call = client([FakeBackend("m", [["x", "y"]])], Clock()).stream(REQUEST)
    assert "".join(call) == "xy"
    assert isinstance(call.result, Completion) and call.result.text == call.partial_text == "xy"
    assert call.result.finish_reason == "stop"


# -- open_llm: the client from settings ------------------------------------------------------------------


def test_open_llm_passes_each_models_settings_to_its_plugin(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from dayshift import assemble, plugins
    from dayshift.llm.accounting import UsageMeter
    from dayshift.settings import load_settings

    made: list[tuple[str, dict[str, Any]]] = []

    def load(group: str, name: str) -> Any:
        assert group == "llms"

        def factory(**kwargs: Any) -> FakeBackend:
            made.append((name, kwargs))
            return FakeBackend(kwargs.get("model", name), [["ok"]], is_local=name == "local")

        return factory

    monkeypatch.setattr(plugins, "load", load)
    settings = load_settings(
        data_dir=tmp_path,
        llm={
            "backend": "local",
            "threads": 3,
            "n_ctx": 1024,
            "max_retries": 4,
            "total_timeout_s": 9.0,
            "fallbacks": [{"backend": "openai", "model": "gpt-x", "base_url": "http://h/v1", "api_key": "k"}],
        },
    )
    llm = assemble.open_llm(settings)
    assert made == [
        ("local", {"threads": 3, "batch_threads": 2, "n_ctx": 1024, "models_dir": settings.llm.models_dir}),
        ("openai", {"model": "gpt-x", "base_url": "http://h/v1", "api_key": "k"}),
    ]
    assert [b.model for b in llm.chain] == ["local", "gpt-x"]
    assert (llm.retry.max_retries, llm.timeouts.total_s, llm.redact) == (4, 9.0, "auto")
    assert isinstance(llm.meter, UsageMeter)
    assert type(llm.redactor).__name__ == "PresidioRedactor"  # the openai fallback is not local

    made.clear()
    local_only = assemble.open_llm(load_settings(data_dir=tmp_path))
    assert local_only.redactor is None  # nothing leaves the machine: Presidio is never loaded
    never = load_settings(
        data_dir=tmp_path, llm={"backend": "openai", "model": "m", "base_url": "http://h/v1", "redact_pii": "never"}
    )
    assert assemble.open_llm(never).redactor is None


def test_open_llm_answers_through_a_real_server(tmp_path: Any) -> None:
    from dayshift import assemble
    from dayshift.settings import load_settings

    with FaultServer() as server:
        settings = load_settings(
            data_dir=tmp_path,
            llm={"backend": "openai", "model": "gpt-x", "base_url": server.base_url, "is_local": True},
        )
        completion = assemble.open_llm(settings).complete(REQUEST, tenant="acme")
    assert completion.model == "gpt-x" and completion.usage.source == "backend" and completion.text
