"""Retriever over the in-memory reference store with the real MiniLM embedder.

The embedder runs its ONNX runtime for documents as well as queries (no torch load: the retrieval
logic, not the runtimes, is under test here; the runtimes agree, see test_local_embedder.py).
Fused scores are recomputed by hand from the single-mode result lists.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from dayshift.embed.local import LocalEmbedder
from dayshift.retrieve.retriever import Retriever, latest_versions_only
from dayshift.settings import RetrieveSettings
from dayshift.testing.memory_store import MemoryStore
from dayshift.types import Chunk, Condition, Hit

CORPUS: dict[str, list[tuple[str, int | None]]] = {
    "pets/cats.md": [
        ("A cat sits on the mat and purrs softly.", None),
        ("Kittens need to be fed four times a day.", None),
    ],
    "pets/dogs.md": [("Dogs enjoy long walks in the park every morning.", None)],
    "security/incident.pdf": [
        ("Incident response: contain the breach, eradicate malware, recover systems.", 3),
        ("Error code E4711 means the backup volume is full; delete old snapshots.", 7),
    ],
    "rust/ownership.md": [
        ("Each value in Rust has a single owner; when the owner goes out of scope the value is dropped.", None),
        ("References must always be valid: the borrow checker enforces this.", None),
    ],
    "finance/q3.md": [
        ("Quarterly earnings beat analyst expectations as revenue grew.", None),
        ("Zorblax is the codename of the third-quarter release.", None),
    ],
}
ALL_IDS = {f"{src}:{i}" for src, items in CORPUS.items() for i in range(len(items))}
HYBRID_QUERY = "a kitty purring on a rug zorblax"  # keyword: only the Zorblax chunk; dense: the cat


def make_chunks(
    source: str, items: Sequence[tuple[str, int | None]], *, version: str = "v1", at: float = 1.0
) -> list[Chunk]:
    return [
        Chunk(
            chunk_id=f"{source}:{i}", doc_id=source, doc_version=version, source=source, title="", text=text,
            section=(), page=page, char_start=0, char_end=len(text), ordinal=i, ingested_at=at,
            metadata={"topic": source.split("/")[0]},
        )  # fmt: skip
        for i, (text, page) in enumerate(items)
    ]


@pytest.fixture(scope="module")
def embedder() -> LocalEmbedder:
    return LocalEmbedder(runtime="onnx")


def fill(store: MemoryStore, embedder: LocalEmbedder) -> MemoryStore:
    for source, items in CORPUS.items():
        chunks = make_chunks(source, items)
        store.replace_document(source, chunks, embedder.embed([c.indexed_text for c in chunks]))
    return store


@pytest.fixture(scope="module")
def store(embedder: LocalEmbedder) -> MemoryStore:
    return fill(MemoryStore(space=embedder.space, dim=embedder.dim), embedder)


@pytest.fixture(scope="module")
def retriever(store: MemoryStore, embedder: LocalEmbedder) -> Retriever:
    return Retriever(store, embedder)


def ids(hits: Sequence[Hit]) -> list[str]:
    return [h.chunk.chunk_id for h in hits]


# -- the three modes --------------------------------------------------------------------------------


def test_keyword_mode_returns_bm25_hits_only_for_matching_chunks(retriever: Retriever) -> None:
    result = retriever.search("E4711", k=5, mode="keyword")
    assert ids(result.hits) == ["security/incident.pdf:1"]
    assert result.hits[0].source == "keyword" and result.hits[0].score > 0
    both = retriever.search("cat error E4711", k=5, mode="keyword").hits
    assert ids(both) == ["security/incident.pdf:1", "pets/cats.md:0"]  # two query terms beat one
    assert both[0].score > both[1].score > 0


def test_dense_mode_ranks_by_cosine_of_the_query_vector(retriever: Retriever, store: MemoryStore, embedder) -> None:
    query = "feline resting on a rug"  # shares no term with any chunk
    assert retriever.search(query, k=5, mode="keyword").hits == []
    result = retriever.search(query, k=4, mode="dense")
    assert [h.source for h in result.hits] == ["dense"] * 4
    assert ids(result.hits)[:2] == ["pets/cats.md:0", "pets/cats.md:1"]
    # scores are the cosine of the query vector with each chunk's vector, best first
    q = embedder.embed([query], kind="query")[0]
    every = store.dense_search(q, k=len(ALL_IDS))
    chunk_vectors = {h.chunk.chunk_id: embedder.embed([h.chunk.indexed_text])[0] for h in every[:4]}
    for hit in result.hits:
        assert hit.score == pytest.approx(float(chunk_vectors[hit.chunk.chunk_id] @ q), abs=1e-5)
    assert [h.score for h in result.hits] == sorted((h.score for h in result.hits), reverse=True)


def test_hybrid_contains_the_best_of_both_lists_with_rrf_scores(retriever: Retriever) -> None:
    retriever = Retriever(retriever.store, retriever.embedder, settings=RetrieveSettings(fusion="rrf"))
    keyword = retriever.search(HYBRID_QUERY, k=100, mode="keyword").hits
    dense = retriever.search(HYBRID_QUERY, k=100, mode="dense").hits
    assert ids(keyword) == ["finance/q3.md:1"] and ids(dense)[0] == "pets/cats.md:0"  # they disagree
    hybrid = retriever.search(HYBRID_QUERY, k=3, mode="hybrid").hits
    assert {"finance/q3.md:1", "pets/cats.md:0"} <= set(ids(hybrid))
    expected: dict[str, float] = {}
    for hits in (keyword, dense):
        for rank, hit in enumerate(hits, start=1):
            expected[hit.chunk.chunk_id] = expected.get(hit.chunk.chunk_id, 0.0) + 1 / (60 + rank)
    best = sorted(expected, key=expected.__getitem__, reverse=True)[:3]
    assert ids(hybrid) == best
    assert [h.score for h in hybrid] == pytest.approx([expected[c] for c in best])
    assert {h.source for h in hybrid} == {"hybrid"}


def test_hybrid_is_the_default_mode_and_settings_choose_another(store, embedder) -> None:
    assert Retriever(store, embedder).search(HYBRID_QUERY, k=2).hits[0].source == "hybrid"
    keyword_only = Retriever(store, embedder, settings=RetrieveSettings(mode="keyword"))
    assert ids(keyword_only.search(HYBRID_QUERY, k=2).hits) == ["finance/q3.md:1"]


def test_weighted_fusion_from_settings(store, embedder, retriever: Retriever) -> None:
    weighted = Retriever(store, embedder, settings=RetrieveSettings(fusion="weighted", dense_weight=0.25))
    query = "cat error E4711"
    keyword = retriever.search(query, k=100, mode="keyword").hits
    dense = retriever.search(query, k=100, mode="dense").hits
    expected: dict[str, float] = {}
    for hits, weight in ((keyword, 0.75), (dense, 0.25)):
        low, high = min(h.score for h in hits), max(h.score for h in hits)
        for h in hits:
            expected[h.chunk.chunk_id] = expected.get(h.chunk.chunk_id, 0.0) + weight * (h.score - low) / (high - low)
    hits = weighted.search(query, k=3).hits
    assert ids(hits)[0] == "security/incident.pdf:1"  # top of both lists: 0.75 + 0.25
    assert hits[0].score == pytest.approx(1.0)
    assert {h.chunk.chunk_id: h.score for h in hits} == pytest.approx({c: expected[c] for c in ids(hits)})


def test_k_limits_every_mode(retriever: Retriever) -> None:
    for mode in ("keyword", "dense", "hybrid"):
        assert len(retriever.search("cat dog rust value", k=2, mode=mode).hits) == 2  # type: ignore[arg-type]
    assert len(retriever.search("cat", k=100, mode="dense").hits) == len(ALL_IDS)


# -- filters ----------------------------------------------------------------------------------------


def test_filters_pass_through_to_every_list(retriever: Retriever) -> None:
    pets = [Condition("source", "=", "pets")]
    for mode in ("dense", "hybrid"):
        hits = retriever.search(HYBRID_QUERY, k=10, mode=mode, where=pets).hits  # type: ignore[arg-type]
        assert set(ids(hits)) == {"pets/cats.md:0", "pets/cats.md:1", "pets/dogs.md:0"}
    # unfiltered, the Zorblax chunk wins the keyword list; filtered to pets it is gone
    assert retriever.search(HYBRID_QUERY, k=10, mode="keyword", where=pets).hits == []


def test_page_and_metadata_filters(retriever: Retriever) -> None:
    query = "incident error E4711 breach"
    unfiltered = ids(retriever.search(query, k=10, mode="keyword").hits)
    assert set(unfiltered) == {"security/incident.pdf:0", "security/incident.pdf:1"}  # pages 3 and 7
    assert ids(retriever.search(query, k=10, mode="keyword", where=[Condition("page", ">=", 5)]).hits) == [
        "security/incident.pdf:1"
    ]
    finance = retriever.search(query, k=10, mode="dense", where=[Condition("topic", "=", "finance")]).hits
    assert set(ids(finance)) == {"finance/q3.md:0", "finance/q3.md:1"}


# -- timings ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "stages"),
    [
        ("keyword", {"keyword", "fuse"}),
        ("dense", {"embed", "dense", "fuse"}),
        ("hybrid", {"keyword", "embed", "dense", "fuse"}),
    ],
)
def test_timings_cover_the_stages_run_and_a_total(retriever: Retriever, mode: str, stages: set[str]) -> None:
    timings = retriever.search(HYBRID_QUERY, k=3, mode=mode).timings_ms  # type: ignore[arg-type]
    assert set(timings) == stages | {"total"}
    assert all(v >= 0.0 for v in timings.values())
    # total is wall time, which holds every stage of the calling thread; in hybrid the keyword
    # stage runs on another thread, overlapping the query embedding
    sequential = sum(v for s, v in timings.items() if s != "total" and not (mode == "hybrid" and s == "keyword"))
    assert timings["total"] >= sequential - 1e-6
    if "embed" in stages:
        assert timings["embed"] > 0.0  # a real model call takes measurable time


# -- re-ranking -------------------------------------------------------------------------------------


class ReverseReranker:
    """A pluggable Reranker that reverses what it is given (and records it)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[Hit], int]] = []

    def rerank(self, query: str, hits: Sequence[Hit], *, k: int) -> list[Hit]:
        self.calls.append((query, list(hits), k))
        return [Hit(h.chunk, float(i), "rerank") for i, h in enumerate(reversed(hits))][:k]


