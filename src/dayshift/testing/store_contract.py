"""The contract every store passes: one suite that each backend's tests inherit.

    class TestMyStore(StoreContract):
        def make_store(self, tmp_path, *, space, dim):
            return MyStore(path=tmp_path, space=space, dim=dim)

The suite runs only through the `dayshift.store.base.Store` protocol, so a
fake (`dayshift.testing.memory_store.MemoryStore`), the embedded store and a
server-backed store are held to the same behaviour: atomic replacement,
deletes that leave nothing searchable, BM25 over `dayshift.analysis` terms,
exact cosine order, filters with the `Condition` semantics, and chunks that
come back exactly as they went in.

Left out: what only some backends have (several processes, persistence,
approximate indexes); those tests live with the backend's own tests.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dayshift.analysis import analyze
from dayshift.errors import QueryError, StoreError
from dayshift.store.base import Store
from dayshift.types import Chunk, Condition, Hit, Metadata, content_hash

SPACE = "contract-space/v1"
DIM = 8


def unit(*components: float, dim: int = DIM) -> np.ndarray:
    """A unit vector of `dim` float32 whose leading components are proportional to these."""
    vector = np.zeros(dim, dtype=np.float32)
    vector[: len(components)] = components
    return vector / np.linalg.norm(vector)


def random_units(n: int, *, dim: int = DIM, seed: int | str = 0) -> np.ndarray:
    """(n, dim) float32 unit vectors, the same for the same seed."""
    seed = zlib.crc32(seed.encode()) if isinstance(seed, str) else seed
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def make_chunk(
    doc_id: str,
    ordinal: int,
    text: str,
    *,
    version: str = "v1",
    source: str | None = None,
    title: str = "",
    section: tuple[str, ...] = (),
    page: int | None = None,
    metadata: Metadata | None = None,
    char_start: int | None = None,
    ingested_at: float = 1_700_000_000.25,
) -> Chunk:
    start = ordinal * 1000 if char_start is None else char_start
    return Chunk(
        chunk_id=f"{doc_id}:{ordinal}",
        doc_id=doc_id,
        doc_version=version,
        source=doc_id if source is None else source,
        title=title,
        text=text,
        section=section,
        page=page,
        char_start=start,
        char_end=start + len(text),
        ordinal=ordinal,
        ingested_at=ingested_at,
        metadata=dict(metadata or {}),
    )


def put(
    store: Store, doc_id: str, texts: Sequence[str], vectors: np.ndarray | None = None, **fields: Any
) -> list[Chunk]:
    """Store `texts` as the chunks of `doc_id` (random unit vectors unless given)."""
    chunks = [make_chunk(doc_id, i, text, **fields) for i, text in enumerate(texts)]
    if vectors is None:
        vectors = random_units(len(chunks), dim=store_dim(store), seed=f"{doc_id}/{fields.get('version', 'v1')}")
    store.replace_document(doc_id, chunks, np.asarray(vectors, dtype=np.float32))
    return chunks


def store_dim(store: Store) -> int:
    return int(getattr(store, "dim", DIM))


def ids(hits: Sequence[Hit]) -> list[str]:
    return [hit.chunk.chunk_id for hit in hits]


def kw(store: Store, query: str, *, k: int = 100, where: Sequence[Condition] = ()) -> list[Hit]:
    return store.keyword_search(analyze(query), k=k, where=where)


def assert_best_first(hits: Sequence[Hit]) -> None:
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True), scores


# The filter corpus: every chunk says "common", so keyword search reaches all of them.
FILTER_DOCS: list[dict[str, Any]] = [
    dict(
        doc_id="nist-a",
        source="docs/nist/a.pdf",
        title="NIST A",
        metadata={"year": 2020, "lang": "en", "score": 0.5, "draft": False},
        chunks=[(1, ("Intro",)), (3, ("Controls", "AC-1"))],
    ),
    dict(
        doc_id="nist-x",
        source="pdfs/nist_x.pdf",
        title="NIST X",
        metadata={"year": 2018, "lang": "de", "score": 0.9, "draft": False},
        chunks=[(None, ())],
    ),
    dict(
        doc_id="other",
        source="docs/other.pdf",
        title="Other report",
        metadata={"year": 2023, "lang": "en", "score": 0.1, "draft": True},
        chunks=[(5, ("Intro",))],
    ),
    dict(
        doc_id="readme",
        source="notes/readme.md",
        title="Readme",
        metadata={"lang": "fr", "city": "Zürich"},
        chunks=[(None, ("Überblick",))],
    ),
]
NIST_A = {"nist-a:0", "nist-a:1"}
C = Condition
FILTER_CASES: list[tuple[list[Condition], set[str]]] = [
    ([C("source", "=", "nist")], NIST_A | {"nist-x:0"}),  # a directory and a file name prefix
    ([C("source", "=", "docs")], NIST_A | {"other:0"}),
    ([C("source", "=", "other")], {"other:0"}),
    ([C("source", "=", "docs/nist/a.pdf")], NIST_A),
    ([C("source", "=", "*.pdf")], NIST_A | {"nist-x:0", "other:0"}),
    ([C("source", "=", "docs/*")], NIST_A | {"other:0"}),
    ([C("source", "!=", "nist")], {"other:0", "readme:0"}),
    ([C("lang", "=", "en")], NIST_A | {"other:0"}),
    ([C("lang", "=", "e?")], NIST_A | {"other:0"}),
    ([C("lang", "!=", "en")], {"nist-x:0", "readme:0"}),
    ([C("year", "!=", 2020)], {"nist-x:0", "other:0", "readme:0"}),  # a missing key is "not equal"
    ([C("year", "=", 2020)], NIST_A),
    ([C("year", ">=", 2020)], NIST_A | {"other:0"}),
    ([C("year", ">", 2020)], {"other:0"}),
    ([C("year", "<", 2020)], {"nist-x:0"}),  # a missing key never compares
    ([C("year", "<=", 2018)], {"nist-x:0"}),
    ([C("score", ">=", 0.5)], NIST_A | {"nist-x:0"}),
    ([C("score", "<", 0.5)], {"other:0"}),
    ([C("draft", "=", True)], {"other:0"}),
    ([C("draft", "=", False)], NIST_A | {"nist-x:0"}),
    ([C("page", "=", 3)], {"nist-a:1"}),
    ([C("page", ">=", 3)], {"nist-a:1", "other:0"}),
    ([C("page", "<", 3)], {"nist-a:0"}),  # no page is not page 0
    ([C("doc_id", "=", "other")], {"other:0"}),
    ([C("title", "=", "NIST*")], NIST_A | {"nist-x:0"}),
    ([C("section", "=", "Intro")], {"nist-a:0", "other:0"}),
    ([C("section", "=", "AC-1")], {"nist-a:1"}),  # any heading of the path
    ([C("city", "=", "Zürich")], {"readme:0"}),
    ([C("section", "=", "Überblick")], {"readme:0"}),
    ([C("lang", "=", "xx")], set()),
    # Character classes mean what SQLite's GLOB means on every backend: `^` negates, `!` is a character.
    ([C("lang", "=", "[^e]*")], {"nist-x:0", "readme:0"}),
    ([C("lang", "=", "[!e]*")], NIST_A | {"other:0"}),
    ([C("lang", "=", "[d-e]?")], NIST_A | {"nist-x:0", "other:0"}),
    ([C("lang", "=", "[en")], set()),  # an unclosed class matches nothing
    ([C("lang", "=", "en"), C("year", "<", 2023)], NIST_A),
    ([C("source", "=", "nist"), C("page", ">=", 3)], {"nist-a:1"}),
    ([C("source", "=", "docs"), C("draft", "=", True), C("year", ">=", 2023)], {"other:0"}),
    ([C("lang", "=", "en"), C("lang", "=", "de")], set()),
]


def _filter_case_id(case: tuple[list[Condition], set[str]]) -> str:
    return " & ".join(f"{c.field}{c.op}{c.value}" for c in case[0])


class StoreContract:
    """Inherit, and override `make_store`. Every test gets a fresh, empty store."""

    space = SPACE
    dim = DIM

    def make_store(self, tmp_path: Path, *, space: str, dim: int) -> Store:
        raise NotImplementedError("override make_store(tmp_path, *, space, dim) in the backend's test class")

    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[Store]:
        store = self.make_store(tmp_path, space=self.space, dim=self.dim)
        yield store
        store.close()

    def fresh_store(self, tmp_path: Path, name: str) -> Store:
        """A second, independent store (for comparisons), closed by the caller."""
        path = tmp_path / name
        path.mkdir(parents=True, exist_ok=True)
        return self.make_store(path, space=self.space, dim=self.dim)

    # -- an empty store ----------------------------------------------------

    def test_empty_store_finds_nothing(self, store: Store) -> None:
        assert store.space == self.space
        assert store.keyword_search(["anyth"], k=10) == []
        assert store.dense_search(unit(1.0, dim=self.dim), k=10) == []
        assert store.document_versions() == {}
        stats = store.stats()
        assert (stats.documents, stats.chunks) == (0, 0)

    def test_stats_space_is_none_while_empty(self, store: Store) -> None:
        stats = store.stats()  # StoreStats: "space ... None while empty"
        assert (stats.space, stats.dim) == (None, None)

    # -- keyword search ----------------------------------------------------

    def test_keyword_search_finds_chunk_by_analysed_terms(self, store: Store) -> None:
        [chunk] = put(store, "doc", ["The running foxes jumped over the fences"], title="Field notes")
        put(store, "other", ["a quiet lake at dawn"])
        for query in ("runs", "fox", "Fence", "jumping FOXES"):
            hits = kw(store, query)
            assert ids(hits) == ["doc:0"], query
            assert hits[0].chunk == chunk and hits[0].source == "keyword" and hits[0].score > 0
        assert ids(kw(store, "field")) == ["doc:0"]  # the title is part of the indexed text
        assert kw(store, "the of and") == []  # stop words only: no terms at all
        assert store.keyword_search(["zyzzyva"], k=10) == []

    def test_keyword_search_returns_only_chunks_with_a_query_term(self, store: Store) -> None:
        put(store, "a", ["photosynthesis in plants", "respiration in animals", "rocks and minerals"])
        hits = kw(store, "photosynthesis respiration")
        assert set(ids(hits)) == {"a:0", "a:1"}
        assert all(hit.score > 0 for hit in hits)

    def test_bm25_more_matches_and_shorter_chunks_rank_first(self, store: Store) -> None:
        filler = "mounting brackets wiring roof tiles weather sealing inspection schedule"
        put(
            store,
            "energy",
            [
                f"solar energy storage {filler}",  # one query term, long
                "solar panel efficiency",  # both terms, short
                f"solar panel installation {filler}",  # both terms, long
                "wind turbines offshore",  # no query term
            ],
        )
        hits = kw(store, "solar panels")
        assert ids(hits) == ["energy:1", "energy:2", "energy:0"]
        assert_best_first(hits)
        assert hits[0].score > hits[1].score > hits[2].score
        assert ids(kw(store, "solar panels", k=2)) == ["energy:1", "energy:2"]

    def test_bm25_rare_terms_weigh_more_and_repeats_count(self, store: Store) -> None:
        put(store, "d", ["common rare", "common common", "common words", "common again", "common more"])
        assert ids(kw(store, "rare common"))[0] == "d:0"
        hits = {h.chunk.chunk_id: h.score for h in kw(store, "common")}
        assert hits["d:1"] > hits["d:2"]  # tf 2 beats tf 1 at the same length

    # -- dense search ------------------------------------------------------

    def test_dense_search_is_exact_cosine_order(self, store: Store) -> None:
        d = self.dim
        vectors = {
            "a:0": unit(1, 0, dim=d),
            "a:1": unit(1, 1, dim=d),
            "b:0": unit(1, 2, dim=d),
            "b:1": unit(0, 1, dim=d),
            "b:2": unit(-1, 0.1, dim=d),
        }
        put(store, "a", ["first", "second"], np.stack([vectors["a:0"], vectors["a:1"]]))
        put(store, "b", ["third", "fourth", "fifth"], np.stack([vectors["b:0"], vectors["b:1"], vectors["b:2"]]))
        for query in (unit(1, 0, dim=d), unit(0.3, 1, 0.2, dim=d), unit(-1, 0.5, 0.5, dim=d)):
            expected = sorted(vectors, key=lambda c: -float(vectors[c] @ query))
            hits = store.dense_search(query, k=10)
            assert ids(hits) == expected
            assert [h.score for h in hits] == pytest.approx([float(vectors[c] @ query) for c in expected], abs=1e-5)
            assert all(h.source == "dense" for h in hits)
            assert ids(store.dense_search(query, k=3)) == expected[:3]
        assert store.dense_search(unit(1, 0, dim=d), k=1)[0].score == pytest.approx(1.0, abs=1e-5)

    def test_dense_search_ranks_many_random_vectors_exactly(self, store: Store) -> None:
        vectors = random_units(60, dim=self.dim, seed=7)
        for doc in range(6):
            put(store, f"doc{doc}", [f"text {i}" for i in range(10)], vectors[doc * 10 : doc * 10 + 10])
        names = [f"doc{i // 10}:{i % 10}" for i in range(60)]
        for query in random_units(5, dim=self.dim, seed=8):
            exact = np.argsort(-(vectors @ query), kind="stable")[:10]
            hits = store.dense_search(query, k=10)
            assert ids(hits) == [names[i] for i in exact]
            assert_best_first(hits)

    # -- writing -----------------------------------------------------------

    def test_replace_with_new_version_removes_every_old_chunk(self, store: Store) -> None:
        d = self.dim
        old_vectors = np.stack([unit(1, dim=d), unit(0, 1, dim=d), unit(0, 0, 1, dim=d)])
        put(store, "doc", ["alpha one", "alpha two", "alpha three"], old_vectors, version="v1")
        keep = put(store, "keep", ["alpha kept"], version="k1")
        [new] = put(store, "doc", ["beta only"], np.stack([unit(0, 0, 0, 1, dim=d)]), version="v2")
        assert ids(kw(store, "alpha")) == ["keep:0"]
        assert [h.chunk for h in kw(store, "beta")] == [new]
        for vector in old_vectors:
            hits = store.dense_search(vector, k=10)
            assert sorted(ids(hits)) == ["doc:0", "keep:0"]
            assert {h.chunk.doc_version for h in hits} == {"v2", "k1"}
        assert store.dense_search(unit(0, 0, 0, 1, dim=d), k=1)[0].chunk == new
        assert store.document_versions() == {"doc": "v2", "keep": "k1"}
        stats = store.stats()
        assert (stats.documents, stats.chunks) == (2, 2)
        assert kw(store, "kept")[0].chunk == keep[0]

    def test_replace_with_empty_chunks_deletes_the_document(self, store: Store) -> None:
        put(store, "doc", ["gamma ray burst", "gamma again"])
        put(store, "stay", ["delta"])
        store.replace_document("doc", [], np.empty((0, self.dim), dtype=np.float32))
        assert kw(store, "gamma") == []
        assert ids(store.dense_search(unit(1, dim=self.dim), k=10)) == ["stay:0"]
        assert store.document_versions() == {"stay": "v1"}
        assert (store.stats().documents, store.stats().chunks) == (1, 1)
        store.replace_document("never-stored", [], np.empty((0, self.dim), dtype=np.float32))
        assert store.document_versions() == {"stay": "v1"}

    def test_delete_documents_removes_all_chunks_and_returns_count(self, store: Store) -> None:
        put(store, "a", ["apple one", "apple two", "apple three"])
        put(store, "b", ["apple four", "apple five"])
        put(store, "c", ["apple six"])
        assert store.delete_documents(["a", "b", "missing"]) == 5
        assert ids(kw(store, "apple")) == ["c:0"]
        assert ids(store.dense_search(unit(1, dim=self.dim), k=10)) == ["c:0"]
        assert store.document_versions() == {"c": "v1"}
        assert (store.stats().documents, store.stats().chunks) == (1, 1)
        assert store.delete_documents(["a", "b"]) == 0
        assert store.delete_documents([]) == 0
        assert store.delete_documents(["c"]) == 1
        assert (store.stats().documents, store.stats().chunks) == (0, 0)

    def test_mismatched_vector_count_raises_store_error_and_changes_nothing(self, store: Store) -> None:
        [old] = put(store, "doc", ["original text"])
        new = [make_chunk("doc", i, "replacement text", version="v2") for i in range(2)]
        for n in (1, 3):
            with pytest.raises(StoreError):
                store.replace_document("doc", new, random_units(n, dim=self.dim))
        with pytest.raises(StoreError):
            store.replace_document("doc", [], random_units(1, dim=self.dim))
        assert [h.chunk for h in kw(store, "original")] == [old]
        assert kw(store, "replacement") == []
        assert store.document_versions() == {"doc": "v1"}

    def test_vectors_of_the_wrong_dimension_raise_store_error(self, store: Store) -> None:
        [old] = put(store, "doc", ["original text"])
        bad = [make_chunk("doc", 0, "replacement text", version="v2")]
        with pytest.raises(StoreError):
            store.replace_document("doc", bad, random_units(1, dim=self.dim + 3))
        assert [h.chunk for h in kw(store, "original")] == [old]  # and the store still searches
        assert ids(store.dense_search(unit(1, dim=self.dim), k=5)) == ["doc:0"]

    # -- information -------------------------------------------------------

    def test_stats_count_documents_and_chunks(self, store: Store) -> None:
        put(store, "a", ["one", "two", "three"])
        put(store, "b", ["four", "five"])
        stats = store.stats()
        assert (stats.documents, stats.chunks) == (2, 5)
        assert (stats.space, stats.dim) == (self.space, self.dim)
        assert stats.size_bytes >= 0
        put(store, "a", ["six"], version="v2")
        assert (store.stats().documents, store.stats().chunks) == (2, 3)

    def test_document_versions(self, store: Store) -> None:
        version = content_hash("some document")
        put(store, "a", ["x", "y"], version=version)
        put(store, "b", ["z"], version="b1")
        assert store.document_versions() == {"a": version, "b": "b1"}
        put(store, "b", ["z2"], version="b2")
        store.delete_documents(["a"])
        assert store.document_versions() == {"b": "b2"}

    # -- keyword statistics describe the live chunks only --------------------

    def test_terms_of_a_deleted_document_match_nothing(self, store: Store) -> None:
        put(store, "gone", ["quokka sighting report"])
        put(store, "stays", ["kangaroo sighting report"])
        assert ids(kw(store, "quokka")) == ["gone:0"]
        store.delete_documents(["gone"])
        assert kw(store, "quokka") == []
        assert ids(kw(store, "quokka sighting")) == ["stays:0"]
        put(store, "stays", ["wallaby only"], version="v2")
        assert kw(store, "kangaroo sighting") == []

    def test_scores_after_delete_equal_a_store_that_never_had_it(self, store: Store, tmp_path: Path) -> None:
        docs = {
            "a": ["river delta sediment transport", "delta wing aircraft"],
            "b": ["sediment cores from the river bed and more river words"],
        }
        noise = ["delta delta delta sediment noise noise noise noise noise noise noise noise noise"] * 3
        for doc_id, texts in docs.items():
            put(store, doc_id, texts)
        put(store, "noise", noise)
        put(store, "changing", ["river river river"])
        store.delete_documents(["noise"])
        put(store, "changing", ["unrelated words entirely"], version="v2")
        fresh = self.fresh_store(tmp_path, "fresh")
        try:
            for doc_id, texts in docs.items():
                put(fresh, doc_id, texts)
            put(fresh, "changing", ["unrelated words entirely"], version="v2")
            for query in ("delta sediment", "river", "aircraft wing river"):
                got = {h.chunk.chunk_id: h.score for h in kw(store, query)}
                want = {h.chunk.chunk_id: h.score for h in kw(fresh, query)}
                assert got.keys() == want.keys(), query
                assert got == pytest.approx(want, rel=1e-4), query
        finally:
            fresh.close()

    # -- chunks round-trip exactly -----------------------------------------

    def test_chunk_fields_round_trip_exactly(self, store: Store) -> None:
        metadata: Metadata = {
            "n": 3,
            "zero": 0,
            "x": 2.5,
            "whole": 2.0,
            "flag": True,
            "off": False,
            "s": "text",
            "digits": "02134",
            "uni": "naïve — 東京 🚀",
            "Größe": "groß",
        }
        chunks = [
            make_chunk(
                "dóc/ü.pdf",
                0,
                "Erste Seite über Détection",
                version=content_hash("v"),
                title="Handbuch — Teil 1",
                section=("Kapitel 3", "3.2 Détection"),
                page=None,
                metadata=metadata,
                char_start=0,
                ingested_at=1_717_171_717.123456,
            ),
            make_chunk(
                "dóc/ü.pdf",
                1,
                "Zweite Seite mit Tabelle",
                version=content_hash("v"),
                title="Handbuch — Teil 1",
                section=(),
                page=7,
                metadata={},
                char_start=27,
                ingested_at=1_717_171_718.5,
            ),
        ]
        vectors = np.stack([unit(1, dim=self.dim), unit(0, 1, dim=self.dim)])
        store.replace_document("dóc/ü.pdf", chunks, vectors)
        found = {h.chunk.chunk_id: h.chunk for h in kw(store, "seite")}
        found_dense = {h.chunk.chunk_id: h.chunk for h in store.dense_search(unit(1, 1, dim=self.dim), k=5)}
        for got in (found, found_dense):
            assert got == {c.chunk_id: c for c in chunks}
            first, second = got["dóc/ü.pdf:0"], got["dóc/ü.pdf:1"]
            assert first.page is None and second.page == 7 and type(second.page) is int
            assert first.section == ("Kapitel 3", "3.2 Détection") and type(first.section) is tuple
            assert second.section == ()
            assert {k: type(v) for k, v in first.metadata.items()} == {k: type(v) for k, v in metadata.items()}
            assert (first.char_start, first.char_end, second.char_start, second.char_end) == (0, 26, 27, 51)
            assert second.ingested_at == 1_717_171_718.5 and first.ingested_at == 1_717_171_717.123456

    def test_export_gives_back_every_document_with_its_exact_vectors(self, store: Store) -> None:
        vectors = random_units(3, dim=self.dim, seed="export")
        first = put(store, "doc-b", ["beta one", "beta two"], vectors[:2], version="v2", page=3)
        second = put(store, "doc-a", ["alpha"], vectors[2:], metadata={"lang": "en"})
        put(store, "gone", ["deleted before the export"])
        store.delete_documents(["gone"])
        exported = {doc_id: (chunks, vecs) for doc_id, chunks, vecs in store.export_documents()}
        assert set(exported) == {"doc-a", "doc-b"}
        assert exported["doc-b"][0] == first and exported["doc-a"][0] == second  # ordinal order, every field
        assert exported["doc-b"][1].dtype == np.float32
        np.testing.assert_array_equal(exported["doc-b"][1], vectors[:2])
        np.testing.assert_array_equal(exported["doc-a"][1], vectors[2:])

    def test_unicode_text_and_metadata_search_and_filter(self, store: Store) -> None:
        put(store, "fr", ["Café crème à Zürich"], metadata={"ville": "Zürich", "note": "🚀 lancé"})
        put(store, "en", ["coffee in zurich"], metadata={"ville": "Zurich"})
        assert ids(kw(store, "café")) == ["fr:0"]
        assert ids(kw(store, "Zürich", where=[C("ville", "=", "Zürich")])) == ["fr:0"]
        assert ids(kw(store, "crème", where=[C("note", "=", "🚀*")])) == ["fr:0"]
        assert ids(store.dense_search(unit(1, dim=self.dim), k=5, where=[C("ville", "=", "Zurich")])) == ["en:0"]

    # -- filters -----------------------------------------------------------

    @pytest.fixture
    def filter_store(self, store: Store) -> Store:
        for doc in FILTER_DOCS:
            texts = [f"common ground, part {i} of {doc['doc_id']}" for i in range(len(doc["chunks"]))]
            chunks = [
                make_chunk(
                    doc["doc_id"],
                    i,
                    text,
                    source=doc["source"],
                    title=doc["title"],
                    section=section,
                    page=page,
                    metadata=doc["metadata"],
                )
                for i, (text, (page, section)) in enumerate(zip(texts, doc["chunks"]))
            ]
            store.replace_document(doc["doc_id"], chunks, random_units(len(chunks), dim=self.dim, seed=doc["doc_id"]))
        return store

    @pytest.mark.parametrize("mode", ["keyword", "dense"])
    @pytest.mark.parametrize("case", FILTER_CASES, ids=_filter_case_id)
    def test_filters(self, filter_store: Store, mode: str, case: tuple[list[Condition], set[str]]) -> None:
        where, expected = case
        if mode == "keyword":
            hits = filter_store.keyword_search(analyze("common"), k=100, where=where)
        else:
            hits = filter_store.dense_search(unit(1, dim=self.dim), k=100, where=where)
        assert set(ids(hits)) == expected
        assert len(hits) == len(expected)
        assert_best_first(hits)

    def test_filters_apply_before_top_k(self, filter_store: Store) -> None:
        where = [C("lang", "=", "de")]
        best_elsewhere = random_units(1, dim=self.dim, seed="other")[0]  # exactly other:0's vector
        assert ids(filter_store.dense_search(best_elsewhere, k=1)) == ["other:0"]
        assert ids(filter_store.dense_search(best_elsewhere, k=1, where=where)) == ["nist-x:0"]
        assert ids(filter_store.keyword_search(analyze("common"), k=1, where=where)) == ["nist-x:0"]
        assert ids(kw(filter_store, "other common", k=1)) == ["other:0"]
        assert ids(kw(filter_store, "other common", k=1, where=where)) == ["nist-x:0"]

    def test_filters_are_exact_against_the_corpus(self, filter_store: Store) -> None:
        """Unfiltered search reaches every chunk, so filters only ever remove."""
        everything = {f"{d['doc_id']}:{i}" for d in FILTER_DOCS for i in range(len(d["chunks"]))}
        assert set(ids(kw(filter_store, "common"))) == everything
        assert set(ids(filter_store.dense_search(unit(1, dim=self.dim), k=100))) == everything

    def test_section_has_no_order_and_every_store_says_so(self, filter_store: Store) -> None:
        for op in (">", ">=", "<", "<="):
            where = [C("section", op, "Intro")]  # type: ignore[arg-type]
            with pytest.raises(QueryError, match="section.*has no order.*section=HEADING"):
                filter_store.keyword_search(["common"], k=5, where=where)
            with pytest.raises(QueryError, match="section.*has no order"):
                filter_store.dense_search(unit(1, dim=self.dim), k=5, where=where)

    def test_bad_filter_field_raises_query_error(self, filter_store: Store) -> None:
        for bad in ("no spaces", "quote'", 'x"); DROP TABLE chunks; --'):
            with pytest.raises(QueryError):
                filter_store.keyword_search(["common"], k=5, where=[C(bad, "=", 1)])
            with pytest.raises(QueryError):
                filter_store.dense_search(unit(1, dim=self.dim), k=5, where=[C(bad, "=", 1)])
        assert len(kw(filter_store, "common")) == 5
