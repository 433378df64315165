"""The contract every LLM backend passes: one suite that each backend's tests inherit.

    class TestMyBackend(LLMBackendContract):
        constrains_json = True            # the backend enforces request.json_schema

        def make_backend(self):
            return MyBackend(...)

The suite runs only through the `dayshift.llm.base.LLMBackend` protocol, so a
fake (`dayshift.testing.scripted_llm.ScriptedBackend`), the in-process model
and a server behind `OpenAIBackend` are held to the same behaviour:

    a stream is TextDeltas, then exactly one StreamEnd, nothing after it
    max_tokens is a hard limit: hitting it ends with finish_reason "length"
    a stop string ends the text before it, with finish_reason "stop"
    count_tokens is positive for text and never shrinks as text grows
    a cancelled token raises LLMCancelledError, before the first event or mid-stream
    with json_schema, a backend that constrains decoding returns parseable JSON

Requests use temperature 0 and a fixed seed so a real model answers the same
way twice (the stop test compares two runs).

Left out: retries, fallback and timeouts (one attempt is a backend's whole
job; `LLMClient` does the rest and has its own tests), and answer quality.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from dayshift.errors import LLMCancelledError
from dayshift.llm.base import CancelToken, ChatRequest, LLMBackend, Message, StreamEnd, StreamEvent, TextDelta, Timeouts

PROMPT = (
    Message("system", "You are a helpful assistant."),
    Message("user", "Write a long story about a cat who lives in a lighthouse."),
)
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 24}},
    "required": ["name"],
    "additionalProperties": False,
}


def request(*, max_tokens: int = 48, **fields: object) -> ChatRequest:
    return ChatRequest(messages=PROMPT, max_tokens=max_tokens, temperature=0.0, seed=7, **fields)  # type: ignore[arg-type]


def text_of(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


def end_of(events: list[StreamEvent]) -> StreamEnd:
    assert events and isinstance(events[-1], StreamEnd), events[-3:]
    return events[-1]


class LLMBackendContract:
    """Inherit, and override `make_backend`. Each test class gets one backend."""

    constrains_json = False  # set True when the backend enforces ChatRequest.json_schema
    timeouts = Timeouts(connect_s=5.0, read_s=60.0, total_s=120.0)

    def make_backend(self) -> LLMBackend:
        raise NotImplementedError("override make_backend() in the backend's test class")

    @pytest.fixture(scope="class")
    @classmethod
    def backend(cls) -> Iterator[LLMBackend]:
        backend = cls().make_backend()  # one per class: loading a model or a client is not free
        yield backend
        close = getattr(backend, "close", None)
        if close is not None:
            close()

    def run(self, backend: LLMBackend, req: ChatRequest, *, cancel: CancelToken | None = None) -> list[StreamEvent]:
        return list(backend.stream(req, timeouts=self.timeouts, cancel=cancel))

    # -- shape ---------------------------------------------------------------

    def test_satisfies_the_protocol(self, backend: LLMBackend) -> None:
        assert isinstance(backend, LLMBackend)
        assert isinstance(backend.model, str) and backend.model
        assert isinstance(backend.is_local, bool)
        assert isinstance(backend.context_window, int) and backend.context_window >= 256

    def test_streams_text_deltas_then_exactly_one_stream_end(self, backend: LLMBackend) -> None:
        events = self.run(backend, request(max_tokens=24))
        end = end_of(events)
        assert all(isinstance(e, TextDelta) for e in events[:-1]), [type(e).__name__ for e in events]
        assert sum(isinstance(e, StreamEnd) for e in events) == 1
        assert len(events) >= 2 and text_of(events).strip(), "no text before the StreamEnd"
        assert all(e.text for e in events[:-1] if isinstance(e, TextDelta)), "empty TextDelta"
        assert end.finish_reason in {"stop", "length"}
        assert isinstance(end.model, str)
        if end.usage is not None:
            assert end.usage.input_tokens > 0 and 0 < end.usage.output_tokens <= 24

    # -- limits ----------------------------------------------------------------

    def test_max_tokens_is_a_hard_limit_that_reports_length(self, backend: LLMBackend) -> None:
        events = self.run(backend, request(max_tokens=3))
        end = end_of(events)
        assert end.finish_reason == "length"
        deltas = [e for e in events if isinstance(e, TextDelta)]
        assert 1 <= len(deltas) <= 3
        if end.usage is not None:
            assert end.usage.output_tokens <= 3
        assert backend.count_tokens(text_of(events)) <= 3 + 2  # a different tokenizer may split a little more

    def test_stop_string_ends_the_text_before_it(self, backend: LLMBackend) -> None:
        full = text_of(self.run(backend, request(max_tokens=32)))
        words = full.split()
        assert len(words) >= 3, f"need a few words to pick a stop string from: {full!r}"
        stop = " " + words[2]  # a word that is not at the start
        assert stop in full, (stop, full)
        events = self.run(backend, request(max_tokens=32, stop=(stop,)))
        stopped = text_of(events)
        assert end_of(events).finish_reason == "stop"
        assert stop not in stopped
        assert stopped.strip() and full.startswith(stopped.rstrip()), (stopped, full)
        assert len(stopped) <= full.index(stop) + 1

    # -- tokens ------------------------------------------------------------------

    def test_count_tokens_is_positive_and_monotone(self, backend: LLMBackend) -> None:
        assert backend.count_tokens("") == 0
        growing = ["cat", "a cat", "a cat sat on the mat", "a cat sat on the mat, and then it slept for an hour."]
        counts = [backend.count_tokens(text) for text in growing]
        assert all(count > 0 for count in counts)
        assert counts == sorted(counts) and counts[-1] > counts[0], counts

    # -- cancellation ------------------------------------------------------------

    def test_a_cancelled_token_stops_the_call_before_any_event(self, backend: LLMBackend) -> None:
        cancel = CancelToken()
        cancel.cancel()
        with pytest.raises(LLMCancelledError):
            next(iter(backend.stream(request(), timeouts=self.timeouts, cancel=cancel)))

    def test_cancelling_mid_stream_raises_and_ends_nothing(self, backend: LLMBackend) -> None:
        cancel = CancelToken()
        stream = iter(backend.stream(request(max_tokens=32), timeouts=self.timeouts, cancel=cancel))
        first = next(stream)
        assert isinstance(first, TextDelta)
        cancel.cancel()
        with pytest.raises(LLMCancelledError):
            for event in stream:
                assert not isinstance(event, StreamEnd), "a cancelled call must not end normally"
        # and the backend still works afterwards
        assert end_of(self.run(backend, request(max_tokens=4))).finish_reason in {"stop", "length"}

    # -- JSON --------------------------------------------------------------------

    def test_json_schema_output_parses(self, backend: LLMBackend) -> None:
        if not self.constrains_json:
            pytest.skip("this backend does not constrain decoding to a JSON schema")
        messages = (Message("user", 'Give the cat a name. Answer as JSON: {"name": "..."}'),)
        req = ChatRequest(messages=messages, max_tokens=64, temperature=0.0, seed=7, json_schema=SCHEMA)
        events = self.run(backend, req)
        assert end_of(events).finish_reason == "stop", text_of(events)
        value = json.loads(text_of(events))
        assert isinstance(value, dict) and set(value) == {"name"} and isinstance(value["name"], str)