def test_reranker_gets_the_top_rerank_candidates_and_returns_k(store, embedder) -> None:
    settings = RetrieveSettings(rerank_candidates=5)
    fused_top5 = ids(Retriever(store, embedder, settings=settings).search(HYBRID_QUERY, k=5).hits)
    reranker = ReverseReranker()
    result = Retriever(store, embedder, settings=settings, reranker=reranker).search(HYBRID_QUERY, k=3)
    ((query, given, k),) = reranker.calls
    assert (query, ids(given), k) == (HYBRID_QUERY, fused_top5, 3)
    assert ids(result.hits) == fused_top5[::-1][:3]
    assert [h.source for h in result.hits] == ["rerank"] * 3
    assert "rerank" in result.timings_ms
    sequential = sum(v for s, v in result.timings_ms.items() if s not in ("total", "keyword"))
    assert result.timings_ms["total"] >= sequential - 1e-6


def test_reranker_gets_k_candidates_when_k_is_larger(store, embedder) -> None:
    reranker = ReverseReranker()
    retriever = Retriever(store, embedder, settings=RetrieveSettings(rerank_candidates=2), reranker=reranker)
    result = retriever.search("cat", k=4, mode="dense")
    assert len(reranker.calls[0][1]) == 4 and len(result.hits) == 4


