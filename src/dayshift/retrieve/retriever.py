"""Keyword, dense and hybrid retrieval over a store, with filters and re-ranking.

    query --analyse--> keyword top-N  --\
          --embed---> dense top-N     ----fuse (rrf | weighted)--> [rerank] --> top-k hits

Timings of each stage are kept on the result for tracing and benchmarks.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from dayshift.analysis import analyze
from dayshift.embed.base import Embedder
from dayshift.fusion import reciprocal_rank_fusion, weighted_fusion
from dayshift.retrieve.rerank import Reranker
from dayshift.settings import RetrieveSettings
from dayshift.store.base import ChunkSearcher
from dayshift.store.hybrid import HybridSearcher
from dayshift.types import Condition, Hit

Mode = Literal["hybrid", "keyword", "dense"]


@dataclass(slots=True)
class SearchResult:
    hits: list[Hit]
    timings_ms: dict[str, float] = field(default_factory=dict)  # stage -> milliseconds
    # Raw per-retriever scores before fusion (chunk_id -> score): BM25 for
    # "keyword", cosine for "dense". Absolute evidence for abstention.
    raw_scores: dict[str, dict[str, float]] = field(default_factory=dict)


class Retriever:
    def __init__(
        self,
        store: ChunkSearcher,
        embedder: Embedder,
        *,
        settings: RetrieveSettings | None = None,
        reranker: Reranker | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.settings = settings or RetrieveSettings()
        self.reranker = reranker

    def search(
        self, query: str, *, k: int = 10, mode: Mode | None = None, where: Sequence[Condition] = ()
    ) -> SearchResult:
        mode = mode or self.settings.mode
        timings: dict[str, float] = {}
        depth = max(k, self.settings.candidates)
        keep = max(k, self.settings.rerank_candidates) if self.reranker else k
        if mode == "hybrid" and self.settings.fusion == "weighted" and isinstance(self.store, HybridSearcher):
            hits, raw_scores = self._search_in_store(
                self.store, query, depth=depth, keep=keep, where=where, timings=timings
            )
        else:
            hits, raw_scores = self._search_and_fuse(query, mode, depth=depth, keep=keep, where=where, timings=timings)
        if self.reranker and hits:
            with _timed(timings, "rerank"):
                hits = self.reranker.rerank(query, hits, k=k)
        timings["total"] = sum(timings.values())
        return SearchResult(hits=hits[:k], timings_ms=timings, raw_scores=raw_scores)

    def _search_and_fuse(
        self, query: str, mode: Mode, *, depth: int, keep: int, where: Sequence[Condition], timings: dict[str, float]
    ) -> tuple[list[Hit], dict[str, dict[str, float]]]:
        lists: list[list[Hit]] = []
        if mode in ("keyword", "hybrid"):
            with _timed(timings, "keyword"):
                lists.append(self.store.keyword_search(analyze(query), k=depth, where=where))
        if mode in ("dense", "hybrid"):
            with _timed(timings, "embed"):
                vector = self.embedder.embed([query], kind="query")[0]
            with _timed(timings, "dense"):
                lists.append(self.store.dense_search(vector, k=depth, where=where))
        lists = latest_versions_only(lists)
        raw_scores = {
            stage: {h.chunk.chunk_id: h.score for h in hits}
            for stage, hits in zip([m for m in ("keyword", "dense") if mode in (m, "hybrid")], lists)
        }
        with _timed(timings, "fuse"):
            hits = self._fuse(lists, k=keep) if mode == "hybrid" else lists[0][:keep]
        return hits, raw_scores

    def _search_in_store(
        self,
        store: HybridSearcher,
        query: str,
        *,
        depth: int,
        keep: int,
        where: Sequence[Condition],
        timings: dict[str, float],
    ) -> tuple[list[Hit], dict[str, dict[str, float]]]:
        """Both lists and the weighted fusion in the store, in one call (one snapshot, no version mix)."""
        with _timed(timings, "embed"):
            vector = self.embedder.embed([query], kind="query")[0]
        with _timed(timings, "hybrid"):
            found = store.hybrid_search(analyze(query), vector, k=keep, where=where, candidates=depth,
                                        dense_weight=self.settings.dense_weight)  # fmt: skip
        return found.hits, {"keyword": found.keyword_scores, "dense": found.dense_scores}

    def _fuse(self, lists: list[list[Hit]], *, k: int) -> list[Hit]:
        s = self.settings
        if s.fusion == "weighted":
            return weighted_fusion(lists, k=k, weights=[1.0 - s.dense_weight, s.dense_weight])
        return reciprocal_rank_fusion(lists, k=k, rrf_k=s.rrf_k)


def latest_versions_only(lists: list[list[Hit]]) -> list[list[Hit]]:
    """Drop hits of a document version that a newer one replaced between two reads.

    Keyword and dense lists are read one after the other; if an ingest commits
    in between, they can hold different versions of one document. Only the
    newer version (later `ingested_at`) stays, in every list, before fusion.
    """
    newest: dict[str, tuple[float, str]] = {}
    for hit in (h for hits in lists for h in hits):
        c = hit.chunk
        if c.doc_id not in newest or c.ingested_at > newest[c.doc_id][0]:
            newest[c.doc_id] = (c.ingested_at, c.doc_version)
    return [[h for h in hits if h.chunk.doc_version == newest[h.chunk.doc_id][1]] for hits in lists]


class _timed:
    def __init__(self, timings: dict[str, float], stage: str) -> None:
        self.timings, self.stage = timings, stage

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *_: object) -> None:
        self.timings[self.stage] = (time.perf_counter() - self.start) * 1000.0
