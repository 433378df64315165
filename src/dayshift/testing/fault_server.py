"""A real HTTP server that speaks OpenAI's streaming chat completions, and fails on request.

    with FaultServer() as server:
        server.script(["500", "429", "ok"])       # one behaviour per request, then `then`
        backend = OpenAIBackend(model="fake", base_url=server.base_url)
        ...
        assert server.requests == 3

Behaviours (a name, or a `Behaviour` for the knobs):

    ok          streams the canned answer word by word, honouring max_tokens ("length")
                and stop ("stop"), then usage and [DONE]; with a response_format schema it
                streams the smallest JSON value that satisfies the schema
    slow        like ok, with `delay_s` (default 0.2 s) before every piece
    hang        reads the request and never answers (until the server closes)
    drop        sends the headers and `pieces` pieces (default 2), then closes the socket mid-chunk
    truncated   `pieces` pieces in a complete HTTP response, but no finish_reason and no [DONE]
    malformed   one good piece, then a `data:` line that is not JSON
    500         HTTP 500 with an OpenAI-style error body
    429         HTTP 429 with `Retry-After: <retry_after>` (default "1")
    401         HTTP 401 "invalid api key"

It binds 127.0.0.1:0 (a free port), serves each connection on its own thread,
and records every request's body and headers (`bodies`, `headers`) so tests can check what left the
client -- for example that PII was replaced before sending.

Left out: non-streaming responses, other endpoints, TLS.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self

Kind = Literal["ok", "slow", "hang", "drop", "truncated", "malformed", "500", "429", "401"]
KINDS: tuple[Kind, ...] = ("ok", "slow", "hang", "drop", "truncated", "malformed", "500", "429", "401")
CANNED_ANSWER = "The answer is forty-two, as the guide says, and the towel is in the bag by the door."


@dataclass(frozen=True, slots=True)
class Behaviour:
    kind: Kind
    delay_s: float = 0.2  # slow: pause before each piece
    retry_after: str = "1"  # 429: the Retry-After header (seconds or an HTTP date)
    pieces: int = 2  # drop, truncated: how many pieces of the answer go out before the fault
    text: str = CANNED_ANSWER  # ok/slow: the answer


class FaultServer:
    """A threaded stdlib HTTP server on 127.0.0.1; use as a context manager."""

    def __init__(self, *, model: str = "fault-model", text: str = CANNED_ANSWER) -> None:
        self.model = model
        self.text = text
        self.bodies: list[dict[str, Any]] = []  # every request's JSON body, in arrival order
        self.headers: list[dict[str, str]] = []  # and its headers
        self._script: list[Behaviour] = []
        self._then = Behaviour("ok", text=text)
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fault-server", daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    @property
    def requests(self) -> int:
        with self._lock:
            return len(self.bodies)

    def script(self, behaviours: Iterable[Kind | Behaviour], *, then: Kind | Behaviour = "ok") -> FaultServer:
        """Answer the next requests with these behaviours in order, then always with `then`."""
        with self._lock:
            self._script = [_behaviour(b, self.text) for b in behaviours]
            self._then = _behaviour(then, self.text)
        return self

    def close(self) -> None:
        self._closing.set()  # releases hanging handlers
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _next(self, body: dict[str, Any], headers: dict[str, str]) -> Behaviour:
        with self._lock:
            self.bodies.append(body)
            self.headers.append(headers)
            return self._script.pop(0) if self._script else self._then


def _behaviour(value: Kind | Behaviour, text: str) -> Behaviour:
    if isinstance(value, Behaviour):
        return value
    if value not in KINDS:
        raise ValueError(f"unknown fault {value!r}: use one of {', '.join(KINDS)}")
    return Behaviour(value, text=text)


def _handler_for(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_Handler):
        owner = server

    return Handler


class _Handler(BaseHTTPRequestHandler):
    owner: FaultServer
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streams, as real servers do
    disable_nagle_algorithm = True  # headers and body go out at once, not 40 ms apart

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet test output

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            body = {}
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            return
        behaviour = self.owner._next(body, {k.lower(): v for k, v in self.headers.items()})
        try:
            getattr(self, f"_fault_{behaviour.kind}")(body, behaviour)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout, cancel): expected
            self.close_connection = True

    # -- error statuses --------------------------------------------------------

    def _fault_500(self, body: dict[str, Any], behaviour: Behaviour) -> None:
        self._json(500, {"error": {"message": "the model crashed", "type": "server_error"}})

    def _fault_429(self, body: dict[str, Any], behaviour: Behaviour) -> None:
        error = {"error": {"message": "rate limit reached", "type": "rate_limit_error"}}
        self._json(429, error, headers={"Retry-After": behaviour.retry_after})

    def _fault_401(self, body: dict[str, Any], behaviour: Behaviour) -> None:
        error = {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}
        self._json(401, error)

    def _fault_hang(self, body: dict[str, Any], behaviour: Behaviour) -> None:
        self.owner._closing.wait()
        self.close_connection = True

    # -- streams -----------------------------------------------------------------

    def _fault_ok(self, body: dict[str, Any], behaviour: Behaviour) -> None:
        self._start_stream()
        pieces, finish = answer_pieces(body, behaviour.text)
        for piece in pieces:
            if behaviour.kind == "slow" and self.owner._closing.wait(behaviour.delay_s):
                return
            self._event(self._delta(body, content=piece))
        self._event(self._delta(body, finish_reason=finish))
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(pieces), "total_tokens": 0}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if (body.get("stream_options") or {}).get("include_usage"):
            self._event({"model": self.owner.model, "choices": [], "usage": usage})
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")

    _fault_slow = _fault_ok

    def _fault_drop(self, body: dict[str, Any], behaviour: Behaviour) -> None:
        self._start_stream()
        for piece in list(_words(behaviour.text))[: behaviour.pieces]:
            self._event(self._delta(body, content=piece))
        self.wfile.write(b'400\r\ndata: {"cho')  # a chunk announced 1,024 bytes long, cut short
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)
        self.close_connection = True

    def _fault_truncated(self, body: dict[str, Any], behaviour: Behaviour) -> None:
        self._start_stream()
        for piece in list(_words(behaviour.text))[: behaviour.pieces]:
            self._event(self._delta(body, content=piece))
        self._chunk(b"")  # a clean end of the HTTP body: only the stream's own end is missing

    def _fault_malformed(self, body: dict[str, Any], behaviour: Behaviour) -> None:
        self._start_stream()
        self._event(self._delta(body, content="The "))
        self._chunk(b'data: {"choices": [{"delta": {"content": "ans\n\n')
        self._event(self._delta(body, finish_reason="stop"))
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")

    # -- wire helpers ------------------------------------------------------------

    def _json(self, status: int, payload: Mapping[str, Any], *, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _event(self, payload: Mapping[str, Any]) -> None:
        self._chunk(b"data: " + json.dumps(payload).encode() + b"\n\n")

    def _delta(self, body: dict[str, Any], *, content: str | None = None, finish_reason: str | None = None) -> dict:
        delta = {"content": content} if content is not None else {}
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        return {"object": "chat.completion.chunk", "model": self.owner.model, "choices": [choice]}


def answer_pieces(body: Mapping[str, Any], text: str) -> tuple[list[str], str]:
    """The pieces an ok answer streams, and its finish_reason, for this request body."""
    schema = _schema_of(body.get("response_format"))
    if schema is not None:
        text = json.dumps(minimal_instance(schema))
    stops = body.get("stop") or []
    stops = [stops] if isinstance(stops, str) else list(stops)
    finish = "stop"
    cut = min((text.find(s) for s in stops if s and s in text), default=-1)
    if cut >= 0:
        text = text[:cut]
    pieces = list(_words(text))
    limit = body.get("max_tokens")
    if isinstance(limit, int) and len(pieces) > limit:
        pieces, finish = pieces[:limit], "length"
    return pieces, finish


def _words(text: str) -> Iterator[str]:
    """'a b  c' -> 'a', ' b', '  c': every piece but the first carries its leading spaces."""
    start = 0
    for index in range(1, len(text)):
        if text[index] == " " and text[index - 1] != " ":
            yield text[start:index]
            start = index
    if text:
        yield text[start:]


def _schema_of(response_format: Any) -> Mapping[str, Any] | None:
    if not isinstance(response_format, dict):
        return None
    if response_format.get("type") == "json_schema":
        return (response_format.get("json_schema") or {}).get("schema")
    if response_format.get("type") == "json_object":
        return response_format.get("schema") or {"type": "object"}
    return None


def minimal_instance(schema: Mapping[str, Any]) -> Any:
    """The smallest value that satisfies a simple JSON schema (objects, arrays, scalars, enum, const)."""
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type", "object")
    kind = kind[0] if isinstance(kind, list) else kind
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: minimal_instance(props.get(name, {})) for name in schema.get("required", list(props))}
    if kind == "array":
        return [minimal_instance(schema.get("items") or {}) for _ in range(schema.get("minItems", 0))]
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return "x" * max(1, int(schema.get("minLength", 1)))


def wait_until(predicate: Any, *, timeout_s: float = 5.0) -> bool:
    """Poll `predicate()` until true or `timeout_s` passes (for tests that watch the server)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return bool(predicate())
