"""QdrantStore: the shared store contract (local mode, and a real server when QDRANT_URL is set), then
what only the Qdrant store has.

    namespaces                 one collection each: tenants never share points
    reopening                  persisted under data_dir/qdrant; another vector space is refused
    replace without transactions   a half-done write (new points, old marker) stays invisible
    hybrid_search              the retriever's weighted fusion, both lists in one request
    server_hybrid_search       fused by Qdrant (DBSF, weighted RRF)
    BM25                       after flush(), the embedded store's scores on real text
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("qdrant_client")
pytest.register_assert_rewrite("dayshift.testing.store_contract")

from qdrant_client import QdrantClient

from dayshift.analysis import analyze
from dayshift.errors import QueryError, StoreError
from dayshift.fusion import reciprocal_rank_fusion, weighted_fusion
from dayshift.store.embedded import EmbeddedStore
from dayshift.store.hybrid import HybridSearcher
from dayshift.store.qdrant import QdrantStore
from dayshift.store.qdrant.filters import PREFIX_CHARS
from dayshift.store.qdrant.points import chunk_point
from dayshift.testing.store_contract import (
    SPACE,
    StoreContract,
    ids,
    kw,
    make_chunk,
    put,
    random_units,
    unit,
)
from dayshift.types import Condition as C

QDRANT_URL = os.environ.get("QDRANT_URL")


class TestQdrantLocalStore(StoreContract):
    def make_store(self, tmp_path: Path, *, space: str, dim: int) -> QdrantStore:
        return QdrantStore(data_dir=tmp_path, space=space, dim=dim)


@pytest.mark.skipif(not QDRANT_URL, reason="set QDRANT_URL to a Qdrant server (e.g. http://localhost:6333) to run")
class TestQdrantServerStore(StoreContract):
    """The same contract against a real server; each store gets a fresh namespace, dropped afterwards."""

    def make_store(self, tmp_path: Path, *, space: str, dim: int) -> QdrantStore:
        store = QdrantStore(
            data_dir=tmp_path, space=space, dim=dim, url=QDRANT_URL, namespace=f"test-{uuid.uuid4().hex[:12]}"
        )
        original_close = store.close

        def close() -> None:
            store._client.delete_collection(store.collection)
            original_close()

        store.close = close  # type: ignore[method-assign]
        return store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[QdrantStore]:
    store = QdrantStore(data_dir=tmp_path, space=SPACE, dim=8)
    yield store
    store.close()


# -- namespaces and persistence -------------------------------------------------------------


def test_namespaces_are_separate_collections(tmp_path: Path) -> None:
    client = QdrantClient(path=str(tmp_path / "shared"))  # one local folder, two tenants
    acme = QdrantStore(data_dir=tmp_path, space=SPACE, dim=8, namespace="acme", client=client)
    other = QdrantStore(data_dir=tmp_path, space=SPACE, dim=8, namespace="globex", client=client)
    try:
        put(acme, "secret", ["acme quarterly numbers"], np.stack([unit(1)]))
        put(other, "public", ["globex quarterly numbers"], np.stack([unit(1)]))
        assert ids(kw(acme, "quarterly")) == ["secret:0"]
        assert ids(kw(other, "quarterly")) == ["public:0"]
        assert ids(other.dense_search(unit(1), k=10)) == ["public:0"]
        assert other.document_versions() == {"public": "v1"} and acme.document_versions() == {"secret": "v1"}
        other.delete_documents(["secret"])
        assert ids(kw(acme, "quarterly")) == ["secret:0"]
        assert {c.name for c in client.get_collections().collections} == {"dayshift_acme", "dayshift_globex"}
    finally:
        acme.close()
        other.close()
        client.close()


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    store = QdrantStore(data_dir=tmp_path, space=SPACE, dim=8)
    [chunk] = put(store, "doc", ["persistent glacier notes"], np.stack([unit(0, 1)]), metadata={"year": 2021})
    store.flush()
    store.close()
    again = QdrantStore(data_dir=tmp_path, space=SPACE, dim=8)
    try:
        assert [h.chunk for h in kw(again, "glacier")] == [chunk]
        assert ids(again.dense_search(unit(0, 1), k=1, where=[C("year", ">=", 2021)])) == ["doc:0"]
        assert again.document_versions() == {"doc": "v1"}
        assert again.stats().chunks == 1 and again.stats().size_bytes > 0
    finally:
        again.close()


def test_another_vector_space_is_refused_with_the_fix(tmp_path: Path) -> None:
    QdrantStore(data_dir=tmp_path, space=SPACE, dim=8).close()
    for space, dim in (("other-model/v1", 8), (SPACE, 16)):
        with pytest.raises(StoreError, match="set the embedder it was built with, or another namespace"):
            QdrantStore(data_dir=tmp_path, space=space, dim=dim)


def test_a_second_process_on_local_mode_gets_a_store_error(tmp_path: Path) -> None:
    first = QdrantStore(data_dir=tmp_path, space=SPACE, dim=8)
    try:
        with pytest.raises(StoreError, match="DAYSHIFT_STORE__URL"):
            QdrantStore(data_dir=tmp_path, space=SPACE, dim=8)
    finally:
        first.close()


# -- replace without transactions ---------------------------------------------------------


def test_a_write_that_dies_before_the_flip_stays_invisible_and_is_cleaned_up(
    store: QdrantStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    [old] = put(store, "doc", ["original tundra text"], np.stack([unit(1)]))
    writes = []
    real = store._put_marker

    def dies_at_the_flip(doc_id: str, payload: dict[str, object]) -> None:
        writes.append(payload)
        if "gen" in payload and len(writes) > 1:
            raise ConnectionError("the writer died")
        real(doc_id, payload)

    monkeypatch.setattr(store, "_put_marker", dies_at_the_flip)
    with pytest.raises(ConnectionError):
        put(store, "doc", ["replacement tundra text", "more tundra"], np.stack([unit(1), unit(1)]), version="v2")
    with pytest.raises(ConnectionError):
        put(store, "new", ["brand new tundra"], np.stack([unit(1)]))  # a first write, dying too
    monkeypatch.undo()
    assert store._client.count(store.collection).count == 7
    assert [h.chunk for h in kw(store, "tundra")] == [old]
    assert [h.chunk for h in store.dense_search(unit(1), k=5)] == [old]
    assert [h.chunk for h in store.hybrid_search(analyze("tundra"), unit(1), k=5).hits] == [old]
    assert [h.chunk for h in store.server_hybrid_search(analyze("tundra"), unit(1), k=5)] == [old]
    assert store.document_versions() == {"doc": "v1"} and store.stats().chunks == 1
    assert [d for d, _, _ in store.export_documents()] == ["doc"]
    put(store, "doc", ["final tundra text"], np.stack([unit(1)]), version="v3")  # the next write cleans up
    assert store.delete_documents(["new"]) == 0  # and so does a delete
    assert [h.chunk.doc_version for h in kw(store, "tundra")] == ["v3"]
    assert store._client.count(store.collection).count == 3


def test_stale_points_do_not_cost_top_k(store: QdrantStore) -> None:
    for i in range(5):
        put(store, f"d{i}", [f"moraine number {i}"], np.stack([unit(1, i * 0.1)]))
    for i in range(3):  # 3 x 20 invisible points that all outrank the live ones
        chunks = [make_chunk(f"d{i}", j, "moraine moraine moraine", version="ghost") for j in range(20)]
        store._client.upsert(
            store.collection,
            [chunk_point(c, unit(1), analyze(c.indexed_text), gen="ghost", avgdl=store._avgdl) for c in chunks],
        )
    assert sorted(ids(kw(store, "moraine", k=5))) == [f"d{i}:0" for i in range(5)]
    assert len(store.dense_search(unit(1), k=5)) == 5


# -- filters the contract does not reach --------------------------------------------------


def test_long_source_prefixes_and_paths_are_exact(store: QdrantStore) -> None:
    long_dir = "a" * (PREFIX_CHARS + 4)
    put(store, "x", ["common"], source=f"data/{long_dir}/report.pdf")
    put(store, "y", ["common"], source=f"data/{long_dir[:-1]}b/report.pdf")
    put(store, "z", ["common"], source="other/reports/nist/x.md")
    cases = {
        long_dir: ["x:0"],
        long_dir[:-2]: ["x:0", "y:0"],
        f"{long_dir}/rep": ["x:0"],
        "reports/nist": ["z:0"],
        "data/": ["x:0", "y:0"],
        "ports": [],
    }
    for value, expected in cases.items():
        assert sorted(ids(kw(store, "common", where=[C("source", "=", value)]))) == expected, value
        assert sorted(ids(store.dense_search(unit(1), k=10, where=[C("source", "=", value)]))) == expected, value
    assert ids(kw(store, "common", where=[C("source", "!=", long_dir)])) in (["y:0", "z:0"], ["z:0", "y:0"])


TRICKY = {
    "n": {"v": 5, "w": "02134"},
    "s": {"v": "7 apples", "w": 2134},
    "t": {"v": "pear", "w": 2.5},
    "b": {"v": True, "w": False},
    "f": {"v": 5.0, "dotted.key": "x"},
    "none": {},
}
TRICKY_WHERE = [
    C("v", ">", 4),
    C("v", "<", 1),
    C("v", "=", 1),
    C("v", "=", 5),
    C("v", "!=", 5),
    C("v", ">", "a"),
    C("v", "<", "a"),
    C("v", "=", "7 apples"),
    C("v", "=", "7*"),
    C("v", "!=", "p?ar"),
    C("v", ">=", True),
    C("w", "=", 2134),
    C("w", "=", "02134"),
    C("w", "<", 100),
    C("w", "=", False),
    C("w", "=", 0),
    C("dotted.key", "=", "x"),
    C("dotted.key", "!=", "x"),
    C("doc_id", ">", "n"),
    C("title", "=", ""),
    C("page", "!=", 3),
    C("source", "=", "s"),
    C("source", "!=", "*e"),
    C("section", "=", "H*"),
]


def test_casts_and_cross_type_comparisons_agree_with_sqlite(store: QdrantStore, tmp_path: Path) -> None:
    """The embedded store's SQL is the reference for every corner of the Condition semantics."""
    embedded = EmbeddedStore(data_dir=tmp_path / "embedded", space=SPACE, dim=8)
    try:
        for doc_id, metadata in TRICKY.items():
            for target in (store, embedded):
                put(target, doc_id, ["common"], metadata=metadata, section=("Heading", doc_id))
        for cond in TRICKY_WHERE:
            want = sorted(ids(kw(embedded, "common", where=[cond])))
            assert sorted(ids(kw(store, "common", where=[cond]))) == want, cond
            assert sorted(ids(store.dense_search(unit(1), k=10, where=[cond]))) == want, cond
    finally:
        embedded.close()
    with pytest.raises(QueryError):
        kw(store, "common", where=[C("bad key", "=", 1)])


