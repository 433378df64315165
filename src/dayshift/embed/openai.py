"""Embeddings from any OpenAI-compatible server: OpenAI, vLLM, Ollama, llama.cpp, TEI.

    POST {base_url}/embeddings  {"model": ..., "input": [...]}
      -> {"data": [{"index": 0, "embedding": [...]}, ...]}

`base_url` is what the OpenAI SDK calls it: the API root, which on most
servers ends in /v1 (http://localhost:8000/v1, http://localhost:11434/v1).
Rows come back in input order (the response is sorted by `index`), as
L2-normalised float32; `dim` is learned from the first response unless given.

Timeouts, retries (with Retry-After) and error messages follow the one HTTP
policy of `dayshift.http`; every failure is an EmbeddingError naming the
setting to fix, and the API key never appears in an error or a log line.

Left out: the query/document distinction (`kind` is ignored: these APIs have
none, so models that want prefixes such as e5's "query: " need them upstream),
the `dimensions` request field (a given `dim` is checked, not requested),
base64 encoding, async clients and token-aware batching.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Self

import numpy as np

from dayshift.embed.base import TextKind, batched, l2_normalise
from dayshift.errors import ConfigError, EmbeddingError, PluginError

try:
    from dayshift.http import HttpPolicy, http_client, post_json
except ImportError as exc:  # pragma: no cover - depends on the install
    raise PluginError('dayshift\'s HTTP backends need httpx: pip install "dayshift[http]"') from exc


# --- the approximate tokenizer ------------------------------------------------

# One token per: CJK/kana/hangul character, run of up to 3 digits, run of up to 8
# letters, punctuation mark. Real BPE/WordPiece vocabularies differ by model and
# are not exposed over HTTP, so this only approximates them; it errs towards
# counting more tokens than a typical English tokenizer, keeping chunks in budget.
_CJK = r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]"
_TOKEN = re.compile(rf"{_CJK}|\d{{1,3}}|[^\W\d_]{{1,8}}|[^\w\s]|_")


class ApproxTokenizer:
    """An approximate, model-independent Tokenizer: word pieces and punctuation.

    For chunk sizing against a remote model whose tokenizer is unknown here;
    expect counts within roughly +-30% of the model's own on English prose.
    """

    def count(self, text: str) -> int:
        return sum(1 for _ in _TOKEN.finditer(text))

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in _TOKEN.finditer(text)]


# --- the embedder -------------------------------------------------------------


class OpenAIEmbedder:
    """Embedder over an OpenAI-compatible /embeddings endpoint."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None = None,
        dim: int | None = None,
        batch_size: int = 64,
        timeout_s: float = 30.0,
        max_retries: int = 3,
        **_: object,
    ) -> None:
        _validate(
            base_url=base_url, model=model, dim=dim, batch_size=batch_size, timeout_s=timeout_s, max_retries=max_retries
        )
        self.model = model
        self.space = f"openai:{model}"
        self.batch_size = batch_size
        self.tokenizer = ApproxTokenizer()
        self._dim = dim
        self._client = http_client(base_url, api_key=api_key, timeout_s=timeout_s)
        self._policy = HttpPolicy(
            service="embedding server",
            error=EmbeddingError,
            settings="DAYSHIFT_EMBED__",
            max_retries=max_retries,
            base_url_hint=" (for most servers it ends in /v1, e.g. http://localhost:8000/v1)",
            bad_request_fix=(
                "check that DAYSHIFT_EMBED__MODEL names a model the server serves; if the inputs "
                "are too long, lower DAYSHIFT_EMBED__BATCH_SIZE or the chunk size"
            ),
            secret=api_key or None,
        )

    @property
    def dim(self) -> int:
        """Vector width; asks the server once (a one-word probe) if not known yet."""
        if self._dim is None:
            self._embed_batch(["dimension probe"])
        assert self._dim is not None
        return self._dim

    @dim.setter
    def dim(self, value: int) -> None:  # the Embedder protocol declares `dim` as a plain attribute
        self._dim = value

    def embed(self, texts: Sequence[str], *, kind: TextKind = "document") -> np.ndarray:
        """(len(texts), dim) float32, rows L2-normalised, in input order. `kind` is ignored."""
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        return np.vstack([self._embed_batch(batch) for _, batch in batched(texts, batch_size=self.batch_size)])

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        body = post_json(self._client, "embeddings", {"model": self.model, "input": list(texts)}, policy=self._policy)
        vectors = self._vectors(body, count=len(texts))
        if self._dim is None:
            self._dim = vectors.shape[1]
        elif vectors.shape[1] != self._dim:
            raise EmbeddingError(
                f"{self.model} returned {vectors.shape[1]}-d vectors but dim is {self._dim}: set "
                f"DAYSHIFT_EMBED__DIM to {vectors.shape[1]} or unset it (an index built with "
                f"{self._dim}-d vectors must be rebuilt for this model)"
            )
        return l2_normalise(vectors)

    def _vectors(self, body: Any, *, count: int) -> np.ndarray:
        # {"data": [{"index": i, "embedding": [float, ...]}, ...]} -> (count, dim) in index order
        def bad(what: str) -> EmbeddingError:
            return EmbeddingError(
                f"the embedding server's answer {what}: check that DAYSHIFT_EMBED__BASE_URL points at an "
                "OpenAI-compatible API (for most servers it ends in /v1)"
            )

        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise bad("has no 'data' list of embeddings")
        if len(data) != count:
            raise bad(f"holds {len(data)} embeddings for {count} inputs")
        positions = [item.get("index", n) for n, item in enumerate(data)]
        if sorted(positions) != list(range(count)):
            raise bad(f"has indices {sorted(positions)[:10]} rather than 0..{count - 1}")
        rows = [item.get("embedding") for _, item in sorted(zip(positions, data), key=lambda pair: pair[0])]
        try:
            vectors = np.asarray(rows, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise bad("holds embeddings that are not equal-length lists of numbers") from exc
        if vectors.ndim != 2 or vectors.shape[1] == 0 or not np.isfinite(vectors).all():
            raise bad("holds embeddings that are not equal-length lists of finite numbers")
        return vectors


def _validate(
    *, base_url: str, model: str, dim: int | None, batch_size: int, timeout_s: float, max_retries: int
) -> None:
    if not base_url or not base_url.startswith(("http://", "https://")):
        raise ConfigError(
            f"the OpenAI-compatible embedder needs an http(s) URL, got {base_url!r}: set DAYSHIFT_EMBED__BASE_URL "
            "(for example http://localhost:8000/v1)"
        )
    if not model:
        raise ConfigError("the OpenAI-compatible embedder needs a model name: set DAYSHIFT_EMBED__MODEL")
    if dim is not None and dim < 1:
        raise ConfigError(f"dim must be positive, got {dim}: fix DAYSHIFT_EMBED__DIM or unset it")
    if batch_size < 1:
        raise ConfigError(f"batch_size must be at least 1, got {batch_size}: fix DAYSHIFT_EMBED__BATCH_SIZE")
    if timeout_s <= 0:
        raise ConfigError(f"timeout_s must be positive, got {timeout_s}: fix DAYSHIFT_EMBED__TIMEOUT_S")
    if max_retries < 0:
        raise ConfigError(f"max_retries must be 0 or more, got {max_retries}: fix DAYSHIFT_EMBED__MAX_RETRIES")
