"""Hybrid search inside the store: one call for both ranked lists and their fusion.

A store that can fuse on its side (the Postgres store does it in one SQL
statement) offers `hybrid_search`; the Retriever then uses it for weighted
fusion instead of two searches and `dayshift.fusion.weighted_fusion`, with the
same results. Left out: RRF (the Retriever still fuses that itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from dayshift.types import Condition, Hit


@dataclass(frozen=True, slots=True)
class HybridResult:
    hits: list[Hit]  # fused, best first, source="hybrid"
    keyword_scores: dict[str, float]  # chunk_id -> BM25, every keyword candidate
    dense_scores: dict[str, float]  # chunk_id -> cosine, every dense candidate


@runtime_checkable
class HybridSearcher(Protocol):
    def hybrid_search(
        self,
        terms: Sequence[str],
        vector: np.ndarray,
        *,
        k: int,
        where: Sequence[Condition] = (),
        candidates: int = 100,
        dense_weight: float = 0.5,
    ) -> HybridResult:
        """`weighted_fusion` of the keyword and dense top-`candidates` (weights 1 - dense_weight, dense_weight)."""
        ...