# -- hybrid search on the server -----------------------------------------------------------


def test_hybrid_search_is_the_retrievers_weighted_fusion(store: QdrantStore) -> None:
    put(store, "kw", ["volcanic plume"], np.stack([unit(0, 0, 1)]))
    put(store, "dense", ["quiet meadow"], np.stack([unit(1)]))
    put(store, "both", ["volcanic ash meadow"], np.stack([unit(1, 0.2)]))
    query, vector = analyze("volcanic ash"), unit(1, 0.1)
    for weight in (0.0, 0.3, 0.5, 1.0):
        found = store.hybrid_search(query, vector, k=3, candidates=10, dense_weight=weight)
        lists = [store.keyword_search(query, k=10), store.dense_search(vector, k=10)]
        want = weighted_fusion(lists, k=3, weights=[1.0 - weight, weight])
        assert [(h.chunk, h.source) for h in found.hits] == [(h.chunk, h.source) for h in want], weight
        assert [h.score for h in found.hits] == pytest.approx([h.score for h in want]), weight
        assert found.keyword_scores == {h.chunk.chunk_id: h.score for h in lists[0]}
        assert found.dense_scores == {h.chunk.chunk_id: h.score for h in lists[1]}
    assert isinstance(store, HybridSearcher)
    assert ids(store.hybrid_search(["zyzzyva"], unit(0, 0, 1), k=1).hits) == ["kw:0"]  # no keyword hit: dense alone
    assert store.hybrid_search(query, vector, k=3, where=[C("lang", "=", "xx")]).hits == []


