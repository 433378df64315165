"""Scoring functions for evals: pure, deterministic, one number each.

    answers     normalize_answer, exact_match, token_f1       (the SQuAD 2.0 evaluation script's definitions)
                semantic_similarity                           (best cosine to any expected answer)
    retrieval   retrieval_scores -> recall_at_k, mrr, ndcg_at_k   (binary relevance, per document)
    citations   citation_precision                            (cited documents that were expected)
    grounding   claims, groundedness                          (claims the cited text supports)
    behaviour   abstention_correct, json_valid

SQuAD's convention for unanswerable questions holds: no expected answer is
scored as the single expected answer "", so only an empty prediction matches.
Groundedness reuses the answer-support check (dayshift.answer.support): a claim
is supported when enough of its content terms are in one cited text.

Left out: LLM-as-judge scores (a judge model is a model to evaluate too) and
graded relevance (qrels here are binary).
"""

from __future__ import annotations

import collections
import json
import math
import re
import string
from collections.abc import Callable, Sequence

import numpy as np

from dayshift.analysis import analyze
from dayshift.answer.citations import strip_citations
from dayshift.answer.sources import Source
from dayshift.answer.support import MIN_SENTENCE_SUPPORT, Support, check_support
from dayshift.ingest.chunk import sentence_spans
from dayshift.types import Chunk

__all__ = [
    "abstention_correct",
    "citation_precision",
    "claims",
    "exact_match",
    "groundedness",
    "json_valid",
    "normalize_answer",
    "retrieval_scores",
    "semantic_similarity",
    "token_f1",
]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)
_LIST_MARKER = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")


# -- answers ----------------------------------------------------------------------


def normalize_answer(text: str) -> str:
    """Lower case, no punctuation, no articles (a, an, the), single spaces: SQuAD's normalisation."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def _golds(golds: Sequence[str]) -> Sequence[str]:
    if isinstance(golds, str):  # a bare string would be scored letter by letter
        raise TypeError("golds must be a list of expected answers, not one string")
    return golds if golds else [""]  # unanswerable: only saying nothing matches


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 when the normalised prediction equals any normalised expected answer, else 0.0."""
    said = normalize_answer(prediction)
    return float(any(said == normalize_answer(g) for g in _golds(golds)))


def token_f1(prediction: str, golds: Sequence[str]) -> float:
    """The best token-overlap F1 of the normalised prediction against any expected answer."""
    said = normalize_answer(prediction).split()
    best = 0.0
    for gold in _golds(golds):
        wanted = normalize_answer(gold).split()
        if not said or not wanted:
            best = max(best, float(said == wanted))
            continue
        common = sum((collections.Counter(said) & collections.Counter(wanted)).values())
        if common:
            precision, recall = common / len(said), common / len(wanted)
            best = max(best, 2 * precision * recall / (precision + recall))
    return best


def semantic_similarity(
    prediction: str, golds: Sequence[str], embed: Callable[[list[str]], np.ndarray]
) -> float:
    """The highest cosine between the prediction and an expected answer; `embed` returns unit rows."""
    if isinstance(golds, str) or not golds:
        raise ValueError("semantic_similarity needs a list of at least one expected answer")
    vectors = np.asarray(embed([prediction, *golds]), dtype=np.float64)
    if vectors.shape[0] != len(golds) + 1:
        raise ValueError(f"embed returned {vectors.shape[0]} vectors for {len(golds) + 1} texts")
    return float(np.clip(np.max(vectors[1:] @ vectors[0]), -1.0, 1.0))


# -- retrieval and citations --------------------------------------------------------


def retrieval_scores(retrieved: Sequence[str], expected: Sequence[str], k: int = 10) -> dict[str, float]:
    """Recall@k, reciprocal rank of the first expected document within k, and nDCG@k.

    `retrieved` is ranked document ids, best first; a document met again (another of its
    chunks) keeps its first rank, so k counts documents. Relevance is binary.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    relevant = set(expected)
    if not relevant:
        raise ValueError("retrieval is not scored for a case with no expected source")
    ranked = list(dict.fromkeys(retrieved))[:k]
    hits = [doc in relevant for doc in ranked]
    first = next((i for i, hit in enumerate(hits) if hit), None)
    dcg = sum(1.0 / math.log2(i + 2) for i, hit in enumerate(hits) if hit)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return {
        "recall_at_k": sum(hits) / len(relevant),
        "mrr": 0.0 if first is None else 1.0 / (first + 1),
        "ndcg_at_k": dcg / ideal,
    }


def citation_precision(cited: Sequence[str], expected: Sequence[str]) -> float | None:
    """Share of the distinct cited documents that were expected; None when nothing was cited."""
    distinct = list(dict.fromkeys(cited))
    if not distinct:
        return None
    wanted = set(expected)
    return sum(doc in wanted for doc in distinct) / len(distinct)


# -- grounding ----------------------------------------------------------------------


def claims(text: str) -> list[str]:
    """The answer's claims: its sentences (list items split too), with citation markers removed."""
    out: list[str] = []
    for line in strip_citations(text).splitlines():
        line = _LIST_MARKER.sub("", line).strip()
        for start, end in sentence_spans(line):
            sentence = line[start:end].strip()
            if any(ch.isalnum() for ch in sentence):
                out.append(sentence)
    return out


def groundedness(answer: str, cited_texts: Sequence[str], *, min_support: float = MIN_SENTENCE_SUPPORT) -> float | None:
    """Share of the answer's claims (sentences) that the cited texts support; None when it makes no claim.

    The answer-support check's own per-sentence verdict (dayshift.answer.support): a claim is
    supported when it appears word for word in a cited text, or at least `min_support` of its
    content terms (stemmed, stop words out, numbers included) are in one.
    """
    if not any(analyze(c) for c in claims(answer)):
        return None
    sources = [_source(n, text) for n, text in enumerate(cited_texts, 1)]
    if not sources:
        return 0.0
    return support_share(check_support(answer, question="", cited=sources, given=sources, min_sentence_support=min_support))


def support_share(support: Support | None) -> float | None:
    """Share of an answer's sentences its support check found in the text they cite."""
    if support is None or not support.sentences:
        return None
    return sum(s.supported for s in support.sentences) / len(support.sentences)


def _source(n: int, text: str) -> Source:
    """A cited text as the support check takes it."""
    chunk = Chunk(chunk_id=f"cited:{n}", doc_id="", doc_version="", source="", title="", text=text, section=(),
                  page=None, char_start=0, char_end=len(text), ordinal=0, ingested_at=0.0)
    return Source(n=n, chunk=chunk, score=0.0)


# -- behaviour ----------------------------------------------------------------------


def abstention_correct(abstained: bool, answerable: bool) -> bool:
    """Abstaining is right exactly when the question is not answerable from the documents."""
    return abstained != answerable


def json_valid(text: str) -> bool:
    """The whole text (surrounding whitespace aside) parses as one JSON value."""
    try:
        json.loads(text)
    except (ValueError, TypeError):
        return False
    return True
