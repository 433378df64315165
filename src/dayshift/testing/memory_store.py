"""An honest in-memory store for tests: dicts, exact BM25, exact cosine.

    chunk row id (int) -> Chunk, unit vector (dim,) float32, analysed terms

`MemoryStore` implements the whole `dayshift.store.base.Store` protocol and
passes the same contract suite as every real backend
(`dayshift.testing.store_contract`). BM25 comes from the shared
`dayshift.store.embedded.keyword.KeywordIndex` over `dayshift.analysis` terms, so its
keyword scores are those of the embedded store; dense scores are the dot
product of unit vectors (their cosine). Filters follow the embedded store's
SQL semantics (`dayshift.store.embedded.filters`), evaluated in Python.

Left out: persistence, processes, concurrency beyond one lock, and HNSW.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import numpy as np

from dayshift.analysis import analyze
from dayshift.store.base import StoreStats, checked_vectors
from dayshift.store.embedded.keyword import KeywordIndex
from dayshift.store.filter_semantics import check_condition, holds
from dayshift.types import Chunk, Condition, Hit, MetaValue

_COLUMNS = frozenset({"source", "doc_id", "doc_version", "title", "page", "chunk_id"})


class MemoryStore:
    """Dict-based store; `space` and `dim` are checked like a real store's."""

    def __init__(self, *, space: str, dim: int) -> None:
        self.space, self.dim = space, dim
        self._lock = threading.RLock()
        self._chunks: dict[int, Chunk] = {}  # row id -> chunk
        self._vectors: dict[int, np.ndarray] = {}  # row id -> (dim,) float32
        self._docs: dict[str, list[int]] = {}  # doc_id -> row ids
        self._keyword = KeywordIndex()
        self._next_row = 1

    # -- writing ----------------------------------------------------------

    def replace_document(self, doc_id: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        vectors = checked_vectors(doc_id, chunks, vectors, dim=self.dim, space=self.space)
        with self._lock:
            self._delete(doc_id)
            rows = list(range(self._next_row, self._next_row + len(chunks)))
            self._next_row += len(chunks)
            for row, chunk, vector in zip(rows, chunks, vectors):
                self._chunks[row], self._vectors[row] = chunk, vector.copy()
            if rows:
                self._docs[doc_id] = rows
                self._keyword.add(rows, [analyze(c.indexed_text) for c in chunks])

    def delete_documents(self, doc_ids: Sequence[str]) -> int:
        with self._lock:
            return sum(self._delete(doc_id) for doc_id in doc_ids)

    def _delete(self, doc_id: str) -> int:
        rows = self._docs.pop(doc_id, [])
        for row in rows:
            del self._chunks[row], self._vectors[row]
        self._keyword.remove(rows)
        return len(rows)

    # -- searching --------------------------------------------------------

    def keyword_search(self, terms: Sequence[str], *, k: int, where: Sequence[Condition] = ()) -> list[Hit]:
        with self._lock:
            allowed = None if not where else np.array(self._allowed(where), dtype=np.int64)
            ids, scores = self._keyword.search(terms, k=k, allowed=allowed)
            return [Hit(self._chunks[i], float(s), "keyword") for i, s in zip(ids.tolist(), scores.tolist())]

    def dense_search(self, vector: np.ndarray, *, k: int, where: Sequence[Condition] = ()) -> list[Hit]:
        with self._lock:
            rows = self._allowed(where) if where else list(self._chunks)
            if not rows or k <= 0:
                return []
            scores = np.stack([self._vectors[r] for r in rows]) @ np.asarray(vector, dtype=np.float32)
            order = np.argsort(-scores, kind="stable")[:k]
            return [Hit(self._chunks[rows[i]], float(scores[i]), "dense") for i in order.tolist()]

    def _allowed(self, where: Sequence[Condition]) -> list[int]:
        for cond in where:
            check_condition(cond)
        return [row for row, chunk in self._chunks.items() if all(_matches(chunk, cond) for cond in where)]

    # -- information ------------------------------------------------------

    def stats(self) -> StoreStats:
        with self._lock:
            empty = not self._chunks
            return StoreStats(
                documents=len(self._docs),
                chunks=len(self._chunks),
                space=None if empty else self.space,
                dim=None if empty else self.dim,
                size_bytes=sum(v.nbytes for v in self._vectors.values()),
            )

    def document_versions(self) -> dict[str, str]:
        with self._lock:
            return {doc_id: min(self._chunks[r].doc_version for r in rows) for doc_id, rows in self._docs.items()}

    def export_documents(self) -> Iterator[tuple[str, list[Chunk], np.ndarray]]:
        with self._lock:
            docs = {doc_id: list(rows) for doc_id, rows in sorted(self._docs.items())}
        for doc_id, rows in docs.items():
            with self._lock:
                if doc_id not in self._docs:
                    continue
                rows = sorted(rows, key=lambda r: self._chunks[r].ordinal)
                chunks = [self._chunks[r] for r in rows]
                vectors = np.stack([self._vectors[r] for r in rows]).astype(np.float32)
            yield doc_id, chunks, vectors

    def flush(self) -> None:
        """Nothing is derived, so nothing to persist."""

    def close(self) -> None:
        pass


# -- filters: the SQL semantics of dayshift.store.embedded.filters, in Python ----


def _matches(chunk: Chunk, cond: Condition) -> bool:
    return holds(cond, None if cond.field == "section" else _field(chunk, cond.field), chunk.section)


def _field(chunk: Chunk, field: str) -> MetaValue | None:
    if field in _COLUMNS:
        return getattr(chunk, field)  # type: ignore[no-any-return]
    return chunk.metadata.get(field)
