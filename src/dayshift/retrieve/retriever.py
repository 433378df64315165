r"""Keyword, dense and hybrid retrieval over a store, with filters and re-ranking.

    query --analyse--> keyword top-N  --\            (a worker thread, while the query embeds)
          --cut (retrieve.dense_query_tokens)--embed--> dense top-N --fuse (rrf | weighted)--> [rerank] --> top-k

`search(..., per_document=True)` returns k distinct documents, each at its best
chunk: both lists are deepened until they hold N documents (retrieve/documents.py)
and fused per document, so a document's keyword and dense evidence add up even
when different chunks of it matched; documents that ingest dropped as duplicates
follow the one kept, under their own ids (retrieve/aliases.py). Timings of each
stage are kept on the result for tracing and benchmarks.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from threading import Lock
from typing import Literal

import numpy as np

from dayshift.analysis import analyze
from dayshift.embed.base import Embedder
from dayshift.fusion import HitKey, chunk_key, document_key, reciprocal_rank_fusion, weighted_fusion
from dayshift.retrieve.aliases import DuplicateAliases
from dayshift.retrieve.documents import best_per_document, deepen
from dayshift.retrieve.query import dense_query
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
        aliases: DuplicateAliases | None = None,
    ) -> None:
        self.store = store
        self.aliases = aliases  # per-document search returns de-duplicated documents under their own ids
        self.embedder = embedder
        self.settings = settings or RetrieveSettings()
        self.reranker = reranker
        self._keyword_thread: ThreadPoolExecutor | None = None
        self._thread_lock = Lock()

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        mode: Mode | None = None,
        where: Sequence[Condition] = (),
        per_document: bool = False,
    ) -> SearchResult:
        """The best `k` chunks for `query` (or, `per_document`, the best chunk of each of the best `k` documents)."""
        started = time.perf_counter()
        mode = mode or self.settings.mode
        timings: dict[str, float] = {}
        depth = max(k, self.settings.candidates)
        keep = max(k, self.settings.rerank_candidates) if self.reranker else k
        if (mode == "hybrid" and self.settings.fusion == "weighted" and isinstance(self.store, HybridSearcher)
                and not per_document):  # fmt: skip
            hits, raw_scores = self._search_in_store(
                self.store, query, depth=depth, keep=keep, where=where, timings=timings
            )
        else:
            hits, raw_scores = self._search_and_fuse(
                query, mode, depth=depth, keep=keep, where=where, timings=timings, per_document=per_document
            )
        if self.reranker and hits:
            with _timed(timings, "rerank"):
                hits = self.reranker.rerank(query, hits, k=k)
        if per_document and self.aliases is not None:
            with _timed(timings, "aliases"):
                hits = self.aliases.expand(hits[:k])
        # Wall time: the keyword stage overlaps the embedding, so the stages add up to more than this.
        timings["total"] = (time.perf_counter() - started) * 1000.0
        return SearchResult(hits=hits[:k], timings_ms=timings, raw_scores=raw_scores)

    def close(self) -> None:
        if self._keyword_thread is not None:
            self._keyword_thread.shutdown(wait=False)

    def document_lists(self, query: str, *, where: Sequence[Condition] = ()) -> tuple[list[Hit], list[Hit]]:
        """(keyword, dense) hits, one per document at its best chunk, each list N documents deep:
        what hybrid document search fuses (`dayshift calibrate --retrieval` tries fusions on them)."""
        keyword, dense = self._lists(query, "hybrid", depth=self.settings.candidates, where=where, timings={},
                                     per_document=True)  # fmt: skip
        depth = self.settings.candidates
        return best_per_document(keyword)[:depth], best_per_document(dense)[:depth]

    def _search_and_fuse(
        self,
        query: str,
        mode: Mode,
        *,
        depth: int,
        keep: int,
        where: Sequence[Condition],
        timings: dict[str, float],
        per_document: bool,
    ) -> tuple[list[Hit], dict[str, dict[str, float]]]:
        lists = self._lists(query, mode, depth=depth, where=where, timings=timings, per_document=per_document)
        raw_scores = {
            stage: {h.chunk.chunk_id: h.score for h in hits}
            for stage, hits in zip([m for m in ("keyword", "dense") if mode in (m, "hybrid")], lists)
        }
        with _timed(timings, "fuse"):
            if per_document:
                lists = [best_per_document(hits)[:depth] for hits in lists]
            key = document_key if per_document else chunk_key
            hits = self._fuse(lists, k=keep, key=key) if mode == "hybrid" else lists[0][:keep]
        return hits, raw_scores

    def _lists(
        self, query: str, mode: Mode, *, depth: int, where: Sequence[Condition], timings: dict[str, float],
        per_document: bool,
    ) -> list[list[Hit]]:
        """The keyword and/or dense chunk lists, in that order; with `per_document`, each deep enough
        to hold `depth` documents (a document's chunks share its place, so more chunks are read)."""

        def ranked(search: Callable[[int], list[Hit]]) -> list[Hit]:
            # ~2 chunks per document is the usual spread (SciFact: 1.9), so start there
            return deepen(search, documents=depth, first=2 * depth) if per_document else search(depth)

        lists: list[list[Hit]] = []
        keyword: Future[list[Hit]] | None = None
        if mode in ("keyword", "hybrid"):
            terms: list[str] = []  # analysed inside the keyword stage, on first use

            def search_terms(n: int) -> list[Hit]:
                terms[:] = terms or analyze(query)
                return self.store.keyword_search(terms, k=n, where=where)

            # BM25 runs on another thread while this one embeds the query (the ONNX encoder
            # releases Python's lock); alone, it runs here.
            call = _timed_call(timings, "keyword", ranked, search_terms)
            if mode == "hybrid":
                keyword = self._submit(call)
            else:
                lists.append(call())
        if mode in ("dense", "hybrid"):
            vector = self._embed_query(query, timings)
            if keyword is not None:
                lists.append(keyword.result())
            with _timed(timings, "dense"):
                lists.append(ranked(lambda n: self.store.dense_search(vector, k=n, where=where)))
        return latest_versions_only(lists)

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
        vector = self._embed_query(query, timings)
        with _timed(timings, "hybrid"):
            found = store.hybrid_search(analyze(query), vector, k=keep, where=where, candidates=depth,
                                        dense_weight=self.settings.dense_weight)  # fmt: skip
        return found.hits, {"keyword": found.keyword_scores, "dense": found.dense_scores}

    def _embed_query(self, query: str, timings: dict[str, float]) -> np.ndarray:
        with _timed(timings, "embed"):
            text = dense_query(query, tokenizer=self.embedder.tokenizer, max_tokens=self.settings.dense_query_tokens)
            return self.embedder.embed([text], kind="query")[0]

    def _submit(self, call: Callable[[], list[Hit]]) -> Future[list[Hit]]:
        with self._thread_lock:
            if self._keyword_thread is None:
                self._keyword_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dayshift-keyword")
            return self._keyword_thread.submit(call)

    def _fuse(self, lists: list[list[Hit]], *, k: int, key: HitKey = chunk_key) -> list[Hit]:
        s = self.settings
        if s.fusion == "weighted":
            return weighted_fusion(lists, k=k, weights=[1.0 - s.dense_weight, s.dense_weight], key=key)
        return reciprocal_rank_fusion(lists, k=k, rrf_k=s.rrf_k, key=key)


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


def _timed_call(
    timings: dict[str, float], stage: str, ranked: Callable[[Callable[[int], list[Hit]]], list[Hit]],
    search: Callable[[int], list[Hit]],
) -> Callable[[], list[Hit]]:
    def call() -> list[Hit]:
        with _timed(timings, stage):
            return ranked(search)

    return call


class _timed:
    def __init__(self, timings: dict[str, float], stage: str) -> None:
        self.timings, self.stage = timings, stage

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *_: object) -> None:
        self.timings[self.stage] = (time.perf_counter() - self.start) * 1000.0