def test_server_hybrid_search_fuses_both_lists_in_qdrant(store: QdrantStore) -> None:
    put(store, "kw", ["volcanic plume"], np.stack([unit(0, 0, 1)]))
    put(store, "dense", ["quiet meadow"], np.stack([unit(1)]))
    put(store, "both", ["volcanic ash meadow"], np.stack([unit(1, 0.2)]))  # 1st by keyword, 2nd by dense
    query = analyze("volcanic ash")
    for fusion in ("dbsf", "rrf"):
        hits = store.server_hybrid_search(query, unit(1), k=3, fusion=fusion)  # type: ignore[arg-type]
        assert ids(hits)[0] == "both:0" and set(ids(hits)) == {"kw:0", "dense:0", "both:0"}, fusion
        assert all(h.source == "hybrid" for h in hits) and hits[0].score > hits[1].score
    rrf = store.server_hybrid_search(query, unit(1), k=3, fusion="rrf")
    want = reciprocal_rank_fusion([store.keyword_search(query, k=10), store.dense_search(unit(1), k=10)], k=3, rrf_k=60)
    assert [(h.chunk, round(h.score, 6)) for h in rrf] == [(h.chunk, round(h.score, 6)) for h in want]
    filtered = store.server_hybrid_search(query, unit(1), k=3, where=[C("doc_id", "!=", "both")])
    assert sorted(ids(filtered)) == ["dense:0", "kw:0"]
    assert len(store.server_hybrid_search(query, unit(1), k=3, fusion="rrf", dense_weight=0.9)) == 3
    assert ids(store.server_hybrid_search(["zyzzyva"], unit(0, 0, 1), k=1)) == ["kw:0"]
    with pytest.raises(QueryError, match="DBSF"):
        store.server_hybrid_search(query, unit(1), k=3, dense_weight=0.7)


