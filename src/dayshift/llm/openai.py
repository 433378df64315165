"""Chat completions from any OpenAI-compatible server: OpenAI, vLLM, Ollama, llama.cpp, llama-cpp-python.

    POST {base_url}/chat/completions  {"model", "messages", "stream": true,
                                       "stream_options": {"include_usage": true}, ...}
      -> text/event-stream:  data: {"choices": [{"delta": {"content": "Hel"}, "finish_reason": null}]}
                             data: {"choices": [{"delta": {}, "finish_reason": "stop"}]}
                             data: {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}}
                             data: [DONE]

One `stream` call is one attempt: its failures are raised as the typed
`LLMError`s of `dayshift.errors` (timeouts, dropped connections, 429 with
Retry-After, 5xx, garbled or truncated streams, rejected requests with the
setting to fix) and `dayshift.llm.client.LLMClient` decides about retries.
A stream that closes before any `finish_reason` is truncated
(LLMProtocolError); one that closes after its `finish_reason` but before
`[DONE]` is accepted, possibly without usage.

JSON output: OpenAI, vLLM and llama.cpp's own server take the standard
`{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}`;
llama-cpp-python's server only knows `{"type": "json_object", "schema": ...}`
(its type field is Literal["text", "json_object"]; 0.3.36 answers the
standard form with HTTP 500 "Input should be 'text' or 'json_object'"), and
OpenAI ignores or rejects a bare `schema` there. So the standard form goes
first, and a 400/422/500 whose body names `response_format` and `json_schema`
switches this backend to the llama-cpp-python form for the rest of its life
(one extra request, once). `json_format=` pins either form.

Token counts: when a server reports no usage (llama-cpp-python's stream does
not), `count_tokens` counts with the bundled SmolLM2 tokenizer
(`dayshift.llm.local.count_bundled_tokens`), or an approximate word-piece
count if llama-cpp-python is not installed. For any other model that is an
estimate (typically within 10-30% for English), not the bill.

Cancellation is seen between stream events, so a silent server holds a
cancelled call for at most `timeouts.read_s`.

Tools: `ChatRequest.tools` go out as `tools` (type "function"), `tool_choice`
as "auto"/"none"/"required" or {"type": "function", "function": {"name"}};
the streamed `delta.tool_calls` pieces are joined by their index into the
StreamEnd's `tool_calls`. Messages carry their calls (`tool_calls`) and
results (role "tool", `tool_call_id`) back as the protocol spells them.

Left out: images, `n` > 1, logprobs, the Responses API.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, Self

from dayshift.embed.openai import ApproxTokenizer
from dayshift.errors import (
    ConfigError,
    LLMCancelledError,
    LLMConnectionError,
    LLMError,
    LLMProtocolError,
    LLMRateLimitError,
    LLMRequestError,
    LLMServerError,
    LLMTimeoutError,
    PluginError,
)
from dayshift.llm.base import (
    CancelToken,
    ChatRequest,
    Message,
    StreamEnd,
    StreamEvent,
    TextDelta,
    Timeouts,
    ToolCall,
    Usage,
)

try:
    import httpx

    from dayshift.http import HttpPolicy, retry_after_s, retryable_status, server_message
except ImportError as exc:  # pragma: no cover - depends on the install
    raise PluginError('the OpenAI-compatible LLM backend needs httpx: pip install "dayshift[http]"') from exc

log = logging.getLogger(__name__)

DEFAULT_CONTEXT_WINDOW = 8192
JsonFormat = Literal["auto", "json_schema", "json_object"]
_SETTINGS = "DAYSHIFT_LLM__"


class OpenAIBackend:
    """LLMBackend over an OpenAI-compatible /chat/completions endpoint (streaming)."""

    def __init__(
        self,
        *,
        model: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        context_window: int | None = None,
        is_local: bool | None = None,
        json_format: JsonFormat = "auto",
        tokenizer: Callable[[str], int] | None = None,
        **_: object,
    ) -> None:
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"the OpenAI-compatible LLM backend needs an http(s) URL, got {base_url!r}: set "
                f"{_SETTINGS}BASE_URL (for example http://127.0.0.1:8000/v1)"
            )
        if not model:
            raise ConfigError(f"the OpenAI-compatible LLM backend needs a model name: set {_SETTINGS}MODEL")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.is_local = bool(is_local)  # a server may be anywhere: assume prompts leave the machine
        self.context_window = context_window or DEFAULT_CONTEXT_WINDOW
        self.json_format: JsonFormat = json_format
        self._tokenizer = tokenizer
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(base_url=self.base_url + "/", headers=headers)
        self._policy = HttpPolicy(service="LLM server", error=LLMRequestError, settings=_SETTINGS, secret=api_key)

    def __repr__(self) -> str:
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r})"

    # -- the protocol --------------------------------------------------------

    def stream(
        self, request: ChatRequest, *, timeouts: Timeouts, cancel: CancelToken | None = None
    ) -> Iterator[StreamEvent]:
        """One attempt: TextDeltas, then exactly one StreamEnd; a typed LLMError otherwise."""
        _check(cancel)
        timeout = httpx.Timeout(
            connect=timeouts.connect_s, read=timeouts.read_s, write=timeouts.read_s, pool=timeouts.connect_s
        )
        try:
            with self._open(request, timeout) as response:
                yield from self._events(response.iter_lines(), cancel)
        except httpx.TimeoutException as exc:
            raise self._timeout_error(exc, timeouts) from exc
        except httpx.TransportError as exc:
            raise self._connection_error(exc) from exc
        except httpx.DecodingError as exc:
            raise LLMProtocolError(
                f"{self.model} at {self.base_url} sent a body that cannot be decoded: check the server or proxy"
            ) from exc

    def count_tokens(self, text: str) -> int:
        if self._tokenizer is None:
            self._tokenizer = _default_tokenizer()
        return self._tokenizer(text)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- one request ---------------------------------------------------------

    def payload(self, request: ChatRequest, *, json_format: Literal["json_schema", "json_object"]) -> dict[str, Any]:
        """The request body (public for tests and for logging its shape, never its text)."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [message_json(m) for m in request.messages],
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.stop:
            body["stop"] = list(request.stop)
        if request.seed is not None:
            body["seed"] = request.seed
        if request.tools:
            body["tools"] = [{"type": "function", "function": {"name": t.name, "description": t.description,
                                                                "parameters": dict(t.parameters)}}
                             for t in request.tools]
            if request.tool_choice in ("auto", "none", "required"):
                body["tool_choice"] = request.tool_choice
            elif request.tool_choice:
                body["tool_choice"] = {"type": "function", "function": {"name": request.tool_choice}}
        if request.json_schema is not None:
            schema = dict(request.json_schema)
            body["response_format"] = (
                {"type": "json_schema", "json_schema": {"name": "output", "schema": schema, "strict": True}}
                if json_format == "json_schema"
                else {"type": "json_object", "schema": schema}
            )
        return body

    @contextmanager
    def _open(self, request: ChatRequest, timeout: httpx.Timeout) -> Iterator[httpx.Response]:
        """POST and hand over a 2xx streaming response; raise the mapped error for any other status."""
        first = "json_object" if self.json_format == "json_object" else "json_schema"
        response = self._send(self.payload(request, json_format=first), timeout)
        try:
            if self._rejects_json_schema(request, response, first):
                response.close()
                log.info("%s rejected response_format json_schema; using json_object + schema", self.model)
                self.json_format = "json_object"
                response = self._send(self.payload(request, json_format="json_object"), timeout)
            if not response.is_success:
                response.read()
                raise self._status_error(response)
            yield response
        finally:
            response.close()

    def _send(self, body: dict[str, Any], timeout: httpx.Timeout) -> httpx.Response:
        built = self._client.build_request("POST", "chat/completions", json=body, timeout=timeout)
        return self._client.send(built, stream=True)

    def _rejects_json_schema(self, request: ChatRequest, response: httpx.Response, sent: str) -> bool:
        if request.json_schema is None or sent != "json_schema" or self.json_format != "auto":
            return False
        if response.status_code not in (400, 422, 500):  # llama-cpp-python reports its 422 as a 500
            return False
        said = response.read().decode("utf-8", "replace")
        return "response_format" in said and "json_schema" in said

    def _events(self, lines: Iterable[str], cancel: CancelToken | None) -> Iterator[StreamEvent]:
        # data: {"model", "choices": [{"delta": {"content"}, "finish_reason"}], "usage"} ... data: [DONE]
        finish: str | None = None
        usage: Usage | None = None
        model = self.model
        done = False
        calls: dict[int, dict[str, str]] = {}  # index -> {"id", "name", "arguments"}: pieces joined
        for data in sse_data(lines):
            _check(cancel)
            if data.strip() == "[DONE]":
                done = True
                break
            chunk = self._decode(data)
            model = chunk.get("model") or model
            usage = _usage(chunk.get("usage")) or usage
            for choice in _choices(chunk):
                delta = choice.get("delta") or {}
                content = delta.get("content") if isinstance(delta, dict) else None
                if content:
                    yield TextDelta(str(content))
                if isinstance(delta, dict) and delta.get("tool_calls"):
                    _join_tool_calls(calls, delta["tool_calls"])
                if choice.get("finish_reason"):
                    finish = str(choice["finish_reason"])
        if finish is None:
            ending = "before any finish_reason" + ("" if done else " and without [DONE]")
            raise LLMProtocolError(
                f"the stream from {self.model} at {self.base_url} ended {ending}: the server cut the answer "
                "short (check its logs; retrying usually helps)"
            )
        _check(cancel)
        tool_calls = tuple(ToolCall(id=c["id"] or f"call_{i}", name=c["name"], arguments=c["arguments"])
                           for i, c in sorted(calls.items()))
        yield StreamEnd(finish_reason=finish, usage=usage, model=str(model), tool_calls=tool_calls)

    def _decode(self, data: str) -> dict[str, Any]:
        try:
            chunk = json.loads(data)
        except ValueError as exc:
            raise LLMProtocolError(
                f"{self.model} at {self.base_url} sent a stream line that is not JSON ({data[:60]!r}): "
                f"check that {_SETTINGS}BASE_URL points at an OpenAI-compatible API"
            ) from exc
        if not isinstance(chunk, dict):
            raise LLMProtocolError(
                f"{self.model} sent a stream event that is not a JSON object: check {_SETTINGS}BASE_URL"
            )
        if "error" in chunk:
            error = chunk["error"]
            message = error.get("message") if isinstance(error, dict) else error
            raise LLMServerError(
                f"{self.model} at {self.base_url} failed mid-stream ({str(message)[:200]}): check the server's logs",
                status=500,
            )
        return chunk

    # -- errors, mapped at the boundary ----------------------------------------

    def _status_error(self, response: httpx.Response) -> LLMError:
        code = response.status_code
        said = server_message(response, self._policy)
        where = f"{self.model} at {self.base_url} answered HTTP {code} ({said})"
        if code == 429:
            wait_s = retry_after_s(response.headers)
            hint = f"the server asks to wait {wait_s:.1f} s" if wait_s is not None else "the server gave no Retry-After"
            return LLMRateLimitError(
                f"{where}: rate limited, {hint}; send fewer requests or raise the limit", retry_after_s=wait_s
            )
        if code == 408:
            return LLMTimeoutError(f"{where}: the server timed out the request; check its load")
        if retryable_status(code):  # 425 and 5xx but 501/505 (dayshift.http's one list)
            return LLMServerError(
                f"{where}: the server failed; check its logs", status=code, retry_after_s=retry_after_s(response.headers)
            )
        if code in (401, 403):
            return LLMRequestError(f"{where}: check {_SETTINGS}API_KEY")
        if code == 404:
            return LLMRequestError(
                f"{where}: check {_SETTINGS}BASE_URL (it usually ends in /v1) and that {_SETTINGS}MODEL "
                "names a model the server serves"
            )
        return LLMRequestError(
            f"{where}: the server rejected the request; check {_SETTINGS}MODEL, and that the prompt plus "
            f"max_tokens fit the model's context window ({self.context_window} tokens)"
        )

    def _timeout_error(self, exc: httpx.TimeoutException, timeouts: Timeouts) -> LLMTimeoutError:
        if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
            what, setting = f"could not connect within {timeouts.connect_s:g} s", "CONNECT_TIMEOUT_S"
        else:
            what, setting = f"was silent for more than {timeouts.read_s:g} s", "READ_TIMEOUT_S"
        return LLMTimeoutError(
            f"{self.model} at {self.base_url} {what}: check that the server is up and not overloaded, "
            f"or raise {_SETTINGS}{setting}"
        )

    def _connection_error(self, exc: httpx.TransportError) -> LLMConnectionError:
        if isinstance(exc, httpx.ConnectError):
            return LLMConnectionError(
                f"cannot reach {self.model} at {self.base_url} ({type(exc).__name__}): check that the server "
                f"is running and that {_SETTINGS}BASE_URL is right"
            )
        return LLMConnectionError(
            f"the connection to {self.model} at {self.base_url} broke mid-response ({type(exc).__name__}): "
            "the server or a proxy dropped it; check the server's logs"
        )


