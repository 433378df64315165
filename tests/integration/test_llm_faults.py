"""Every fault a real OpenAI-compatible server can throw, through OpenAIBackend and LLMClient.

The servers are real (FaultServer: sockets, HTTP/1.1, chunked SSE) and so are the clocks;
timeouts are small (read 0.5 s) so the whole file runs in seconds. Each test says what
the caller sees and that nothing is lost: the request is answered (after a retry, or by the
fallback), or the error carries the text already shown. Lower bounds on the time taken are
behaviour (it waited the timeout, the Retry-After); how long beyond that is speed, measured
by benchmarks/faults.py, never asserted here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from email.utils import formatdate

import pytest

from dayshift.errors import (
    LLMCancelledError,
    LLMConnectionError,
    LLMProtocolError,
    LLMRateLimitError,
    LLMRequestError,
    LLMServerError,
    LLMTimeoutError,
    LLMUnavailableError,
)
from dayshift.http import RetryPolicy
from dayshift.llm.base import CancelToken, ChatRequest, Message, Timeouts
from dayshift.llm.client import LLMClient
from dayshift.llm.openai import OpenAIBackend
from dayshift.testing.fault_server import CANNED_ANSWER, Behaviour, FaultServer

READ_S = 0.5
REQUEST = ChatRequest(messages=(Message("user", "What is the answer?"),), max_tokens=64)
FALLBACK_TEXT = "The fallback answers."


@pytest.fixture
def primary() -> Iterator[FaultServer]:
    with FaultServer(model="primary") as server:
        yield server


@pytest.fixture
def fallback() -> Iterator[FaultServer]:
    with FaultServer(model="fallback", text=FALLBACK_TEXT) as server:
        yield server


def backend(server: FaultServer, name: str) -> OpenAIBackend:
    return OpenAIBackend(model=name, base_url=server.base_url, is_local=True)


def llm(*servers: FaultServer, total_s: float = 10.0, max_retries: int = 2) -> LLMClient:
    names = ["primary", "fallback", "third"]
    return LLMClient(
        [backend(server, names[i]) for i, server in enumerate(servers)],
        timeouts=Timeouts(connect_s=1.0, read_s=READ_S, total_s=total_s),
        retry=RetryPolicy(max_retries=max_retries, backoff_base_s=0.05, backoff_max_s=2.0),
        breaker_failures=10,
        breaker_reset_s=30.0,
    )


def timed(client: LLMClient, **kwargs: object):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    call = client.stream(REQUEST, **kwargs)  # type: ignore[arg-type]
    error: Exception | None = None
    try:
        for _ in call:
            pass
    except Exception as exc:  # noqa: BLE001 - the test inspects it
        error = exc
    return call, error, time.monotonic() - started


# -- hang ------------------------------------------------------------------------------------


def test_hang_is_a_timeout_after_the_read_timeout_and_the_fallback_answers(
    primary: FaultServer, fallback: FaultServer
) -> None:
    primary.script([], then="hang")
    call, error, elapsed_s = timed(llm(primary, fallback, max_retries=0))
    assert error is None and call.result is not None
    assert call.result.model == "fallback" and call.result.text == FALLBACK_TEXT
    assert [type(e) for _, e in call.failures] == [LLMTimeoutError]
    assert elapsed_s >= READ_S  # gave the server its whole read timeout (how long after: benchmarks/faults.py)


def test_hang_once_then_the_retry_answers(primary: FaultServer) -> None:
    primary.script(["hang"])
    call, error, elapsed_s = timed(llm(primary))
    assert error is None and call.result is not None and call.result.text == CANNED_ANSWER
    assert call.result.attempts == 2 and primary.requests == 2
    assert elapsed_s >= READ_S


def test_a_server_that_always_hangs_runs_out_of_the_total_time(primary: FaultServer) -> None:
    primary.script([], then="hang")
    _, error, elapsed_s = timed(llm(primary, total_s=1.2, max_retries=10))
    assert isinstance(error, LLMTimeoutError) and "total 1.2 s" in str(error)
    assert elapsed_s >= 1.2 and primary.requests >= 2


# -- drop ------------------------------------------------------------------------------------


def test_drop_before_any_text_is_retried(primary: FaultServer) -> None:
    primary.script([Behaviour("drop", pieces=0)])
    call, error, _ = timed(llm(primary))
    assert error is None and call.result is not None and call.result.text == CANNED_ANSWER
    assert [type(e) for _, e in call.failures] == [LLMConnectionError]


def test_drop_after_text_raises_with_the_text_shown_and_never_splices_a_retry(
    primary: FaultServer, fallback: FaultServer
) -> None:
    primary.script(["drop"])
    call, error, elapsed_s = timed(llm(primary, fallback))
    assert isinstance(error, LLMConnectionError) and "broke mid-response" in str(error)
    assert call.partial_text == "The answer" == error.partial_text  # type: ignore[attr-defined]
    assert primary.requests == 1 and fallback.requests == 0


# -- status codes ------------------------------------------------------------------------------


def test_500_then_ok_succeeds_after_a_retry(primary: FaultServer) -> None:
    primary.script(["500"])
    call, error, _ = timed(llm(primary))
    assert error is None and call.result is not None
    assert (call.result.text, call.result.attempts, primary.requests) == (CANNED_ANSWER, 2, 2)
    assert [type(e) for _, e in call.failures] == [LLMServerError]
    assert call.result.usage.source == "backend" and call.result.usage.output_tokens == 18


def test_429_retry_after_is_honoured(primary: FaultServer) -> None:
    primary.script([Behaviour("429", retry_after="1")])
    call, error, elapsed_s = timed(llm(primary))
    assert error is None and call.result is not None and call.result.attempts == 2
    assert elapsed_s >= 1.0  # waited what the server asked, not the 50 ms backoff
    ((_, failure),) = call.failures
    assert isinstance(failure, LLMRateLimitError) and failure.retry_after_s == 1.0


def test_429_retry_after_as_an_http_date_is_parsed(primary: FaultServer) -> None:
    primary.script([Behaviour("429", retry_after=formatdate(time.time() + 2, usegmt=True))])
    with pytest.raises(LLMRateLimitError) as caught:
        list(backend(primary, "primary").stream(REQUEST, timeouts=Timeouts(read_s=READ_S)))
    assert caught.value.retry_after_s is not None and 0.5 < caught.value.retry_after_s <= 2.0


def test_401_is_not_retried_and_names_the_setting_to_fix(primary: FaultServer, fallback: FaultServer) -> None:
    primary.script([], then="401")
    _, error, _ = timed(llm(primary))
    assert isinstance(error, LLMUnavailableError) and primary.requests == 1
    ((model, failure),) = error.failures
    assert model == "primary" and isinstance(failure, LLMRequestError)
    assert "DAYSHIFT_LLM__API_KEY" in str(error)
    call, error, _ = timed(llm(primary, fallback))  # with a fallback, the caller gets an answer
    assert error is None and call.result is not None and call.result.model == "fallback"
    assert primary.requests == 2


# -- broken streams ---------------------------------------------------------------------------------


def test_truncated_stream_is_a_protocol_error_that_keeps_the_partial_text(primary: FaultServer) -> None:
    primary.script([Behaviour("truncated", pieces=3)])
    call, error, _ = timed(llm(primary))
    assert isinstance(error, LLMProtocolError) and "without [DONE]" in str(error)
    assert call.partial_text == "The answer is" and primary.requests == 1


def test_truncated_before_any_text_is_retried(primary: FaultServer) -> None:
    primary.script([Behaviour("truncated", pieces=0)])
    call, error, _ = timed(llm(primary))
    assert error is None and call.result is not None and call.result.attempts == 2


def test_malformed_json_line_is_a_protocol_error(primary: FaultServer) -> None:
    primary.script(["malformed"])
    call, error, _ = timed(llm(primary))
    assert isinstance(error, LLMProtocolError) and "not JSON" in str(error)
    assert call.partial_text == "The " and primary.requests == 1


# -- slow tokens ------------------------------------------------------------------------------------------


def test_slow_tokens_within_the_read_timeout_are_fine(primary: FaultServer) -> None:
    primary.script([Behaviour("slow", delay_s=0.05)])
    call, error, elapsed_s = timed(llm(primary))
    assert error is None and call.result is not None and call.result.text == CANNED_ANSWER
    assert elapsed_s >= 18 * 0.05 and call.result.attempts == 1


def test_slow_tokens_past_the_total_time_raise_with_the_text_so_far(primary: FaultServer) -> None:
    primary.script([Behaviour("slow", delay_s=0.1)])
    call, error, elapsed_s = timed(llm(primary, total_s=0.75))
    assert isinstance(error, LLMTimeoutError)
    assert call.partial_text and CANNED_ANSWER.startswith(call.partial_text)
    assert elapsed_s >= 0.7


def test_cancelling_a_slow_stream_stops_between_tokens(primary: FaultServer) -> None:
    primary.script([Behaviour("slow", delay_s=0.1)])
    cancel = CancelToken()
    client = llm(primary)
    started = time.perf_counter()  # from the timer's start, not the call's: setup may take a while under load
    threading.Timer(0.35, cancel.cancel).start()
    call, error, _ = timed(client, cancel=cancel)
    since_timer_s = time.perf_counter() - started
    assert isinstance(error, LLMCancelledError)
    assert since_timer_s >= 0.35 and CANNED_ANSWER.startswith(call.partial_text) and call.partial_text
    assert call.partial_text != CANNED_ANSWER  # stopped between tokens, before the answer ended (speed: faults.py)
