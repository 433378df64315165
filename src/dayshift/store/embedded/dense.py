"""In-memory dense index over integer ids: exact search, plus HNSW for large sets.

    ids (n,) int64 --> unit vectors (n, dim) float32

Exact (one matrix product) is used for small collections and for filtered
queries whose filter keeps at most `exact_filter_rows` rows (the filter names
them, so the scan is short and its recall 1.0); an hnswlib graph serves the
other queries once the collection reaches `hnsw_min_rows`, with a broad filter
applied inside its graph walk. The
graph can be saved and loaded so that a new process does not rebuild it.

Left out: product quantisation and on-disk vectors; at dayshift's embedded
scale (up to a few million chunks) float32 in RAM is the simpler trade.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

HNSW_M = 16  # 0.96 recall at 0.6 ms on 100k embedding-like vectors; M=32 builds 2-3x slower (ADR 0002)
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 128
# A filter that keeps at most this many rows is answered by an exact scan of them (recall 1.0, about
# 1 ms per 10,000 rows); above it, HNSW searches with the filter inside the graph walk, which costs
# less as the filter keeps more. Each query measures its filter's selectivity (benchmarks/scale.py).
EXACT_FILTER_ROWS = 20_000


class DenseIndex:
    def __init__(self, dim: int, *, hnsw_min_rows: int = 50_000, threads: int = 0, ef_search: int = HNSW_EF_SEARCH,
                 exact_filter_rows: int = EXACT_FILTER_ROWS) -> None:  # fmt: skip
        self.dim = dim
        self.hnsw_min_rows = hnsw_min_rows
        self.ef_search = ef_search
        self.exact_filter_rows = exact_filter_rows
        self._threads = threads or (os.cpu_count() or 1)
        self._ids = np.empty(0, dtype=np.int64)
        self._matrix = np.empty((0, dim), dtype=np.float32)
        self._size = 0
        self._live = np.empty(0, dtype=bool)
        self._pos: dict[int, int] = {}
        self._hnsw = None  # hnswlib.Index once built or loaded

    def __len__(self) -> int:
        return len(self._pos)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return
        self.remove(ids[np.isin(ids, self._ids[: self._size])])  # re-adding an id replaces it
        self._grow(self._size + len(ids))
        end = self._size + len(ids)
        self._ids[self._size : end] = ids
        self._matrix[self._size : end] = vectors
        self._live[self._size : end] = True
        self._pos.update(zip(ids.tolist(), range(self._size, end)))
        self._size = end
        if self._hnsw is not None:
            self._hnsw_add(ids, vectors)

    def remove(self, ids: np.ndarray) -> None:
        for i in np.asarray(ids, dtype=np.int64).tolist():
            pos = self._pos.pop(i, None)
            if pos is None:
                continue
            self._live[pos] = False
            if self._hnsw is not None:
                self._hnsw.mark_deleted(i)
        if self._size and len(self._pos) < 0.75 * self._size:
            self._compact()

    def search(self, vector: np.ndarray, *, k: int, allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(ids, cosine scores), best first. `allowed` restricts to those ids (exact search)."""
        if not self._pos or k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        if allowed is None and len(self._pos) >= self.hnsw_min_rows:
            return self._search_hnsw(vector, k=k)
        vector = vector.astype(np.float32)
        if allowed is None:  # score the matrix in place; copying it would cost more than the product
            scores = self._matrix[: self._size] @ vector
            scores[~self._live[: self._size]] = -np.inf
            top = _top_k(scores, min(k, len(self._pos)))
            return self._ids[top], scores[top]
        positions = np.array([p for i in np.asarray(allowed).tolist() if (p := self._pos.get(i)) is not None])
        if len(positions) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        if len(positions) > self.exact_filter_rows and len(self._pos) >= self.hnsw_min_rows:
            found = self._search_hnsw(vector, k=k, keep=self._ids[positions])
            if len(found[0]) >= min(k, len(positions)):
                return found
        scores = self._matrix[positions] @ vector
        top = _top_k(scores, k)
        return self._ids[positions[top]], scores[top]

    # -- HNSW -------------------------------------------------------------

    def build_hnsw(self) -> None:
        import hnswlib

        live = np.flatnonzero(self._live[: self._size])
        index = hnswlib.Index(space="ip", dim=self.dim)
        index.init_index(max_elements=max(len(live) * 2, 1024), ef_construction=HNSW_EF_CONSTRUCTION, M=HNSW_M)
        index.set_num_threads(self._threads)
        index.add_items(self._matrix[live], self._ids[live])
        index.set_ef(self.ef_search)
        self._hnsw = index

    def save_hnsw(self, path: Path) -> None:
        if self._hnsw is None:
            return
        tmp = path.with_suffix(".tmp")
        self._hnsw.save_index(str(tmp))
        os.replace(tmp, path)

    def load_hnsw(self, path: Path) -> bool:
        """Load a saved graph; ids it holds that are no longer live are marked deleted."""
        import hnswlib

        if not path.exists():
            return False
        index = hnswlib.Index(space="ip", dim=self.dim)
        index.load_index(str(path), allow_replace_deleted=False)
        index.set_ef(self.ef_search)
        index.set_num_threads(self._threads)
        labels = np.asarray(index.get_ids_list(), dtype=np.int64)
        for stale in labels[~np.isin(labels, self._ids[: self._size][self._live[: self._size]])].tolist():
            try:
                index.mark_deleted(stale)
            except RuntimeError:  # already marked deleted when the graph was saved
                pass
        self._hnsw = index
        held = set(labels.tolist())
        missing = np.array([i for i in self._pos if i not in held], dtype=np.int64)
        if len(missing):
            self._hnsw_add(missing, self._matrix[[self._pos[i] for i in missing.tolist()]])
        return True

    @property
    def has_hnsw(self) -> bool:
        return self._hnsw is not None

    def _hnsw_add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        assert self._hnsw is not None
        needed = self._hnsw.element_count + len(ids)
        if needed > self._hnsw.max_elements:
            self._hnsw.resize_index(needed * 2)
        self._hnsw.add_items(vectors, ids)

    def set_ef(self, ef_search: int) -> None:
        self.ef_search = ef_search
        if self._hnsw is not None:
            self._hnsw.set_ef(ef_search)

    def _search_hnsw(self, vector: np.ndarray, *, k: int, keep: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """HNSW top k; with `keep` (ids), only those are returned, the filter applied inside the graph walk."""
        if self._hnsw is None:
            self.build_hnsw()
        assert self._hnsw is not None
        k = min(k, len(self._pos) if keep is None else len(keep))
        if keep is None:
            labels, distances = self._hnsw.knn_query(vector.reshape(1, -1), k=k)
        else:
            kept = np.zeros(int(keep.max()) + 1, dtype=bool)
            kept[keep] = True
            limit = len(kept)
            try:
                labels, distances = self._hnsw.knn_query(
                    vector.reshape(1, -1), k=k, num_threads=1, filter=lambda label: label < limit and kept[label]
                )
            except RuntimeError:  # fewer than k reachable under the filter: the caller scans exactly
                return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        return labels[0].astype(np.int64), (1.0 - distances[0]).astype(np.float32)

    # -- storage ----------------------------------------------------------

    def _grow(self, needed: int) -> None:
        if needed <= len(self._ids):
            return
        capacity = max(needed, 2 * len(self._ids), 1024)
        self._ids = np.resize(self._ids, capacity)
        self._live = np.resize(self._live, capacity)
        matrix = np.empty((capacity, self.dim), dtype=np.float32)
        matrix[: self._size] = self._matrix[: self._size]
        self._matrix = matrix

    def _compact(self) -> None:
        keep = np.flatnonzero(self._live[: self._size])
        self._ids = self._ids[keep].copy()
        self._matrix = self._matrix[keep].copy()
        self._live = np.ones(len(keep), dtype=bool)
        self._size = len(keep)
        self._pos = dict(zip(self._ids.tolist(), range(self._size)))


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    if len(scores) <= k:
        return np.argsort(-scores)
    part = np.argpartition(-scores, k)[:k]
    return part[np.argsort(-scores[part])]
