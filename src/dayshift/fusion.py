"""Fusing ranked lists from the keyword and dense retrievers.

    rrf       score = sum over lists of 1 / (rrf_k + rank)      rank-only, robust default
    weighted  score = sum of weight * min-max normalised score   uses score magnitudes

Both return Hit(source="hybrid") best first, keeping each chunk once.
"""

from __future__ import annotations

from collections.abc import Sequence

from dayshift.types import Chunk, Hit


def reciprocal_rank_fusion(
    ranked_lists: Sequence[Sequence[Hit]], *, k: int, rrf_k: int = 60, weights: Sequence[float] | None = None
) -> list[Hit]:
    weights = weights or [1.0] * len(ranked_lists)
    scores: dict[str, float] = {}
    chunks: dict[str, Chunk] = {}
    for hits, weight in zip(ranked_lists, weights):
        for rank, hit in enumerate(hits, start=1):
            cid = hit.chunk.chunk_id
            scores[cid] = scores.get(cid, 0.0) + weight / (rrf_k + rank)
            chunks.setdefault(cid, hit.chunk)
    return _top(scores, chunks, k=k)


def weighted_fusion(ranked_lists: Sequence[Sequence[Hit]], *, k: int, weights: Sequence[float]) -> list[Hit]:
    scores: dict[str, float] = {}
    chunks: dict[str, Chunk] = {}
    for hits, weight in zip(ranked_lists, weights):
        if not hits or weight == 0:  # a zero weight must not add its chunks at score 0
            continue
        values = [h.score for h in hits]
        low, high = min(values), max(values)
        span = (high - low) or 1.0
        for hit in hits:
            cid = hit.chunk.chunk_id
            scores[cid] = scores.get(cid, 0.0) + weight * (hit.score - low) / span
            chunks.setdefault(cid, hit.chunk)
    return _top(scores, chunks, k=k)


def _top(scores: dict[str, float], chunks: dict[str, Chunk], *, k: int) -> list[Hit]:
    best = sorted(scores, key=lambda cid: scores[cid], reverse=True)[:k]
    return [Hit(chunk=chunks[cid], score=scores[cid], source="hybrid") for cid in best]
