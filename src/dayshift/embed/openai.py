"""Embeddings from any OpenAI-compatible server: OpenAI, vLLM, Ollama, llama.cpp, TEI.

    POST {base_url}/embeddings  {"model": ..., "input": [...]}
      -> {"data": [{"index": 0, "embedding": [...]}, ...]}

`base_url` is what the OpenAI SDK calls it: the API root, which on most
servers ends in /v1 (http://localhost:8000/v1, http://localhost:11434/v1).
Rows come back in input order (the response is sorted by `index`), as
L2-normalised float32; `dim` is learned from the first response unless given.

The HTTP policy every dayshift HTTP backend shares lives here too, as plain
functions (`http_client`, `send`, `check`, `json_body`, `post_json`): a timeout
per attempt; retries with exponential backoff and jitter on timeouts,
connection errors, 408, 429 (honouring Retry-After) and 5xx; no retry on other
4xx; every failure raised as the backend's DayshiftError with the setting to
fix. The API key never appears in an error or a log line.

Left out: the query/document distinction (`kind` is ignored: these APIs have
none, so models that want prefixes such as e5's "query: " need them upstream),
the `dimensions` request field (a given `dim` is checked, not requested),
base64 encoding, async clients and token-aware batching.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import numpy as np

from dayshift.embed.base import TextKind, batched, l2_normalise
from dayshift.errors import ConfigError, DayshiftError, EmbeddingError, PluginError

try:
    import httpx
except ImportError as exc:  # pragma: no cover - depends on the install
    raise PluginError('dayshift\'s HTTP backends need httpx: pip install "dayshift[http]"') from exc

log = logging.getLogger(__name__)

BACKOFF_BASE_S = 0.5
BACKOFF_CAP_S = 8.0
MAX_RETRY_AFTER_S = 60.0  # a server asking for a longer pause fails fast instead
_RETRYABLE = frozenset({408, 429})


# --- the shared HTTP policy ---------------------------------------------------


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    """How one HTTP backend retries, and how its errors name their fixes."""

    service: str  # "embedding server", words for messages
    error: type[DayshiftError]
    settings: str  # prefix of the settings named in fixes: "DAYSHIFT_EMBED__"
    max_retries: int = 3
    base_url_hint: str = ""  # appended to "check <prefix>BASE_URL"
    bad_request_fix: str = "check the request settings"
    secret: str | None = None  # redacted from anything the server echoes back

    def setting(self, name: str) -> str:
        return f"{self.settings}{name}"


def http_client(base_url: str, *, api_key: str | None, timeout_s: float) -> httpx.Client:
    """A client for `base_url` whose relative paths keep its path ("v1/" + "embeddings")."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.Client(base_url=base_url.rstrip("/") + "/", headers=headers, timeout=httpx.Timeout(timeout_s))


def send(client: httpx.Client, path: str, payload: dict[str, Any], *, policy: HttpPolicy) -> httpx.Response:
    """POST with retries. Returns the final response (maybe an error status, for `check`)."""
    attempts = policy.max_retries + 1
    for attempt in range(attempts):
        last = attempt == attempts - 1
        try:
            response = client.post(path, json=payload)
        except httpx.TimeoutException as exc:
            if last:
                raise policy.error(_timeout_message(client, path, policy)) from exc
            reason, wait_s = "timed out", backoff_s(attempt)
        except httpx.TransportError as exc:
            if last:
                raise policy.error(_unreachable_message(client, path, policy, exc)) from exc
            reason, wait_s = type(exc).__name__, backoff_s(attempt)
        else:
            if not _retryable(response.status_code) or last:
                return response
            reason, wait_s = f"HTTP {response.status_code}", _retry_wait_s(response, attempt, policy)
        log.warning(
            "%s at %s: %s; retry %d/%d in %.2f s",
            policy.service, display_url(client, path), reason, attempt + 1, policy.max_retries, wait_s,
        )
        time.sleep(wait_s)
    raise AssertionError("unreachable: the last attempt returns or raises")