# -- BM25 against the embedded store on real text -------------------------------------------


def test_bm25_after_flush_matches_the_embedded_store(tmp_path: Path, rust_book_dir: Path) -> None:
    paragraphs = [
        p for f in sorted(rust_book_dir.glob("ch0[1-4]*.md")) for p in f.read_text().split("\n\n") if len(p) > 200
    ]
    chunks = [make_chunk(f"p{i}", 0, text, source=f"book/p{i}.md") for i, text in enumerate(paragraphs[:300])]
    vectors = random_units(len(chunks), seed=3)
    embedded = EmbeddedStore(data_dir=tmp_path / "embedded", space=SPACE, dim=8)
    memory = QdrantClient(location=":memory:")  # the local mode's persistence is not what this measures
    qdrant = QdrantStore(data_dir=tmp_path / "qdrant", space=SPACE, dim=8, client=memory)
    try:
        for chunk, vector in zip(chunks, vectors):
            for target in (embedded, qdrant):
                target.replace_document(chunk.doc_id, [chunk], vector[None])
        before = [h.score for h in qdrant.keyword_search(analyze("ownership borrowing rules"), k=10)]
        assert before != pytest.approx(
            [h.score for h in embedded.keyword_search(analyze("ownership borrowing rules"), k=10)]
        )
        qdrant.flush()  # bakes the live mean length into the weights
        for query in (
            "ownership borrowing rules",
            "cargo build release",
            "guessing game random number",
            "variables mutable",
        ):
            want = embedded.keyword_search(analyze(query), k=10)
            got = qdrant.keyword_search(analyze(query), k=10)
            assert [h.score for h in got] == pytest.approx([h.score for h in want], rel=1e-4), query
            assert {(round(h.score, 3), h.chunk.chunk_id) for h in got} == {
                (round(h.score, 3), h.chunk.chunk_id) for h in want
            }
    finally:
        embedded.close()
        qdrant.close()
        memory.close()