def test_reranker_is_not_called_without_hits(store, embedder) -> None:
    reranker = ReverseReranker()
    result = Retriever(store, embedder, reranker=reranker).search("qwertyuiop", k=3, mode="keyword")
    assert result.hits == [] and reranker.calls == [] and "rerank" not in result.timings_ms


# -- a document re-ingested between the keyword and the dense read ----------------------------------


def hit(cid: str, version: str, at: float, source: str = "keyword") -> Hit:
    doc = cid.split(":")[0]
    chunk = Chunk(
        chunk_id=cid, doc_id=doc, doc_version=version, source=doc, title="", text=cid, section=(), page=None,
        char_start=0, char_end=1, ordinal=int(cid.split(":")[1]), ingested_at=at,
    )  # fmt: skip
    return Hit(chunk, 1.0, source)  # type: ignore[arg-type]


def test_latest_versions_only_drops_older_versions_in_every_list() -> None:
    keyword = [hit("a:0", "old", 1.0), hit("b:0", "b1", 5.0), hit("a:1", "old", 1.0)]
    dense = [hit("a:0", "new", 2.0, "dense"), hit("c:0", "c1", 0.5, "dense"), hit("a:1", "old", 1.0, "dense")]
    kept = latest_versions_only([keyword, dense])
    assert [[(h.chunk.chunk_id, h.chunk.doc_version) for h in hits] for hits in kept] == [
        [("b:0", "b1")],
        [("a:0", "new"), ("c:0", "c1")],
    ]
    assert latest_versions_only([keyword[1:2], []]) == [keyword[1:2], []]


