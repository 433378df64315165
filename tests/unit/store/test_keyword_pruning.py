"""KeywordIndex's MaxScore pruning returns exactly what scoring every posting returns.

On real text (SciFact abstracts, each added twice so that common terms hold thousands of
postings), with deletions, a delta segment, filters and repeated query terms: the same ids
in the same order and the same scores, for every SciFact test query and for the analysed
titles; and pruning does skip postings (`_essential` leaves terms out).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from dayshift.analysis import analyze
from dayshift.store.embedded.keyword import KeywordIndex


@pytest.fixture(scope="module")
def corpus(scifact_dir: Path) -> tuple[KeywordIndex, list[list[str]]]:
    with gzip.open(scifact_dir / "corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        docs = [json.loads(line) for line in f]
    terms = [analyze(f"{d['title']} {d['text']}") for d in docs]
    index = KeywordIndex()
    index.add(list(range(len(terms))), terms)
    index.add(list(range(100_000, 100_000 + len(terms))), terms[::-1])  # a second segment, other order
    index.remove(list(range(0, len(terms), 9)))  # dead rows stay in the postings, out of the statistics
    index.add(list(range(200_000, 200_200)), terms[:200])  # a small delta
    queries = [analyze(json.loads(line)["text"]) for line in (scifact_dir / "queries_test.jsonl").open()]
    queries += [analyze(d["title"]) for d in docs[:100]]
    queries.append(analyze("cell cell cell protein expression in human cells"))
    return index, [q for q in queries if q]


@pytest.mark.parametrize("k", [1, 10, 100])
def test_pruned_top_k_equals_scoring_every_posting(corpus: tuple[KeywordIndex, list[list[str]]], k: int) -> None:
    index, queries = corpus
    for terms in queries:
        want_ids, want_scores = index.search(terms, k=k, prune=False)
        got_ids, got_scores = index.search(terms, k=k)
        assert got_ids.tolist() == want_ids.tolist(), terms
        assert got_scores.tolist() == pytest.approx(want_scores.tolist(), rel=1e-6), terms


def test_pruned_top_k_under_a_filter_equals_scoring_every_posting(corpus: tuple[KeywordIndex, list[list[str]]]) -> None:
    index, queries = corpus
    allowed = np.arange(0, 110_000, 7)  # about one in seven rows, across both segments
    for terms in queries[:150]:
        want = index.search(terms, k=10, allowed=allowed, prune=False)
        got = index.search(terms, k=10, allowed=allowed)
        assert got[0].tolist() == want[0].tolist(), terms
        assert got[1].tolist() == pytest.approx(want[1].tolist(), rel=1e-6), terms
        assert set(got[0].tolist()) <= set(allowed.tolist())


def test_pruning_leaves_common_terms_unscanned(corpus: tuple[KeywordIndex, list[list[str]]]) -> None:
    index, queries = corpus
    skipped = 0
    for terms in queries:
        term_ids = sorted({index._vocab[t] for t in terms if t in index._vocab})
        if len(term_ids) < 3:
            continue
        n = len(index)
        df = index._df[term_ids].astype(np.float32)
        idf = np.log1p((n - df + 0.5) / (df + 0.5))
        postings = [index._postings(t) for t in term_ids]
        essential = index._essential(term_ids, idf, postings, index._total_length / n, k=10, mask=None)
        skipped += len(term_ids) - len(essential)
    assert skipped > len(queries)  # on average more than one term per query is never scanned
