"""Fitting the fusion on labelled queries: chosen on one half, scored on the other, saved and laid over settings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dayshift.errors import ConfigError
from dayshift.retrieve.calibrate import (
    FILE,
    Fusion,
    LabelledQuery,
    fit_fusion,
    fitted_settings,
    fuse,
    mean_ndcg,
    split_queries,
)
from dayshift.settings import RetrieveSettings
from dayshift.types import Chunk, Hit


def hit(doc: str, score: float, source: str) -> Hit:
    c = Chunk(chunk_id=f"{doc}:0", doc_id=doc, doc_version="v", source=doc, title="", text="x", section=(),
              page=None, char_start=0, char_end=1, ordinal=0, ingested_at=1.0)  # fmt: skip
    return Hit(c, score, source)  # type: ignore[arg-type]


def lists_where(right: str) -> tuple[list[Hit], list[Hit]]:
    """Keyword and dense lists of 5 documents; the relevant one ("rel") is first in the `right` list only."""
    keyword = [hit("rel" if right == "keyword" else "k0", 9.0, "keyword")] + [hit(f"k{i}", 8.0 - i, "keyword") for i in range(1, 5)]
    dense = [hit("rel" if right == "dense" else "d0", 0.9, "dense")] + [hit(f"d{i}", 0.8 - i / 10, "dense") for i in range(1, 5)]
    if right == "keyword":
        dense.append(hit("rel", 0.05, "dense"))
    else:
        keyword.append(hit("rel", 0.5, "keyword"))
    return keyword, dense


def queries(n: int) -> list[LabelledQuery]:
    return [LabelledQuery(text=f"question number {i}", relevant=frozenset({"rel"})) for i in range(n)]


def test_the_split_is_stable_disjoint_and_covers_every_query() -> None:
    qs = queries(40)
    fit, held = split_queries(qs)
    again_fit, _ = split_queries(list(reversed(qs)))
    assert {q.text for q in again_fit} == {q.text for q in fit}  # by the text, not the order
    assert {q.text for q in fit}.isdisjoint(q.text for q in held)
    assert len(fit) + len(held) == 40 and 10 <= len(fit) <= 30
    assert {q.text for q in split_queries(qs)[0]} == {q.text for q in fit}  # same on every run


def test_the_fusion_is_chosen_on_the_fit_half_and_reported_on_the_held_out_half() -> None:
    qs = queries(40)
    fit, held = split_queries(qs)
    fit_texts = {q.text for q in fit}
    # the fit half is answered by dense, the held-out half by keyword: a fit that peeked would not pick dense
    table = {q.text: lists_where("dense" if q.text in fit_texts else "keyword") for q in qs}
    result = fit_fusion(qs, table.__getitem__, configured=RetrieveSettings())
    assert result.chosen.fusion == "weighted" and result.chosen.dense_weight >= 0.6
    assert result.fit_queries == len(fit) and result.held_out_queries == len(held)
    assert result.fit_ndcg == pytest.approx(1.0)
    assert result.held_out_ndcg == pytest.approx(mean_ndcg(held, table, result.chosen))
    assert result.held_out_ndcg < result.held_out_keyword_ndcg == pytest.approx(1.0)  # honest: worse where unseen
    assert result.held_out_configured_ndcg == pytest.approx(mean_ndcg(held, table, Fusion("weighted", 0.5)))


def test_fusing_documents_on_the_grid_matches_the_retriever_fusions() -> None:
    keyword, dense = lists_where("keyword")
    assert fuse((keyword, dense), Fusion("weighted", dense_weight=0.0))[0].chunk.doc_id == "rel"
    assert fuse((keyword, dense), Fusion("weighted", dense_weight=1.0))[0].chunk.doc_id == "d0"
    assert len(fuse((keyword, dense), Fusion("rrf", rrf_k=10))) == 10


def test_too_few_labelled_queries_is_a_clear_error() -> None:
    with pytest.raises(ConfigError, match="at least 10 labelled queries"):
        fit_fusion(queries(4), lambda q: lists_where("dense"), configured=RetrieveSettings())


def test_the_saved_fusion_is_laid_over_the_settings(tmp_path: Path) -> None:
    qs = queries(30)
    table = {q.text: lists_where("dense") for q in qs}
    result = fit_fusion(qs, table.__getitem__, configured=RetrieveSettings(fusion="rrf"))
    assert fitted_settings(RetrieveSettings(), tmp_path) == RetrieveSettings()  # nothing saved: as configured
    path = result.save(tmp_path)
    assert path.name == FILE and json.loads(path.read_text())["fitted_on"]["held_out_queries"] == result.held_out_queries
    applied = fitted_settings(RetrieveSettings(fusion="weighted", dense_weight=0.1, rrf_k=3, candidates=77), tmp_path)
    chosen = result.chosen
    assert (applied.fusion, applied.dense_weight, applied.rrf_k) == (chosen.fusion, chosen.dense_weight, chosen.rrf_k)
    assert applied.candidates == 77  # only the fusion is fitted
    path.write_text("{}")
    with pytest.raises(ConfigError, match="calibrate --retrieval again"):
        fitted_settings(RetrieveSettings(), tmp_path)