def sse_data(lines: Iterable[str]) -> Iterator[str]:
    """The data of each server-sent event: its `data:` lines joined; comments and other fields skipped."""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        field, _, value = line.partition(":")
        if field == "data":
            data.append(value.removeprefix(" "))
    if data:  # a last event without its blank line: let the caller judge it
        yield "\n".join(data)


def message_json(message: Message) -> dict[str, Any]:
    """One message as the chat completions API spells it: tool calls and tool results included."""
    out: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.tool_calls:
        out["content"] = message.content or None
        out["tool_calls"] = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                             for c in message.tool_calls]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    return out


def _join_tool_calls(calls: dict[int, dict[str, str]], pieces: Any) -> None:
    """Add one delta's tool-call pieces: the first piece of an index names the call, later ones extend its arguments."""
    if not isinstance(pieces, list):
        raise LLMProtocolError(f"a stream event's delta.tool_calls is not a list: check that {_SETTINGS}BASE_URL "
                               "points at an OpenAI-compatible API")
    for piece in pieces:
        if not isinstance(piece, dict):
            continue
        index = piece.get("index", len(calls))
        call = calls.setdefault(int(index) if isinstance(index, int) else len(calls),
                                {"id": "", "name": "", "arguments": ""})
        function = piece.get("function") or {}
        call["id"] = call["id"] or str(piece.get("id") or "")
        call["name"] = call["name"] or str(function.get("name") or "")
        call["arguments"] += str(function.get("arguments") or "")


