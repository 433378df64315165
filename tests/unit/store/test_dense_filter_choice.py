"""DenseIndex under a filter: an exact scan when it keeps few rows, HNSW with the filter in the walk otherwise.

Both answer with filtered rows only, never fewer than k when k exist; the exact scan is the
exact top k, the graph walk finds nearly all of it; `ef_search` changes the graph's recall.
"""

from __future__ import annotations

import numpy as np

from dayshift.store.embedded.dense import DenseIndex

DIM = 32


def _clustered(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(40, DIM))
    vectors = centres[rng.integers(0, 40, size=n)] + 0.6 * rng.normal(size=(n, DIM))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def _index(n: int = 6000) -> tuple[DenseIndex, np.ndarray]:
    index = DenseIndex(DIM, hnsw_min_rows=1000, threads=1, exact_filter_rows=500, ef_search=64)
    vectors = _clustered(n, seed=1)
    index.add(np.arange(1, n + 1), vectors)
    return index, vectors


def _exact(vectors: np.ndarray, allowed: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    scores = vectors[allowed - 1] @ query
    return allowed[np.argsort(-scores, kind="stable")[:k]].tolist()


def test_a_selective_filter_is_answered_by_an_exact_scan() -> None:
    index, vectors = _index()
    allowed = np.arange(1, 6001, 20)  # 300 rows: under exact_filter_rows
    for query in _clustered(20, seed=2):
        ids, scores = index.search(query, k=10, allowed=allowed)
        assert ids.tolist() == _exact(vectors, allowed, query, 10)
        assert np.all(np.diff(scores) <= 1e-7)


def test_a_broad_filter_walks_the_graph_and_keeps_to_the_filter() -> None:
    index, vectors = _index()
    allowed = np.arange(1, 6001, 3)  # 2,000 rows: the graph, with the filter inside the walk
    found, held = 0, set(allowed.tolist())
    queries = _clustered(30, seed=3)
    for query in queries:
        ids, _ = index.search(query, k=10, allowed=allowed)
        assert len(ids) == 10 and set(ids.tolist()) <= held
        found += len(set(ids.tolist()) & set(_exact(vectors, allowed, query, 10)))
    assert index.has_hnsw
    assert found / (10 * len(queries)) >= 0.9


def test_a_filter_keeping_fewer_than_k_rows_returns_them_all() -> None:
    index, _ = _index()
    allowed = np.array([5, 17, 4000])
    ids, _ = index.search(_clustered(1, seed=4)[0], k=10, allowed=allowed)
    assert sorted(ids.tolist()) == [5, 17, 4000]


def test_ef_search_trades_recall() -> None:
    index, vectors = _index()
    queries = _clustered(40, seed=5)
    truth = [set(np.argsort(-(vectors @ q))[:10] + 1) for q in queries]

    def recall() -> float:
        return float(np.mean([len(set(index.search(q, k=10)[0].tolist()) & t) / 10 for q, t in zip(queries, truth)]))

    index.set_ef(10)
    low = recall()
    index.set_ef(200)
    assert recall() >= low and recall() >= 0.95
