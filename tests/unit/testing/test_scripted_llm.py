"""What only ScriptedBackend has: its queue, request log and scripted failures.

The LLM contract it shares with real backends runs in tests/contract/test_scripted_backend.py.
"""

from __future__ import annotations

import threading

import pytest

from dayshift.errors import LLMCancelledError, LLMProtocolError, LLMRequestError, LLMServerError, LLMTimeoutError
from dayshift.llm.base import CancelToken, ChatRequest, Message, StreamEnd, StreamEvent, TextDelta, Timeouts, Usage
from dayshift.testing.scripted_llm import FailMidStream, ScriptedBackend


def run(backend: ScriptedBackend, request: ChatRequest, *, cancel: CancelToken | None = None) -> list[StreamEvent]:
    return list(backend.stream(request, timeouts=Timeouts(), cancel=cancel))


def ask(text: str = "hi", **fields: object) -> ChatRequest:
    return ChatRequest(messages=(Message("user", text),), **fields)  # type: ignore[arg-type]


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def test_replies_in_order_and_records_requests() -> None:
    backend = ScriptedBackend(["one two", "three"])
    first = run(backend, ask("a b c"))
    assert first == [TextDelta("one"), TextDelta(" two"), StreamEnd("stop", Usage(3, 2), model="scripted")]
    assert text_of(run(backend, ask("d"))) == "three"
    assert backend.sent_texts == ["a b c", "d"]
    with pytest.raises(RuntimeError, match="no reply left: queue more with .add"):
        run(backend, ask())
    backend.add("four")
    assert text_of(run(backend, ask())) == "four"


def test_max_tokens_and_context_window_cut_with_length() -> None:
    backend = ScriptedBackend(default_reply="a b c d e f", context_window=5)
    events = run(backend, ask("x y", max_tokens=4))  # 5 - 2 prompt tokens leave 3
    assert text_of(events) == "a b c" and events[-1] == StreamEnd("length", Usage(2, 3), model="scripted")
    with pytest.raises(LLMRequestError, match="fills the context window of 5"):
        run(backend, ask("1 2 3 4 5"))
    with pytest.raises(LLMRequestError, match="max_tokens must be 1 or more"):
        run(backend, ask(max_tokens=0))


def test_stop_string_wins_over_a_later_limit() -> None:
    backend = ScriptedBackend(default_reply="alpha beta\n\nQuestion: gamma")
    events = run(backend, ask(stop=("\n\nQuestion:",), max_tokens=10))
    assert text_of(events) == "alpha beta"
    assert events[-1] == StreamEnd("stop", Usage(1, 2), model="scripted")


def test_errors_echo_pieces_and_missing_usage() -> None:
    backend = ScriptedBackend(
        [
            LLMServerError("503 from upstream", status=503),
            FailMidStream("half an", LLMProtocolError("cut")),
            lambda request: request.messages[-1].content.upper(),
        ],
        report_usage=False,
        piece_chars=2,
    )
    with pytest.raises(LLMServerError):
        run(backend, ask())
    stream = backend.stream(ask(), timeouts=Timeouts())
    assert [next(stream), next(stream)] == [TextDelta("ha"), TextDelta("lf")]
    with pytest.raises(LLMProtocolError):
        list(stream)
    events = run(backend, ask("shout this"))
    assert text_of(events) == "SHOUT THIS" and events[-1] == StreamEnd("stop", None, model="scripted")
    assert len(backend.requests) == 3


def test_a_cancelled_call_is_not_recorded() -> None:
    backend = ScriptedBackend(default_reply="x")
    cancel = CancelToken()
    cancel.cancel()
    with pytest.raises(LLMCancelledError):
        run(backend, ask(), cancel=cancel)
    assert backend.requests == []


def test_silence_longer_than_the_read_timeout_times_out() -> None:
    backend = ScriptedBackend(default_reply="slow reply", piece_delay_s=1.0)
    with pytest.raises(LLMTimeoutError, match="read timeout"):
        list(backend.stream(ask(), timeouts=Timeouts(read_s=0.05)))


def test_cancel_interrupts_a_silence() -> None:
    backend = ScriptedBackend(default_reply="slow reply", piece_delay_s=30.0)
    cancel = CancelToken()
    threading.Timer(0.05, cancel.cancel).start()
    with pytest.raises(LLMCancelledError):
        list(backend.stream(ask(), timeouts=Timeouts(read_s=60.0), cancel=cancel))
