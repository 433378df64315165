"""An honest in-process LLM backend for tests: it replies with the texts you queue.

    backend = ScriptedBackend(["Paris.", LLMServerError("boom", status=503)], default_reply="OK")
    backend.requests        # every ChatRequest received: what would have left the process

It behaves like a real backend where the contract suite
(`dayshift.testing.llm_contract`) can tell: one reply streams as TextDeltas
of one token each (or `piece_chars` characters), then one StreamEnd; a token
is a whitespace-separated word (`count_tokens`); `max_tokens` and the context
window cut the reply with finish_reason "length"; a stop string ends it
before the stop, with "stop"; a cancelled CancelToken raises
LLMCancelledError before the first event or between two; a prompt that fills
the context window is an LLMRequestError.

A queued item is a reply text, an exception to raise instead of answering, a
`FailMidStream` (some text, then an error: a stream cut short), or a function
of the request returning the text (to echo the prompt, say).

Left out: constrained decoding (`json_schema` is recorded, not enforced),
sampling (temperature and seed are ignored), and network behaviour (that is
`dayshift.testing.fault_server`'s job).
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from dayshift.errors import LLMCancelledError, LLMError, LLMRequestError, LLMTimeoutError
from dayshift.llm.base import CancelToken, ChatRequest, StreamEnd, StreamEvent, TextDelta, Timeouts, Usage

__all__ = ["FailMidStream", "Reply", "ScriptedBackend"]

_TOKEN = re.compile(r"\s*\S+")  # one token with the whitespace before it


@dataclass(frozen=True, slots=True)
class FailMidStream:
    """Stream `text`, then raise `error` instead of a StreamEnd."""

    text: str
    error: LLMError


Reply = str | BaseException | FailMidStream | Callable[[ChatRequest], str]


class ScriptedBackend:
    """Implements `dayshift.llm.base.LLMBackend` from a queue of replies; thread-safe."""

    def __init__(
        self,
        replies: Iterable[Reply] = (),
        *,
        default_reply: Reply | None = None,
        model: str = "scripted",
        is_local: bool = True,
        context_window: int = 4096,
        report_usage: bool = True,
        piece_chars: int | None = None,
        piece_delay_s: float = 0.0,
    ) -> None:
        self.model = model
        self.is_local = is_local
        self.context_window = context_window
        self.report_usage = report_usage  # False: StreamEnd.usage is None, as from servers that send none
        self.piece_chars = piece_chars
        self.piece_delay_s = piece_delay_s  # silence before each piece; over timeouts.read_s -> LLMTimeoutError
        self.default_reply = default_reply
        self.requests: list[ChatRequest] = []
        self._replies: deque[Reply] = deque(replies)
        self._lock = threading.Lock()

    def add(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    @property
    def sent_texts(self) -> list[str]:
        """Every message content of every request received, in order."""
        with self._lock:
            return [message.content for request in self.requests for message in request.messages]

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(
        self, request: ChatRequest, *, timeouts: Timeouts, cancel: CancelToken | None = None
    ) -> Iterator[StreamEvent]:
        _check(cancel)
        reply = self._take(request)
        input_tokens = self._check_request(request)
        failure: LLMError | None = None
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, FailMidStream):
            text, failure = reply.text, reply.error
        else:
            text = reply(request) if callable(reply) else reply
        limit = min(request.max_tokens, self.context_window - input_tokens)
        pieces, finish_reason = _generate(text, stop=request.stop, limit=limit)
        for piece in self._split(pieces):
            self._pause(timeouts, cancel)
            _check(cancel)
            yield TextDelta(piece)
        if failure is not None:
            raise failure
        _check(cancel)
        usage = Usage(input_tokens, self.count_tokens("".join(pieces))) if self.report_usage else None
        yield StreamEnd(finish_reason=finish_reason, usage=usage, model=self.model)

    def _take(self, request: ChatRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._replies:
                return self._replies.popleft()
            if self.default_reply is not None:
                return self.default_reply
        raise RuntimeError(
            f"ScriptedBackend {self.model!r} got call #{len(self.requests)} but has no reply left: "
            "queue more with .add(...) or pass default_reply="
        )

    def _check_request(self, request: ChatRequest) -> int:
        if not request.messages:
            raise LLMRequestError(f"{self.model}: a request needs at least one message")
        if request.max_tokens < 1:
            raise LLMRequestError(f"{self.model}: max_tokens must be 1 or more, got {request.max_tokens}")
        input_tokens = sum(self.count_tokens(message.content) for message in request.messages)
        if input_tokens >= self.context_window:
            raise LLMRequestError(
                f"{self.model}: the prompt is {input_tokens} tokens, which fills the context window of "
                f"{self.context_window}: send fewer or shorter chunks, or use a model with a larger window"
            )
        return input_tokens

    def _split(self, pieces: list[str]) -> Iterator[str]:
        for piece in pieces:
            if self.piece_chars is None:
                yield piece
            else:
                yield from (piece[i : i + self.piece_chars] for i in range(0, len(piece), self.piece_chars))

    def _pause(self, timeouts: Timeouts, cancel: CancelToken | None) -> None:
        if self.piece_delay_s <= 0:
            return
        silence_s = min(self.piece_delay_s, timeouts.read_s)
        if cancel is not None:
            cancel.wait(silence_s)
        else:
            time.sleep(silence_s)
        if self.piece_delay_s > timeouts.read_s:
            raise LLMTimeoutError(f"{self.model}: no token for {timeouts.read_s}s (read timeout)")


def _generate(text: str, *, stop: tuple[str, ...], limit: int) -> tuple[list[str], str]:
    """(pieces of one token each, finish_reason) for `text` cut at the first stop string and at `limit` tokens."""
    hits = [text.find(s) for s in stop if s and s in text]
    if hits:
        text = text[: min(hits)]
    pieces = _TOKEN.findall(text)
    if len(pieces) > limit:
        return pieces[: max(limit, 0)], "length"
    trailing = text[len("".join(pieces)) :]  # whitespace after the last token
    if trailing:
        pieces = [*pieces[:-1], pieces[-1] + trailing] if pieces else [trailing]
    return pieces, "stop"


def _check(cancel: CancelToken | None) -> None:
    if cancel is not None and cancel.cancelled:
        raise LLMCancelledError("the call was cancelled by the caller")
