"""The LLM layer's typed values and the small protocols every part agrees on.

A backend turns one `ChatRequest` into a stream of `TextDelta`s closed by one
`StreamEnd`; it does one attempt and raises a typed `LLMError` on failure.
Everything around the attempt -- timeouts budgets, retries, fallback, circuit
breaking, cancellation, PII redaction, accounting -- lives once, in
`dayshift.llm.client.LLMClient`, which every call goes through.

Tool calls (the OpenAI tools protocol): a request may offer `tools` (ToolSpec: a
name, a description, a JSON schema of the arguments); a backend that speaks the
protocol returns the calls the model made on the StreamEnd (`tool_calls`), and
the conversation carries them back as an assistant Message's `tool_calls` and
"tool" Messages holding each result. Backends that cannot call tools ignore
`tools` (the local reader gets the same effect from `json_schema`: a grammar).

Left out: images (text chat only) and parallel tool calls in one local reply.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

Role = Literal["system", "user", "assistant", "tool"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One function call a model asked for: `arguments` is the JSON text it wrote (not yet parsed or checked)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool offered to the model: `parameters` is the JSON schema of its arguments object."""

    name: str
    description: str
    parameters: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    content: str
    tool_calls: tuple[ToolCall, ...] = ()  # an assistant turn's calls (the tools protocol)
    tool_call_id: str | None = None  # a "tool" turn: the call whose result `content` is


@dataclass(frozen=True, slots=True)
class ChatRequest:
    messages: tuple[Message, ...]
    max_tokens: int = 512
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    # A JSON schema the output must satisfy. Backends that can constrain decoding
    # (llama.cpp grammars, `response_format` on servers that support it) do so.
    json_schema: Mapping[str, Any] | None = None
    seed: int | None = None
    # Indexed text the messages quote verbatim (the retrieved sources). PII redaction leaves it
    # as it is unless llm.redact_sources = "always"; what the user typed is redacted either way.
    source_texts: tuple[str, ...] = ()
    # The prompt's own text (its instructions and worked examples: messages of the template that use no
    # variable). Its author wrote it, not the user: PII redaction leaves it as it is whatever
    # llm.redact_sources says, so examples reach the model whole and take no placeholder number.
    prompt_texts: tuple[str, ...] = ()
    # Words the output may not open with (their first token is barred at the first step only):
    # the prompt offers the model a "no answer" word, dayshift reads how likely it was from
    # TokenLogprobs.first, and still gets a draft to check. Backends that cannot bar ignore it.
    suppress_first: tuple[str, ...] = ()
    # Texts the output must be copied from, word by word, with optional [n] markers (n: their numbers):
    # extractive reading. Backends that can constrain decoding (llama.cpp grammars) do so; the others
    # ignore it, and the answer's support check still withdraws words no source holds.
    copy_from: tuple[str, ...] = ()
    # The tools protocol: what the model may call, and "auto", "none", "required" or one tool's name
    # (that tool must be called). Backends without it ignore both.
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: str | None = None


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int
    output_tokens: int
    # "backend": the backend's usage report; "tokenizer": counted by dayshift with
    # the model's tokenizer because the backend reported none.
    source: Literal["backend", "tokenizer"] = "backend"


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class TokenLogprobs:
    """What the model thought of its own output, where the backend reports it."""

    chosen: tuple[float, ...]  # natural-log probability of each generated token (the last may be missing)
    first: tuple[tuple[str, float], ...] = ()  # the first step's most likely tokens: (text, logprob), best first
    # How likely the model was to open with a `suppress_first` word before it was barred; None: not asked
    suppressed_p: float | None = None

    def first_prob(self, starts: tuple[str, ...]) -> float:
        """Probability that the output began with a token starting with one of `starts` (case-insensitive)."""
        import math

        wanted = tuple(s.lower() for s in starts)
        return sum(math.exp(lp) for text, lp in self.first if text.strip().lower().startswith(wanted) and text.strip())


