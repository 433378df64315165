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

Search is exact top-k with MaxScore pruning: each term's contribution is bounded by
its largest tf in its shortest chunk; once the strongest terms' chunks give a k-th
best score, the weakest terms whose bounds sum below it are not scanned, only
looked up for the chunks the others bring (common terms in a million chunks
hold hundreds of thousands of postings). Only the touched positions are scored.

Left out: phrase and proximity scoring, and field weights (the context header
is already part of each chunk's indexed text).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse

from dayshift.store.bm25 import K1, B

_MERGE_FRACTION = 0.2
_PRUNE_MIN_POSTINGS = 20_000  # below this many postings, scoring them all is as fast as pruning
_EMPTY = (np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32))


class KeywordIndex:
    def __init__(self, *, k1: float = K1, b: float = B) -> None:
        self.k1, self.b = k1, b
        self._vocab: dict[str, int] = {}
        self._df = np.zeros(0, dtype=np.int64)  # live document frequency per term id
        self._tf_max = np.zeros(0, dtype=np.float32)  # per term id: the largest tf ever added (a bound)
        self._len_min = np.zeros(0, dtype=np.float32)  # per term id: the shortest chunk ever holding it
        self._total_length = 0.0  # summed lengths of the live rows
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
        added_terms, added_tfs, added_lengths = [], [], []
        for offset, (chunk_id, terms) in enumerate(zip(ids, term_lists)):
            position = start + offset
            self._pos[int(chunk_id)] = position
            term_ids, tfs = np.unique(np.array([self._term_id(t) for t in terms], dtype=np.int64), return_counts=True)
            self._row_terms[position] = (term_ids, tfs.astype(np.float32))
            self._df[term_ids] += 1
            added_terms.append(term_ids)
            added_tfs.append(tfs)
            added_lengths.append(np.full(len(term_ids), len(terms), dtype=np.float32))
        if added_terms:
            every = np.concatenate(added_terms)
            np.maximum.at(self._tf_max, every, np.concatenate(added_tfs).astype(np.float32))
            np.minimum.at(self._len_min, every, np.concatenate(added_lengths))
        self._total_length += float(sum(len(t) for t in term_lists))
        self._rebuild_delta()

    def remove(self, ids: Sequence[int]) -> None:
        for chunk_id in ids:
            position = self._pos.pop(int(chunk_id), None)
            if position is None:
                continue
            self._live[position] = False
            self._total_length -= float(self._lengths[position])
            term_ids, _ = self._row_terms[position]
            self._df[term_ids] -= 1

    def search(
        self, terms: Sequence[str], *, k: int, allowed: np.ndarray | None = None, prune: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ids, BM25 scores), best first; only rows matching at least one term.

        With `prune` (MaxScore), the postings of terms that cannot lift a chunk into the top k
        are never scanned, only looked up for the chunks that other terms bring; the scores
        and the top k are those of scoring every posting (`prune=False`), to float32 rounding.
        """
        term_ids = sorted({self._vocab[t] for t in terms if t in self._vocab})
        if not term_ids or not self._pos or k <= 0:
            return _EMPTY
        counts = np.bincount(np.array([self._vocab[t] for t in terms if t in self._vocab]), minlength=len(self._df))
        n = len(self._pos)
        df = self._df[term_ids].astype(np.float32)
        idf = np.log1p((n - df + 0.5) / (df + 0.5)) * counts[term_ids]  # repeated query terms count again
        avglen = max(self._total_length / n, 1e-9)
        postings = [self._postings(t) for t in term_ids]  # per term: (positions, tf), positions ascending
        mask = None
        if allowed is not None:
            mask = np.zeros(len(self._ids), dtype=bool)
            mask[[p for i in np.asarray(allowed).tolist() if (p := self._pos.get(i)) is not None]] = True
        essential = list(range(len(term_ids)))
        if prune and len(term_ids) > 1 and sum(len(p) for p, _ in postings) > _PRUNE_MIN_POSTINGS:
            essential = self._essential(term_ids, idf, postings, avglen, k=k, mask=mask)
        candidates = np.unique(np.concatenate([postings[j][0] for j in essential]))
        candidates = candidates[self._live[candidates] if mask is None else self._live[candidates] & mask[candidates]]
        scores = self._score(candidates, idf, postings, avglen)
        keep = scores > 0
        candidates, scores = candidates[keep], scores[keep]
        if len(candidates) > k:  # every chunk tied with the k-th stays, so that ties break by position below
            top = scores >= np.partition(scores, len(scores) - k)[len(scores) - k]
            candidates, scores = candidates[top], scores[top]
        order = np.lexsort((candidates, -scores))[:k]  # best first; ties by position (insertion order)
        return self._ids[candidates[order]], scores[order]

    def _essential(self, term_ids: list[int], idf: np.ndarray, postings: list[tuple[np.ndarray, np.ndarray]],
                   avglen: float, *, k: int, mask: np.ndarray | None) -> list[int]:  # fmt: skip
        """MaxScore: indexes of the terms whose postings must be scanned for an exact top k.

        Each term's score is bounded above by its largest tf over its shortest chunk. A
        threshold (the k-th best full score among the chunks of the terms with the highest
        bounds) then makes every term whose bounds, summed with all lower ones, stay under
        it "non-essential": a chunk holding only such terms cannot reach the top k.
        """
        bounds = np.array([
            w * (self.k1 + 1.0) * self._tf_max[t] / (self._tf_max[t] + self.k1 * (1 - self.b + self.b * self._len_min[t] / avglen))
            for w, t in zip(idf.tolist(), term_ids)
        ])  # fmt: skip
        by_bound = np.argsort(-bounds, kind="stable")
        seeds: list[int] = []
        found = 0
        for j in by_bound.tolist():  # the strongest terms until they bring k chunks
            seeds.append(j)
            found += len(postings[j][0])
            if found >= 4 * k:
                break
        if len(seeds) == len(term_ids):
            return seeds
        sample = np.unique(np.concatenate([postings[j][0] for j in seeds]))
        sample = sample[self._live[sample] if mask is None else self._live[sample] & mask[sample]]
        if len(sample) < k:
            return list(range(len(term_ids)))
        threshold = float(np.partition(self._score(sample, idf, postings, avglen), len(sample) - k)[len(sample) - k])
        cut, total = 0, 0.0
        for j in by_bound[::-1].tolist():  # weakest first: left unscanned while their bounds sum under the threshold
            total += float(bounds[j])
            if total >= threshold * (1 - 1e-6):  # the margin covers float32 rounding of the scores
                break
            cut += 1
        return by_bound[: len(term_ids) - cut].tolist()

    def _score(self, rows: np.ndarray, idf: np.ndarray, postings: list[tuple[np.ndarray, np.ndarray]],
               avglen: float) -> np.ndarray:  # fmt: skip
        """Full BM25 scores of the positions `rows` (ascending), every query term looked up."""
        scores = np.zeros(len(rows), dtype=np.float32)
        norm = self.k1 * (1.0 - self.b + self.b * self._lengths[rows] / np.float32(avglen))
        for w, (positions, tf) in zip(idf, postings):
            if len(positions) <= len(rows):
                at = np.searchsorted(rows, positions)
                hit = at < len(rows)
                hit[hit] = rows[at[hit]] == positions[hit]
                at, tf = at[hit], tf[hit]
            else:
                where = np.searchsorted(positions, rows)
                hit = where < len(positions)
                hit[hit] = positions[where[hit]] == rows[hit]
                at, tf = np.flatnonzero(hit), tf[where[hit]]
            scores[at] += (w * tf * (self.k1 + 1.0) / (tf + norm[at])).astype(np.float32)
        return scores

    def _postings(self, term_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(positions ascending, tf) of one term over every segment, dead rows included."""
        parts = []
        for matrix, offset in self._segments():
            if term_id < matrix.shape[1]:
                lo, hi = matrix.indptr[term_id], matrix.indptr[term_id + 1]
                if hi > lo:
                    parts.append((matrix.indices[lo:hi].astype(np.int64) + offset, matrix.data[lo:hi]))
        if not parts:
            return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float32)
        if len(parts) == 1:
            return parts[0]
        return np.concatenate([p for p, _ in parts]), np.concatenate([t for _, t in parts])

    def _term_id(self, term: str) -> int:
        term_id = self._vocab.get(term)
        if term_id is None:
            term_id = self._vocab[term] = len(self._vocab)
            if term_id >= len(self._df):
                more = max(1024, len(self._df))
                self._df = np.concatenate([self._df, np.zeros(more, dtype=np.int64)])
                self._tf_max = np.concatenate([self._tf_max, np.zeros(more, dtype=np.float32)])
                self._len_min = np.concatenate([self._len_min, np.full(more, np.inf, dtype=np.float32)])
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
        matrix = sparse.csc_matrix(
            (np.concatenate(data), (np.concatenate(rows), np.concatenate(cols))), shape=shape, dtype=np.float32
        )
        matrix.sort_indices()  # each term's positions ascending: searches look them up by bisection
        return matrix
