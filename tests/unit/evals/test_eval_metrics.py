"""Eval metrics against values computed by hand (and, for semantic similarity, the bundled embedder)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from dayshift.evals.metrics import (
    abstention_correct,
    citation_precision,
    claims,
    exact_match,
    groundedness,
    json_valid,
    normalize_answer,
    retrieval_scores,
    semantic_similarity,
    token_f1,
)


def test_normalize_answer_is_squads() -> None:
    assert normalize_answer("The  Quick, brown fox!") == "quick brown fox"
    assert normalize_answer("An apple a day") == "apple day"
    assert normalize_answer("theatre, anthem") == "theatre anthem"  # articles only as whole words


def test_exact_match_takes_any_expected_answer() -> None:
    assert exact_match("the France.", ["France"]) == 1.0
    assert exact_match("Paris", ["France", "Lyon"]) == 0.0
    assert exact_match("10th century", ["the 10th and 11th centuries", "10th Century"]) == 1.0


def test_unanswerable_questions_expect_an_empty_answer() -> None:
    assert exact_match("", []) == 1.0 and token_f1("", []) == 1.0
    assert exact_match("France", []) == 0.0 and token_f1("France", []) == 0.0


def test_token_f1_by_hand() -> None:
    # "in 10th century" against "10th and 11th centuries": one common token -> P 1/3, R 1/4, F1 2/7
    assert token_f1("in the 10th century", ["10th and 11th centuries"]) == pytest.approx(2 / 7)
    # counts are clipped: "red red blue" against "red green" shares one "red" -> P 1/3, R 1/2, F1 0.4
    assert token_f1("red red blue", ["red green"]) == pytest.approx(0.4)
    assert token_f1("in the 10th century", ["Normandy", "in the 10th century"]) == 1.0
    assert token_f1("", ["France"]) == 0.0
    with pytest.raises(TypeError, match="not one string"):
        token_f1("France", "France")  # type: ignore[arg-type]


def test_retrieval_scores_by_hand() -> None:
    # distinct ranking a, b, c (the second "a" is the same document): c at rank 3 of expected {c, x}
    scores = retrieval_scores(["a", "b", "a", "c", "d"], ["c", "x"], k=3)
    assert scores["recall_at_k"] == 0.5
    assert scores["mrr"] == pytest.approx(1 / 3)
    assert scores["ndcg_at_k"] == pytest.approx((1 / math.log2(4)) / (1 + 1 / math.log2(3)))
    assert retrieval_scores(["a", "b", "a", "c"], ["c", "x"], k=2) == {"recall_at_k": 0.0, "mrr": 0.0, "ndcg_at_k": 0.0}
    assert retrieval_scores(["x", "c"], ["c", "x"], k=10) == {"recall_at_k": 1.0, "mrr": 1.0, "ndcg_at_k": 1.0}


def test_a_document_retrieved_many_times_counts_once() -> None:
    scores = retrieval_scores(["c", "c", "c"], ["c", "x"], k=2)
    assert scores == pytest.approx({"recall_at_k": 0.5, "mrr": 1.0, "ndcg_at_k": 1 / (1 + 1 / math.log2(3))})


def test_retrieval_scores_refuse_what_cannot_be_scored() -> None:
    with pytest.raises(ValueError, match="no expected source"):
        retrieval_scores(["a"], [])
    with pytest.raises(ValueError, match="k must be at least 1"):
        retrieval_scores(["a"], ["a"], k=0)


def test_citation_precision() -> None:
    assert citation_precision(["a", "a", "b"], ["a"]) == 0.5
    assert citation_precision(["a", "c"], ["a", "c", "d"]) == 1.0
    assert citation_precision([], ["a"]) is None
    assert citation_precision(["a"], []) == 0.0


@pytest.mark.parametrize(("abstained", "answerable", "correct"),
                         [(True, False, True), (False, True, True), (True, True, False), (False, False, False)])
def test_abstention_correct(abstained: bool, answerable: bool, correct: bool) -> None:
    assert abstention_correct(abstained, answerable) is correct


def test_semantic_similarity_is_the_best_cosine() -> None:
    table = {"Paris": [1.0, 0.0], "France": [0.0, 1.0], "Lyon": [0.6, 0.8]}

    def embed(texts: list[str]) -> np.ndarray:
        return np.array([table[t] for t in texts])

    assert semantic_similarity("Paris", ["France", "Lyon"], embed) == pytest.approx(0.6)
    assert semantic_similarity("Paris", ["Paris"], embed) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="at least one expected answer"):
        semantic_similarity("Paris", [], embed)


def test_semantic_similarity_with_the_bundled_embedder(tmp_path: Path) -> None:
    from dayshift.assemble import open_embedder
    from dayshift.settings import load_settings

    embedder = open_embedder(load_settings(data_dir=tmp_path))

    def embed(texts: list[str]) -> np.ndarray:
        return embedder.embed(texts, kind="document")

    close = semantic_similarity("The Normans came from Normandy in France.",
                                ["Normandy, a region of France"], embed)
    far = semantic_similarity("The Normans came from Normandy in France.",
                              ["Packet switching splits data into blocks"], embed)
    assert 0.4 < close <= 1.0 and far < 0.25 and close > far + 0.3


def test_claims_are_sentences_and_list_items_without_citations() -> None:
    answer = "Paris is the capital of France [1]. The Eiffel Tower was built in 1889 [2][3]. It has 500 floors."
    assert claims(answer) == ["Paris is the capital of France.", "The Eiffel Tower was built in 1889.",
                              "It has 500 floors."]
    assert claims("Steps:\n- Open Settings [1]\n2. Choose Security.") == ["Steps:", "Open Settings", "Choose Security."]
    assert claims("") == [] and claims("[1]") == []


def test_groundedness_by_hand() -> None:
    cited = ["Paris is the capital and largest city of France.", "The Eiffel Tower was completed in 1889."]
    answer = "Paris is the capital of France [1]. The Eiffel Tower was built in 1889 [2]. It has 500 floors."
    # claim 1: pari, capit, franc all in text 1; claim 2: eiffel, tower, 1889 of eiffel, tower, built, 1889 = 3/4;
    # claim 3: 500, floor in neither -> 2 of 3 claims supported
    assert groundedness(answer, cited) == pytest.approx(2 / 3)
    assert groundedness("The tower was built in 1890.", cited) == 0.0  # tower, built, 1890: 1/3 (1890 is not 1889)
    assert groundedness(answer, []) == 0.0
    assert groundedness("", cited) is None and groundedness("[1].", cited) is None


def test_json_valid() -> None:
    assert json_valid('{"answer": "France", "sources": [1]}')
    assert json_valid("  [1, 2]\n")
    assert not json_valid('{"answer": "France",}')
    assert not json_valid("")
    assert not json_valid('Sure! {"answer": "France"}')