@dataclass(frozen=True, slots=True)
class StreamEnd:
    finish_reason: str  # "stop", "length", ...
    usage: Usage | None  # None when the backend reported no usage
    model: str = ""
    logprobs: TokenLogprobs | None = None  # None when the backend reports none
    tool_calls: tuple[ToolCall, ...] = ()  # the calls the model made (the tools protocol)


StreamEvent = TextDelta | StreamEnd


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect_s: float = 5.0
    read_s: float = 60.0  # longest silence between two bytes (or tokens) of a response
    total_s: float = 300.0  # whole call, retries and fallbacks included


class CancelToken:
    """Set from any thread to stop a call: between tokens, between retries, during backoff."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; True if cancelled meanwhile."""
        return self._event.wait(seconds)


@runtime_checkable
class LLMBackend(Protocol):
    """One model behind one endpoint. `stream` makes exactly one attempt."""

    model: str  # the name used in price tables, traces and fallback chains
    is_local: bool  # False: prompts leave this process, so PII is redacted first
    context_window: int  # tokens, prompt and output together

    def stream(
        self, request: ChatRequest, *, timeouts: Timeouts, cancel: CancelToken | None = None
    ) -> Iterator[StreamEvent]: ...

    def count_tokens(self, text: str) -> int: ...


@dataclass(frozen=True, slots=True)
class Completion:
    """A finished call, as the caller sees it (placeholders already restored)."""

    text: str
    model: str  # the backend that answered (may be a fallback)
    usage: Usage
    finish_reason: str
    cost_usd: float = 0.0
    attempts: int = 1
    redactions: int = 0  # PII entities replaced before the call left the process
    metadata: dict[str, Any] = field(default_factory=dict)
    logprobs: TokenLogprobs | None = None
    tool_calls: tuple[ToolCall, ...] = ()  # the calls the model made, placeholders restored (the tools protocol)


class LLMCallLike(Protocol):
    """One call in flight, as its caller sees it (dayshift.llm.client.LLMCall)."""

    result: Completion | None

    def __iter__(self) -> Iterator[str]: ...


class StreamingLLM(Protocol):
    """What callers need of dayshift.llm.client.LLMClient: a call that streams text, then its Completion."""

    def stream(
        self, request: ChatRequest, *, cancel: CancelToken | None = None, tenant: str | None = None
    ) -> LLMCallLike: ...


class PlaceholderRestorer(Protocol):
    """Puts the original values back into model output, streamed piece by piece."""

    def feed(self, text: str) -> str: ...  # returns what is safe to show now (may hold back a partial placeholder)

    def flush(self) -> str: ...  # the rest, at the end of the stream


class Redactor(Protocol):
    """Replaces PII with placeholders before a prompt leaves the process.

    `redact` returns the redacted messages, how many entities it replaced, and a
    restorer for the response. It raises RedactionError on any failure: the
    caller then does not send the call (fail closed). The client passes `keep`
    (texts whose every occurrence must be left as it is: ChatRequest.prompt_texts and source_texts)
    only when it is not empty, so a redactor without the argument still serves
    calls that quote no sources.
    """

    def redact(
        self, messages: tuple[Message, ...], *, keep: Sequence[str] = ()
    ) -> tuple[tuple[Message, ...], int, PlaceholderRestorer]: ...


class Meter(Protocol):
    """Token and cost accounting, and the budgets that stop a call."""

    def check(self, backend: LLMBackend, request: ChatRequest, *, tenant: str | None) -> None:
        """Raise BudgetExceededError if this call could exceed a request or tenant budget."""
        ...

    def record(
        self, backend: LLMBackend, request: ChatRequest, *, output_text: str, usage: Usage | None, tenant: str | None
    ) -> tuple[Usage, float]:
        """Fill in usage the backend did not report (its tokenizer), price it, book it: (usage, cost_usd)."""
        ...