def check(response: httpx.Response, *, policy: HttpPolicy) -> None:
    """Raise `policy.error` naming the fix unless `response` is a success."""
    if response.is_success:
        return
    code = response.status_code
    where = f"{policy.service} at {_url_of(response)}"
    said = server_message(response, policy)
    if code in (401, 403):
        sent = "" if "authorization" in response.request.headers else " (no key was sent)"
        fix = f"set {policy.setting('API_KEY')} to a valid key{sent}"
    elif code == 404:
        fix = f"check {policy.setting('BASE_URL')}{policy.base_url_hint} and {policy.setting('MODEL')}"
    elif code == 429:
        fix = (
            f"still rate limited after {policy.max_retries + 1} attempts: "
            "send fewer requests or raise the server's limit"
        )
    elif code >= 500 or code == 408:
        fix = f"failed {policy.max_retries + 1} times: check the server's logs"
    else:
        fix = policy.bad_request_fix
    raise policy.error(f"{where} answered HTTP {code} ({said}): {fix}")


def json_body(response: httpx.Response, *, policy: HttpPolicy) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        kind = response.headers.get("content-type", "no content-type")
        start = redact(response.text[:80], policy.secret)
        raise policy.error(
            f"{policy.service} at {_url_of(response)} answered with a body that is not JSON "
            f"({kind}, starting {start!r}): check that {policy.setting('BASE_URL')} points at the API"
            f"{policy.base_url_hint}"
        ) from exc


def post_json(client: httpx.Client, path: str, payload: dict[str, Any], *, policy: HttpPolicy) -> Any:
    """POST `payload`, retrying per `policy`; the decoded JSON of a success."""
    response = send(client, path, payload, policy=policy)
    check(response, policy=policy)
    return json_body(response, policy=policy)


def backoff_s(attempt: int) -> float:
    """Exponential backoff with jitter: attempt 0 -> 0.25..0.5 s, 1 -> 0.5..1 s, ..."""
    return min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt) * random.uniform(0.5, 1.0)


def retry_after_s(response: httpx.Response) -> float | None:
    """Seconds the server asks to wait (Retry-After: seconds or an HTTP date), if it says."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def server_message(response: httpx.Response, policy: HttpPolicy) -> str:
    """The error text a server sent, in any of the common shapes, shortened and redacted."""
    try:
        body = response.json()
    except ValueError:
        body = response.text
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            error = error.get("message")
        body = error or body.get("message") or body.get("detail") or body
    text = " ".join(str(body).split())[:300] or response.reason_phrase
    return redact(text, policy.secret)


def redact(text: str, secret: str | None) -> str:
    return text.replace(secret, "***") if secret else text


def display_url(client: httpx.Client, path: str) -> str:
    """The URL without credentials or query string: safe for messages and logs."""
    return _safe(client.base_url.join(path))


def _url_of(response: httpx.Response) -> str:
    return _safe(response.request.url)


def _safe(url: httpx.URL) -> str:
    return str(url.copy_with(username=None, password=None, query=None))


def _retryable(code: int) -> bool:
    return code in _RETRYABLE or code >= 500


def _retry_wait_s(response: httpx.Response, attempt: int, policy: HttpPolicy) -> float:
    asked = retry_after_s(response)
    if asked is None:
        return backoff_s(attempt)
    if asked > MAX_RETRY_AFTER_S:
        raise policy.error(
            f"{policy.service} at {_url_of(response)} is rate limiting and asks to wait {asked:.0f} s: "
            "try again later, or raise the server's rate limit"
        )
    return asked


def _timeout_message(client: httpx.Client, path: str, policy: HttpPolicy) -> str:
    timeout_s = client.timeout.read
    return (
        f"{policy.service} at {display_url(client, path)} did not answer within {timeout_s} s "
        f"({policy.max_retries + 1} attempts): check that it is up and not overloaded, "
        f"or raise {policy.setting('TIMEOUT_S')}"
    )


def _unreachable_message(client: httpx.Client, path: str, policy: HttpPolicy, exc: Exception) -> str:
    return (
        f"cannot reach the {policy.service} at {display_url(client, path)} "
        f"({policy.max_retries + 1} attempts; {type(exc).__name__}: {redact(str(exc), policy.secret)}): "
        f"check that it is running and that {policy.setting('BASE_URL')} is right"
    )


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

    def __enter__(self) -> OpenAIEmbedder:
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