class IngestBetweenReads(MemoryStore):
    """A MemoryStore where an ingest commits right after the keyword read, as a concurrent one can."""

    pending: tuple[str, list[Chunk], np.ndarray] | None = None
    keyword_read: list[Hit] = []

    def keyword_search(self, terms, *, k, where=()):  # type: ignore[no-untyped-def]
        hits = self.keyword_read = super().keyword_search(terms, k=k, where=where)
        if self.pending:
            self.replace_document(*self.pending)
            self.pending = None
        return hits


def test_retriever_keeps_only_the_newer_version_of_a_document(embedder: LocalEmbedder) -> None:
    store = fill(IngestBetweenReads(space=embedder.space, dim=embedder.dim), embedder)
    new_items = [("A kitty purring on a rug is a happy cat.", None), ("Zorblax cats sleep all day.", None)]
    new = make_chunks("pets/cats.md", new_items, version="v2", at=2.0)
    store.pending = ("pets/cats.md", new, embedder.embed([c.indexed_text for c in new]))
    query = "a cat sits on the mat with zorblax"
    hits = Retriever(store, embedder).search(query, k=20).hits
    # the keyword read saw the old version (and the Zorblax chunk); the dense read saw the new one
    read = {(h.chunk.chunk_id, h.chunk.doc_version) for h in store.keyword_read}
    assert ("pets/cats.md:0", "v1") in read and ("finance/q3.md:1", "v1") in read
    cats = {(h.chunk.chunk_id, h.chunk.doc_version) for h in hits if h.chunk.doc_id == "pets/cats.md"}
    assert cats == {("pets/cats.md:0", "v2"), ("pets/cats.md:1", "v2")}  # every v1 hit dropped
    assert len(ids(hits)) == len(set(ids(hits))) == len(ALL_IDS)
    assert "finance/q3.md:1" in ids(hits)  # other documents untouched


def test_default_hybrid_is_weighted_fusion_of_min_max_normalised_scores(retriever: Retriever) -> None:
    keyword = retriever.search(HYBRID_QUERY, k=100, mode="keyword").hits
    dense = retriever.search(HYBRID_QUERY, k=100, mode="dense").hits
    expected: dict[str, float] = {}
    for hits in (keyword, dense):
        low, high = min(h.score for h in hits), max(h.score for h in hits)
        for hit in hits:
            share = (hit.score - low) / ((high - low) or 1.0)
            expected[hit.chunk.chunk_id] = expected.get(hit.chunk.chunk_id, 0.0) + 0.5 * share
    best = sorted(expected, key=expected.__getitem__, reverse=True)[:3]
    hybrid = retriever.search(HYBRID_QUERY, k=3, mode="hybrid").hits
    assert ids(hybrid) == best
    assert [h.score for h in hybrid] == pytest.approx([expected[c] for c in best])
