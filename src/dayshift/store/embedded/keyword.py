"""In-memory BM25 over integer ids, updated incrementally.

    ids (n,) int64, terms per id --> sparse term-frequency segments --> BM25 top-k

Postings live in two CSC segments: a large `base` and a small `delta` that
takes new rows. Only the delta is rebuilt when rows arrive; it is merged into
the base once it grows past a fraction of it, so an update costs time in
proportion to what changed, not to the collection. Deletions clear a live
mask and the document frequencies, so IDF and average length always describe
exactly the live rows.

    score(d, q) = sum_t idf(t) * tf(t,d) * (k1 + 1) / (tf(t,d) + k1 * (1 - b + b * len(d) / avglen))
    idf(t)      = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5))            (Lucene's, never negative)

Left out: phrase and proximity scoring, and field weights (the context header
is already part of each chunk's indexed text).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from dayshift.store.bm25 import K1, B

_MERGE_FRACTION = 0.2


class KeywordIndex:
    def __init__(self, *, k1: float = K1, b: float = B) -> None:
        self.k1, self.b = k1, b
        self._vocab: dict[str, int] = {}
        self._df = np.zeros(0, dtype=np.int64)  # live document frequency per term id
        self._ids = np.empty(0, dtype=np.int64)  # position -> id
        self._lengths = np.empty(0, dtype=np.float32)  # position -> number of terms
        self._live = np.empty(0, dtype=bool)
        self._pos: dict[int, int] = {}
        self._row_terms: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # position -> (term ids, tfs)
        self._base = sparse.csc_matrix((0, 0), dtype=np.float32)  # (positions, terms)
        self._base_rows = 0
        self._delta: sparse.csc_matrix | None = None

    def __len__(self) -> int:
        return len(self._pos)

    def add(self, ids: Sequence[int], term_lists: Sequence[Sequence[str]]) -> None:
        self.remove([i for i in ids if i in self._pos])
        start = len(self._ids)
        self._ids = np.concatenate([self._ids, np.asarray(ids, dtype=np.int64)])
        self._lengths = np.concatenate([self._lengths, np.array([len(t) for t in term_lists], dtype=np.float32)])
        self._live = np.concatenate([self._live, np.ones(len(ids), dtype=bool)])
        for offset, (chunk_id, terms) in enumerate(zip(ids, term_lists)):
            position = start + offset
            self._pos[int(chunk_id)] = position
            term_ids, tfs = np.unique(np.array([self._term_id(t) for t in terms], dtype=np.int64), return_counts=True)
            self._row_terms[position] = (term_ids, tfs.astype(np.float32))
            self._df[term_ids] += 1
        self._rebuild_delta()

    def remove(self, ids: Sequence[int]) -> None:
        for chunk_id in ids:
            position = self._pos.pop(int(chunk_id), None)
            if position is None:
                continue
            self._live[position] = False
            term_ids, _ = self._row_terms[position]
            self._df[term_ids] -= 1

    def search(
        self, terms: Sequence[str], *, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ids, BM25 scores), best first; only rows matching at least one term."""
        term_ids = sorted({self._vocab[t] for t in terms if t in self._vocab})
        if not term_ids or not self._pos or k <= 0:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        counts = np.bincount(np.array([self._vocab[t] for t in terms if t in self._vocab]), minlength=len(self._df))
        n = len(self._pos)
        df = self._df[term_ids].astype(np.float32)
        idf = np.log1p((n - df + 0.5) / (df + 0.5)) * counts[term_ids]  # repeated query terms count again
        norm = self.k1 * (1.0 - self.b + self.b * self._lengths / max(float(self._lengths[self._live].mean()), 1e-9))
        scores = np.zeros(len(self._ids), dtype=np.float32)
        for matrix, offset in self._segments():
            columns = [t for t in term_ids if t < matrix.shape[1]]  # a segment predates newer terms
            sub = matrix[:, columns].tocoo()  # (rows, query terms) tf values
            rows = sub.row + offset
            tf = sub.data
            weights = idf[np.searchsorted(term_ids, np.asarray(columns)[sub.col])]
            np.add.at(scores, rows, weights * tf * (self.k1 + 1.0) / (tf + norm[rows]))
        mask = self._live & (scores > 0)
        if allowed is not None:
            allowed_mask = np.zeros(len(self._ids), dtype=bool)
            allowed_mask[[p for i in np.asarray(allowed).tolist() if (p := self._pos.get(i)) is not None]] = True
            mask &= allowed_mask
        candidates = np.flatnonzero(mask)
        if len(candidates) > k:
            candidates = candidates[np.argpartition(-scores[candidates], k)[:k]]
        order = candidates[np.argsort(-scores[candidates], kind="stable")]
        return self._ids[order], scores[order]

    def _term_id(self, term: str) -> int:
        term_id = self._vocab.get(term)
        if term_id is None:
            term_id = self._vocab[term] = len(self._vocab)
            if term_id >= len(self._df):
                self._df = np.concatenate([self._df, np.zeros(max(1024, len(self._df)), dtype=np.int64)])
        return term_id

    def _segments(self) -> list[tuple[sparse.csc_matrix, int]]:
        segments = [(self._base, 0)]
        if self._delta is not None:
            segments.append((self._delta, self._base_rows))
        return segments

    def _rebuild_delta(self) -> None:
        pending = len(self._ids) - self._base_rows
        if pending > _MERGE_FRACTION * max(self._base_rows, 1) and pending > 1000 or self._base_rows == 0:
            self._base = self._build(0, len(self._ids))
            self._base_rows, self._delta = len(self._ids), None
        else:
            self._delta = self._build(self._base_rows, len(self._ids))

    def _build(self, first: int, last: int) -> sparse.csc_matrix:
        rows, cols, data = [], [], []
        for position in range(first, last):
            term_ids, tfs = self._row_terms[position]
            rows.append(np.full(len(term_ids), position - first, dtype=np.int64))
            cols.append(term_ids)
            data.append(tfs)
        shape = (last - first, len(self._df))
        if not rows:
            return sparse.csc_matrix(shape, dtype=np.float32)
        return sparse.csc_matrix(
            (np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=shape, dtype=np.float32
        )