def _choices(chunk: dict[str, Any]) -> list[dict[str, Any]]:
    choices = chunk.get("choices") or []
    if not isinstance(choices, list) or not all(isinstance(c, dict) for c in choices):
        raise LLMProtocolError(
            f"a stream event's 'choices' is not a list of objects: check that {_SETTINGS}BASE_URL points at an "
            "OpenAI-compatible API"
        )
    return [c for c in choices if c.get("index", 0) == 0]


def _usage(raw: Any) -> Usage | None:
    if not isinstance(raw, dict):
        return None
    prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
    if not isinstance(prompt, int) or not isinstance(completion, int):
        return None
    return Usage(input_tokens=prompt, output_tokens=completion, source="backend")


def _check(cancel: CancelToken | None) -> None:
    if cancel is not None and cancel.cancelled:
        raise LLMCancelledError("the call was cancelled by the caller")


def _default_tokenizer() -> Callable[[str], int]:
    """The bundled SmolLM2 tokenizer when llama-cpp-python is installed, else a word-piece estimate."""
    try:
        from dayshift.llm.local import count_bundled_tokens

        count_bundled_tokens("probe")
        return count_bundled_tokens
    except (ImportError, PluginError, ConfigError, OSError, ValueError) as exc:
        log.info("bundled tokenizer unavailable (%s); counting tokens approximately", type(exc).__name__)
        return ApproxTokenizer().count
