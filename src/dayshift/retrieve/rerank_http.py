"""Re-ranking by a rerank HTTP API: Cohere, Jina, vLLM, TEI and their clones.

    POST {base_url}/rerank  {"model", "query", "documents": [...], "top_n"}
      -> {"results": [{"index": 0, "relevance_score": 0.93}, ...]}   Cohere, Jina, vLLM
      -> [{"index": 0, "score": 0.93}, ...]                           TEI

TEI names the documents "texts"; when a server answers 422 about a missing
"texts" field, the request is sent again in TEI's shape, and that shape is
kept for later calls. Timeouts, retries and error wording follow the policy in
dayshift.http; the default is one retry, since this runs on the query
path where a caller would rather fall back to the un-reranked hits.

Left out: batching (the server takes the whole candidate list), truncation
(the server's), and returned document texts (the chunks are already here).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from dayshift.errors import ConfigError, DayshiftError
from dayshift.http import HttpPolicy, check, http_client, json_body, send
from dayshift.types import Hit

log = logging.getLogger(__name__)


class RerankError(DayshiftError):
    """The rerank backend failed. (Belongs in dayshift.errors next to EmbeddingError.)"""


class HttpReranker:
    """Reranker over a /rerank HTTP endpoint."""

    def __init__(
        self,
        *,
        base_url: str,
        model: str | None = None,
        api_key: str | None = None,
        timeout_s: float = 10.0,
        max_retries: int = 1,
        **_: object,
    ) -> None:
        if not base_url or not base_url.startswith(("http://", "https://")):
            raise ConfigError(
                f"the HTTP reranker needs an http(s) URL, got {base_url!r}: set DAYSHIFT_RETRIEVE__RERANK_BASE_URL "
                "(the root that /rerank hangs off, e.g. http://localhost:8080 or https://api.jina.ai/v1)"
            )
        if timeout_s <= 0 or max_retries < 0:
            raise ConfigError(
                f"timeout_s must be positive and max_retries 0 or more (got {timeout_s}, {max_retries}): "
                "fix DAYSHIFT_RETRIEVE__RERANK_TIMEOUT_S / DAYSHIFT_RETRIEVE__RERANK_MAX_RETRIES"
            )
        self.model = model
        self._client = http_client(base_url, api_key=api_key, timeout_s=timeout_s)
        self._documents_field = "documents"  # "texts" once a TEI server has said so
        self._policy = HttpPolicy(
            service="rerank server",
            error=RerankError,
            settings="DAYSHIFT_RETRIEVE__RERANK_",
            max_retries=max_retries,
            base_url_hint=" (the root /rerank hangs off: http://localhost:8080 for TEI, .../v1 for Jina or vLLM)",
            bad_request_fix=(
                "check that DAYSHIFT_RETRIEVE__RERANK_MODEL names a model the server serves; if the "
                "candidates are too long or too many, rerank fewer or shorter chunks"
            ),
            secret=api_key or None,
        )

    def rerank(self, query: str, hits: Sequence[Hit], *, k: int) -> list[Hit]:
        """The best `k` of `hits` by the server's relevance scores, as Hit(source="rerank")."""
        if not hits or k <= 0:
            return []
        top_n = min(k, len(hits))
        body = self._post(query, [hit.chunk.text for hit in hits], top_n=top_n)
        scored = _scores(body, count=len(hits), policy=self._policy)
        scored.sort(key=lambda pair: (-pair[1], pair[0]))
        return [Hit(chunk=hits[i].chunk, score=score, source="rerank") for i, score in scored[:top_n]]

    def close(self) -> None:
        self._client.close()

    def _post(self, query: str, texts: list[str], *, top_n: int) -> Any:
        response = send(self._client, "rerank", self._payload(query, texts, top_n=top_n), policy=self._policy)
        if response.status_code == 422 and self._documents_field == "documents" and "texts" in response.text:
            log.info("the rerank server at %s wants TEI's request shape; keeping it", response.request.url.host)
            self._documents_field = "texts"
            response = send(self._client, "rerank", self._payload(query, texts, top_n=top_n), policy=self._policy)
        check(response, policy=self._policy)
        return json_body(response, policy=self._policy)

    def _payload(self, query: str, texts: list[str], *, top_n: int) -> dict[str, Any]:
        if self._documents_field == "texts":  # TEI: no model, no top_n; scores in [0, 1]
            return {"query": query, "texts": texts, "raw_scores": False}
        payload: dict[str, Any] = {"query": query, "documents": texts, "top_n": top_n}
        if self.model:
            payload["model"] = self.model
        return payload


def _scores(body: Any, *, count: int, policy: HttpPolicy) -> list[tuple[int, float]]:
    # {"results": [{"index", "relevance_score"}]} | [{"index", "score"}] -> [(index, score)]
    results = body.get("results") if isinstance(body, dict) else body
    if not isinstance(results, list):
        raise _bad(policy, "has no 'results' list")
    scored: list[tuple[int, float]] = []
    for item in results:
        index = item.get("index") if isinstance(item, dict) else None
        score = item.get("relevance_score", item.get("score")) if isinstance(item, dict) else None
        if not isinstance(index, int) or not 0 <= index < count:
            raise _bad(policy, f"has a result with index {index!r}, outside 0..{count - 1}")
        if not isinstance(score, int | float):
            raise _bad(policy, f"has a result without a numeric relevance_score/score: {str(item)[:100]}")
        scored.append((index, float(score)))
    if len({index for index, _ in scored}) != len(scored):
        raise _bad(policy, "ranks the same document twice")
    return scored


def _bad(policy: HttpPolicy, what: str) -> DayshiftError:
    return policy.error(
        f"the rerank server's answer {what}: check that DAYSHIFT_RETRIEVE__RERANK_BASE_URL points at a "
        "Cohere/Jina/vLLM/TEI-style rerank API"
    )

