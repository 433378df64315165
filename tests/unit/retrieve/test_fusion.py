"""Reciprocal-rank and weighted fusion on small lists whose scores are worked out by hand."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from dayshift.fusion import reciprocal_rank_fusion, weighted_fusion
from dayshift.types import Chunk, Hit


def chunk(cid: str) -> Chunk:
    return Chunk(
        chunk_id=cid, doc_id=cid.split(":")[0], doc_version="v1", source="s.md", title="T", text=f"text {cid}",
        section=(), page=None, char_start=0, char_end=1, ordinal=0, ingested_at=0.0,
    )  # fmt: skip


def hits(pairs: Sequence[tuple[str, float]], source: str = "keyword") -> list[Hit]:
    return [Hit(chunk(cid), score, source) for cid, score in pairs]  # type: ignore[arg-type]


def ranked(result: list[Hit]) -> list[str]:
    return [h.chunk.chunk_id for h in result]


KEYWORD = hits([("a", 12.0), ("b", 7.5), ("c", 3.0)])
DENSE = hits([("c", 0.9), ("a", 0.8), ("d", 0.4)], "dense")


# -- reciprocal rank fusion -----------------------------------------------------------------------


def test_rrf_scores_are_the_sum_of_reciprocal_ranks() -> None:
    fused = reciprocal_rank_fusion([KEYWORD, DENSE], k=10)
    expected = {
        "a": 1 / 61 + 1 / 62,  # 1st and 2nd
        "c": 1 / 63 + 1 / 61,  # 3rd and 1st
        "b": 1 / 62,
        "d": 1 / 63,
    }
    assert ranked(fused) == ["a", "c", "b", "d"]
    assert {h.chunk.chunk_id: h.score for h in fused} == pytest.approx(expected, abs=1e-15)
    assert {h.source for h in fused} == {"hybrid"}


def test_rrf_ignores_score_magnitudes() -> None:
    louder = hits([("a", 1e6), ("b", 1e5), ("c", -3.0)])
    assert [(h.chunk.chunk_id, h.score) for h in reciprocal_rank_fusion([louder, DENSE], k=4)] == [
        (h.chunk.chunk_id, h.score) for h in reciprocal_rank_fusion([KEYWORD, DENSE], k=4)
    ]


def test_rrf_k_parameter_and_weights() -> None:
    fused = reciprocal_rank_fusion([KEYWORD, DENSE], k=10, rrf_k=1)
    assert {h.chunk.chunk_id: h.score for h in fused} == pytest.approx(
        {"a": 1 / 2 + 1 / 3, "c": 1 / 4 + 1 / 2, "b": 1 / 3, "d": 1 / 4}
    )
    # Weighting the dense list 3:1 reorders: c = 1/63 + 3/61 = 0.06505 > a = 1/61 + 3/62 = 0.06478,
    # and d = 3/63 = 0.04762 > b = 1/62 = 0.01613.
    weighted = reciprocal_rank_fusion([KEYWORD, DENSE], k=10, weights=[1.0, 3.0])
    assert {h.chunk.chunk_id: h.score for h in weighted} == pytest.approx(
        {"a": 1 / 61 + 3 / 62, "b": 1 / 62, "c": 1 / 63 + 3 / 61, "d": 3 / 63}
    )
    assert ranked(weighted) == ["c", "a", "d", "b"]


def test_rrf_ties_have_equal_scores_and_keep_first_seen_order() -> None:
    left, right = hits([("a", 1.0), ("b", 0.5)]), hits([("c", 1.0), ("d", 0.5)], "dense")
    fused = reciprocal_rank_fusion([left, right], k=4)
    assert [h.score for h in fused] == [1 / 61, 1 / 61, 1 / 62, 1 / 62]
    assert ranked(fused) == ["a", "c", "b", "d"]  # stable sort: list order breaks ties


def test_rrf_keeps_each_chunk_once() -> None:
    fused = reciprocal_rank_fusion([KEYWORD, DENSE, KEYWORD], k=10)
    assert sorted(ranked(fused)) == ["a", "b", "c", "d"]
    assert fused[0].chunk is KEYWORD[0].chunk  # the first list's chunk object is the one returned
    assert fused[0].score == pytest.approx(2 / 61 + 1 / 62)


def test_rrf_truncates_to_k() -> None:
    assert ranked(reciprocal_rank_fusion([KEYWORD, DENSE], k=2)) == ["a", "c"]
    assert reciprocal_rank_fusion([KEYWORD, DENSE], k=0) == []
    assert reciprocal_rank_fusion([[], []], k=5) == []
    assert ranked(reciprocal_rank_fusion([KEYWORD, []], k=5)) == ["a", "b", "c"]


# -- weighted fusion --------------------------------------------------------------------------------


def test_weighted_fusion_min_max_normalises_each_list() -> None:
    # keyword 12, 7.5, 3 -> (x - 3) / 9 = 1, 0.5, 0;  dense 0.9, 0.8, 0.4 -> (x - 0.4) / 0.5 = 1, 0.8, 0
    fused = weighted_fusion([KEYWORD, DENSE], k=10, weights=[0.3, 0.7])
    expected = {
        "a": 0.3 * 1.0 + 0.7 * 0.8,  # 0.86
        "c": 0.3 * 0.0 + 0.7 * 1.0,  # 0.70
        "b": 0.3 * 0.5,  # 0.15
        "d": 0.7 * 0.0,  # 0.0
    }
    assert ranked(fused) == ["a", "c", "b", "d"]
    assert {h.chunk.chunk_id: h.score for h in fused} == pytest.approx(expected)
    assert {h.source for h in fused} == {"hybrid"}


def test_weighted_fusion_uses_magnitudes_unlike_rrf() -> None:
    # b is a close second on keyword, a distant last on dense: weighted fusion ranks it above d.
    keyword = hits([("a", 10.0), ("b", 9.9), ("c", 0.0)])
    dense = hits([("c", 0.9), ("d", 0.89), ("a", 0.1)], "dense")
    fused = weighted_fusion([keyword, dense], k=4, weights=[0.5, 0.5])
    assert {h.chunk.chunk_id: h.score for h in fused} == pytest.approx(
        {"a": 0.5, "b": 0.5 * 0.99, "c": 0.5, "d": 0.5 * 0.79 / 0.8}
    )
    assert ranked(fused) == ["a", "c", "b", "d"]


@pytest.mark.parametrize(("weights", "only"), [([1.0, 0.0], KEYWORD), ([0.0, 1.0], DENSE)])
def test_weights_zero_and_one_follow_one_list(weights: list[float], only: list[Hit]) -> None:
    # Every chunk of the weighted list keeps its order at the top.
    fused = weighted_fusion([KEYWORD, DENSE], k=10, weights=weights)
    assert ranked(fused)[:2] == ranked(only)[:2]
    scores = {h.chunk.chunk_id: h.score for h in fused}
    low, high = min(h.score for h in only), max(h.score for h in only)
    assert all(scores[h.chunk.chunk_id] == pytest.approx((h.score - low) / (high - low)) for h in only)


def test_weight_zero_list_cannot_displace_the_other_lists_hits() -> None:
    keyword = hits([("x", 9.0), ("a", 5.0)])
    dense = hits([("a", 0.9), ("b", 0.8), ("c", 0.7)], "dense")
    assert ranked(weighted_fusion([keyword, dense], k=3, weights=[0.0, 1.0])) == ["a", "b", "c"]


def test_weighted_fusion_truncates_and_skips_empty_lists() -> None:
    fused = weighted_fusion([[], DENSE], k=2, weights=[0.5, 0.5])
    assert [(h.chunk.chunk_id, h.score) for h in fused] == [("c", pytest.approx(0.5)), ("a", pytest.approx(0.4))]
    assert weighted_fusion([[], []], k=3, weights=[0.5, 0.5]) == []


def test_weighted_fusion_list_of_equal_scores_adds_nothing() -> None:
    # A list whose scores are all equal has no spread to normalise: every hit gets 0 from it.
    flat = hits([("a", 4.0), ("z", 4.0)])
    fused = weighted_fusion([flat, DENSE], k=10, weights=[0.5, 0.5])
    assert {h.chunk.chunk_id: h.score for h in fused} == pytest.approx({"a": 0.4, "z": 0.0, "c": 0.5, "d": 0.0})
    assert ranked(fused)[:2] == ["c", "a"]
