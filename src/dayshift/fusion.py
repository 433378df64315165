"""Fusing ranked lists from the keyword and dense retrievers.

    rrf       score = sum over lists of 1 / (rrf_k + rank)      rank-only, robust default
    weighted  score = sum of weight * min-max normalised score   uses score magnitudes

Both return Hit(source="hybrid") best first, keeping each item once. An item is a
chunk by default; `key=document_key` fuses documents instead (each list must then
hold a document once, at its best chunk: `dayshift.retrieve.documents.best_per_document`),
so that a document found by its first chunk in one list and its second in the other
gets the evidence of both. The fused hit carries the chunk of the list it was seen in first.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from dayshift.types import Chunk, Hit

HitKey = Callable[[Hit], str]  # Hit -> what fusion adds scores up under


def chunk_key(hit: Hit) -> str:
    return hit.chunk.chunk_id


def document_key(hit: Hit) -> str:
    return hit.chunk.doc_id


def reciprocal_rank_fusion(
    ranked_lists: Sequence[Sequence[Hit]],
    *,
    k: int,
    rrf_k: int = 60,
    weights: Sequence[float] | None = None,
    key: HitKey = chunk_key,
) -> list[Hit]:
    weights = weights or [1.0] * len(ranked_lists)
    scores: dict[str, float] = {}
    chunks: dict[str, Chunk] = {}
    for hits, weight in zip(ranked_lists, weights):
        for rank, hit in enumerate(hits, start=1):
            item = key(hit)
            scores[item] = scores.get(item, 0.0) + weight / (rrf_k + rank)
            chunks.setdefault(item, hit.chunk)
    return _top(scores, chunks, k=k)


def weighted_fusion(
    ranked_lists: Sequence[Sequence[Hit]], *, k: int, weights: Sequence[float], key: HitKey = chunk_key
) -> list[Hit]:
    scores: dict[str, float] = {}
    chunks: dict[str, Chunk] = {}
    for hits, weight in zip(ranked_lists, weights):
        if not hits or weight == 0:  # a zero weight must not add its chunks at score 0
            continue
        values = [h.score for h in hits]
        low, high = min(values), max(values)
        span = (high - low) or 1.0
        for hit in hits:
            item = key(hit)
            scores[item] = scores.get(item, 0.0) + weight * (hit.score - low) / span
            chunks.setdefault(item, hit.chunk)
    return _top(scores, chunks, k=k)


def _top(scores: dict[str, float], chunks: dict[str, Chunk], *, k: int) -> list[Hit]:
    best = sorted(scores, key=lambda item: scores[item], reverse=True)[:k]
    return [Hit(chunk=chunks[item], score=scores[item], source="hybrid") for item in best]
