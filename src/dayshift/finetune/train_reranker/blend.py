"""The trained score mixed with production's: a*minmax(cross-encoder) + (1-a)*minmax(first stage).

A cross-encoder trained on a few hundred queries knows the domain's relevance but not what the
first stage already knew; mixing the two per query keeps both. The weight `a` is chosen on
validation queries (never the ones reported), from a grid, by mean nDCG@10; a = 1 is the pure
cross-encoder, a = 0 production unchanged. Left out: learnt per-feature models (a linear mix of
two min-max scores is all a weight fitted on ~100 queries can support).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

GRID = tuple(round(0.1 * i, 1) for i in range(11))


def minmax(scores: np.ndarray) -> np.ndarray:
    lo, hi = float(np.min(scores)), float(np.max(scores))
    return np.zeros_like(scores, dtype=np.float64) if hi <= lo else (scores - lo) / (hi - lo)


def blend(first_stage: np.ndarray, cross: np.ndarray, *, weight: float) -> np.ndarray:
    """(n,) mixed scores of one query's candidates; higher is better."""
    return weight * minmax(np.asarray(cross, np.float64)) + (1.0 - weight) * minmax(np.asarray(first_stage, np.float64))


@dataclass(frozen=True, slots=True)
class RankedQuery:
    """One validation query's candidates, in first-stage order."""

    first_stage: np.ndarray  # (n,)
    cross: np.ndarray  # (n,) cross-encoder scores of the same candidates
    gains: np.ndarray  # (n,) graded relevance of each candidate (0: not relevant)
    ideal_gains: tuple[float, ...]  # every relevant document's gain, the ones not retrieved too


def ndcg_at_10(order: Sequence[int], query: RankedQuery) -> float:
    dcg = sum(float(query.gains[i]) / math.log2(r + 2) for r, i in enumerate(order[:10]))
    ideal = sum(g / math.log2(r + 2) for r, g in enumerate(sorted(query.ideal_gains, reverse=True)[:10]))
    return dcg / ideal if ideal else 0.0


def mean_ndcg(queries: Sequence[RankedQuery], *, weight: float) -> float:
    scores = [ndcg_at_10(list(np.argsort(-blend(q.first_stage, q.cross, weight=weight), kind="stable")), q)
              for q in queries]  # fmt: skip
    return float(np.mean(scores)) if scores else 0.0


def fit_weight(queries: Sequence[RankedQuery], grid: Sequence[float] = GRID) -> tuple[float, dict[float, float]]:
    """(best weight, {weight: mean nDCG@10}) on `queries`; ties go to the smaller weight (closer to production)."""
    table = {w: mean_ndcg(queries, weight=w) for w in grid}
    best = max(table, key=lambda w: (round(table[w], 6), -w))
    return best, table
