"""extract_json on near-JSON model output, and complete_structured's repair and re-ask loop."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from pydantic import BaseModel, Field

from dayshift.errors import LLMCancelledError, StructuredOutputError
from dayshift.llm.base import CancelToken, ChatRequest, Completion, Message, StreamEnd, TextDelta, Timeouts
from dayshift.llm.json_repair import JSONExtractionError, extract_json, find_json
from dayshift.llm.structured import complete_structured
from dayshift.testing.scripted_llm import ScriptedBackend

# -- extract_json ---------------------------------------------------------------

CASES: list[tuple[str, str, Any]] = [
    ("plain", '{"a": 1, "b": [1, 2]}', {"a": 1, "b": [1, 2]}),
    ("array", "[1, 2, 3]", [1, 2, 3]),
    ("fenced", 'Here you go:\n```json\n{"a": "x"}\n```\nAnything else?', {"a": "x"}),
    ("fence without language", '```\n{"a": 2}\n```', {"a": 2}),
    ("unclosed fence", '```json\n{"a": 3}', {"a": 3}),
    ("prose around", 'Sure! The answer is {"ok": true} as requested.', {"ok": True}),
    ("prose with braces first", 'Use {curly} braces: {"a": 1}', {"a": 1}),
    ("trailing commas", '{"a": [1, 2,], "b": {"c": 1,},}', {"a": [1, 2], "b": {"c": 1}}),
    ("single quotes", "{'name': 'Ada', 'n': 2}", {"name": "Ada", "n": 2}),
    ("apostrophe inside single quotes", "{'q': 'it's fine'}", {"q": "it's fine"}),
    ("unescaped inner double quotes", '{"q": "say "hi" now"}', {"q": 'say "hi" now'}),
    ("unquoted keys", '{name: "Ada", last_name: "L", n-2: 1}', {"name": "Ada", "last_name": "L", "n-2": 1}),
    ("python literals", "{'a': True, 'b': False, 'c': None}", {"a": True, "b": False, "c": None}),
    ("smart quotes", "{\u201cname\u201d: \u201cAda\u201d}", {"name": "Ada"}),
    ("smart single quotes", "{\u2018k\u2019: \u2018v\u2019}", {"k": "v"}),
    ("line comments", '{\n  "a": 1, // the first\n  # hash comment\n  "b": 2\n}', {"a": 1, "b": 2}),
    ("block comment", '{"a": /* note */ 1}', {"a": 1}),
    ("missing comma between lines", '{"a": "x"\n "b": "y"}', {"a": "x", "b": "y"}),
    ("truncated string", '{"answer": "The cat sat on', {"answer": "The cat sat on"}),
    ("truncated array", '{"tags": ["a", "b"', {"tags": ["a", "b"]}),
    ("truncated after key", '{"a": 1, "b":', {"a": 1}),
    ("truncated mid key", '{"a": 1, "lo', {"a": 1}),
    ("truncated literal", '{"a": 1, "b": tru', {"a": 1}),
    ("truncated number sign", '{"a": [1, -', {"a": [1]}),
    ("truncated nested", '[{"a": {"b": [1, {"c": "d', [{"a": {"b": [1, {"c": "d"}]}}]),
    ("multiple objects take the first", '{"a": 1}\n{"a": 2}', {"a": 1}),
    ("first complete even if repaired", "{'a': 1} and {\"a\": 2}", {"a": 1}),
    ("escapes", r'{"s": "a\nb\t\"c\" \u00e9 \ud83d\ude00"}', {"s": 'a\nb\t"c" \u00e9 \U0001f600'}),
    ("escapes in repaired text", r"{'s': 'line\nnext \'q\''}", {"s": "line\nnext 'q'"}),
    ("numbers", '{"i": -3, "f": 2.5, "e": 1e3, "p": +4, "d": .5,}', {"i": -3, "f": 2.5, "e": 1000.0, "p": 4, "d": 0.5}),
    ("bare scalar", "42", 42),
    ("unicode kept", '{"name": "Zoë Ångström"}', {"name": "Zoë Ångström"}),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in CASES], ids=[c[0] for c in CASES])
def test_extract_json(text: str, expected: Any) -> None:
    assert extract_json(text) == expected


def test_repaired_is_reported_only_when_the_json_itself_was_fixed() -> None:
    assert find_json('Text first ```json\n{"a": 1}\n```').repaired is False
    assert find_json("{'a': 1}").repaired is True
    assert find_json('{"a": [1,').repaired is True


def test_top_level_object_skips_arrays_in_prose() -> None:
    text = 'See note [1] for details: {"a": 1}'
    assert extract_json(text) == [1]
    assert extract_json(text, top_level="object") == {"a": 1}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("I cannot answer that.", "contains no '{' or '['"),
        ("", "contains no '{' or '['"),
        ("{see the docs}", "expected ':' after key 'see'"),
        ("[hello world]", "unexpected word 'hello'"),
        ("{: 1}", "expected a key, found ':'"),
    ],
)
def test_nothing_usable_raises_a_precise_value_error(text: str, message: str) -> None:
    with pytest.raises(JSONExtractionError, match=re.escape(message)) as info:
        extract_json(text)
    assert isinstance(info.value, ValueError)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(JSONExtractionError, match="nested too deeply"):
        extract_json("[" * 5000)


def test_does_not_evaluate_anything() -> None:
    with pytest.raises(JSONExtractionError):
        extract_json("__import__('os').system('echo hacked')")


# -- complete_structured ------------------------------------------------------------


class Verdict(BaseModel):
    answer: str
    confidence: float = Field(ge=0.0, le=1.0)
    sources: list[int]


class ScriptedClient:
    """The minimum of LLMClient that complete_structured uses: one backend, no retries."""

    def __init__(self, backend: ScriptedBackend, *, cost_usd: float = 0.01) -> None:
        self.backend = backend
        self.cost_usd = cost_usd
        self.calls: list[dict[str, Any]] = []

    def complete(
        self, request: ChatRequest, *, cancel: CancelToken | None = None, tenant: str | None = None
    ) -> Completion:
        self.calls.append({"tenant": tenant, "cancel": cancel})
        events = list(self.backend.stream(request, timeouts=Timeouts(), cancel=cancel))
        end = events[-1]
        assert isinstance(end, StreamEnd) and end.usage is not None
        text = "".join(e.text for e in events if isinstance(e, TextDelta))
        return Completion(text, end.model, end.usage, end.finish_reason, cost_usd=self.cost_usd, metadata={"x": 1})


PROMPT = (Message("system", "Answer as JSON with answer, confidence, sources."), Message("user", "Capital of France?"))
GOOD = {"answer": "Paris", "confidence": 0.9, "sources": [1, 2]}


def test_valid_json_first_time() -> None:
    backend = ScriptedBackend([json.dumps(GOOD)])
    client = ScriptedClient(backend)
    verdict, completion = complete_structured(client, PROMPT, Verdict, tenant="acme")
    assert verdict == Verdict(**GOOD)
    assert completion.metadata == {"x": 1, "reasks": 0, "repaired": False, "total_cost_usd": 0.01}
    (request,) = backend.requests
    assert request.json_schema == Verdict.model_json_schema()
    assert request.messages == PROMPT and request.temperature == 0.0 and request.max_tokens == 512
    assert client.calls[0]["tenant"] == "acme"


def test_near_json_is_repaired_without_a_reask() -> None:
    backend = ScriptedBackend(["```json\n{answer: 'Paris', confidence: 0.9, sources: [1, 2,],}\n```"])
    verdict, completion = complete_structured(ScriptedClient(backend), PROMPT, Verdict)
    assert verdict.answer == "Paris"
    assert completion.metadata["reasks"] == 0 and completion.metadata["repaired"] is True
    assert len(backend.requests) == 1


def test_validation_error_is_fed_back_and_the_reask_succeeds() -> None:
    bad = '{"answer": "Paris", "confidence": 1.7}'
    backend = ScriptedBackend([bad, json.dumps(GOOD)])
    verdict, completion = complete_structured(ScriptedClient(backend), PROMPT, Verdict, max_tokens=64)
    assert verdict == Verdict(**GOOD)
    assert completion.metadata["reasks"] == 1 and completion.metadata["total_cost_usd"] == pytest.approx(0.02)
    second = backend.requests[1]
    assert second.messages[: len(PROMPT)] == PROMPT
    assistant, user = second.messages[len(PROMPT) :]
    assert assistant == Message("assistant", bad)
    assert user.role == "user"
    assert "confidence: Input should be less than or equal to 1" in user.content
    assert "sources: Field required" in user.content
    assert "JSON object only" in user.content and '"required":["answer","confidence","sources"]' in user.content
    assert second.json_schema == Verdict.model_json_schema() and second.max_tokens == 64


def test_prose_without_json_is_fed_back_as_not_json() -> None:
    backend = ScriptedBackend(["The capital is Paris.", json.dumps(GOOD)])
    complete_structured(ScriptedClient(backend), PROMPT, Verdict)
    assert "the reply is not JSON: no JSON object in the output" in backend.requests[1].messages[-1].content


def test_truncated_reply_says_it_was_cut_off() -> None:
    backend = ScriptedBackend(['{"answer": "Paris is the capital of France and", "confidence": 0.9}', json.dumps(GOOD)])
    complete_structured(ScriptedClient(backend), PROMPT, Verdict, max_tokens=7)
    reask = backend.requests[1].messages[-1].content
    assert "sources: Field required" in reask and "cut off at max_tokens" in reask


def test_exhausted_reasks_raise_structured_output_error() -> None:
    backend = ScriptedBackend(["nope", '{"answer": 3}', '{"answer": "x", "confidence": "high", "sources": []}'])
    with pytest.raises(StructuredOutputError, match="no valid Verdict JSON after 2 re-ask") as info:
        complete_structured(ScriptedClient(backend), PROMPT, Verdict, max_reasks=2)
    assert len(backend.requests) == 3
    assert info.value.last_output == '{"answer": "x", "confidence": "high", "sources": []}'
    assert "confidence: Input should be a valid number" in info.value.validation_error
    assert len(backend.requests[2].messages) == len(PROMPT) + 4  # two bad replies and two re-asks


def test_zero_reasks_means_one_attempt() -> None:
    backend = ScriptedBackend(["nope"], default_reply=json.dumps(GOOD))
    with pytest.raises(StructuredOutputError):
        complete_structured(ScriptedClient(backend), PROMPT, Verdict, max_reasks=0)
    assert len(backend.requests) == 1


def test_cancellation_passes_through() -> None:
    cancel = CancelToken()
    cancel.cancel()
    backend = ScriptedBackend([json.dumps(GOOD)])
    with pytest.raises(LLMCancelledError):
        complete_structured(ScriptedClient(backend), PROMPT, Verdict, cancel=cancel)
    assert backend.requests == []
