"""EmbeddedStore: the shared store contract, then what only the embedded store has.

    two instances on one data_dir       the change log keeps both fresh
    a reader process during writes      WAL: no "database is locked", no mixed versions
    reopening for another vector space  StoreError that names the fix
    terms of an older text analysis     analysed again on open; an open reader follows
    HNSW above hnsw_min_rows            recall, saved graph reused, deleted ids never return
    KeywordIndex                        BM25 against the docstring's formula, by hand
"""

from __future__ import annotations

import json
import math
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.register_assert_rewrite("dayshift.testing.store_contract")

from dayshift.analysis import analyze
from dayshift.errors import StoreError
from dayshift.store.bm25 import K1, B
from dayshift.store.embedded import EmbeddedStore
from dayshift.store.embedded.dense import DenseIndex
from dayshift.store.embedded.keyword import KeywordIndex
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


class TestEmbeddedStore(StoreContract):
    def make_store(self, tmp_path: Path, *, space: str, dim: int) -> EmbeddedStore:
        return EmbeddedStore(data_dir=tmp_path, space=space, dim=dim)

    def test_stats_space_is_none_while_empty(self, store: EmbeddedStore) -> None:  # type: ignore[override]
        super().test_stats_space_is_none_while_empty(store)

    def test_vectors_of_the_wrong_dimension_raise_store_error(  # type: ignore[override]
        self, store: EmbeddedStore
    ) -> None:
        super().test_vectors_of_the_wrong_dimension_raise_store_error(store)


# -- two instances on one data_dir ---------------------------------------------------------


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[EmbeddedStore, EmbeddedStore]]:
    writer = EmbeddedStore(data_dir=tmp_path, space=SPACE, dim=8)
    reader = EmbeddedStore(data_dir=tmp_path, space=SPACE, dim=8)
    yield writer, reader
    writer.close()
    reader.close()


def test_second_instance_sees_writes_and_deletes_without_reopening(pair: tuple[EmbeddedStore, EmbeddedStore]) -> None:
    writer, reader = pair
    put(writer, "a", ["tundra permafrost thaw"], np.stack([unit(1)]))
    assert ids(kw(reader, "permafrost")) == ["a:0"]  # loads its indexes now
    assert ids(reader.dense_search(unit(1), k=5)) == ["a:0"]

    put(writer, "b", ["permafrost carbon release", "methane bubbles"], np.stack([unit(0, 1), unit(0, 0, 1)]))
    assert sorted(ids(kw(reader, "permafrost"))) == ["a:0", "b:0"]
    assert ids(reader.dense_search(unit(0, 0, 1), k=1)) == ["b:1"]
    assert reader.document_versions() == {"a": "v1", "b": "v1"}

    put(writer, "a", ["glacier retreat"], np.stack([unit(0, 0, 0, 1)]), version="v2")
    assert ids(kw(reader, "permafrost")) == ["b:0"]
    assert ids(kw(reader, "glacier")) == ["a:0"]
    assert {h.chunk.chunk_id: h.chunk.doc_version for h in reader.dense_search(unit(1), k=5)}["a:0"] == "v2"

    assert writer.delete_documents(["b"]) == 2
    assert kw(reader, "permafrost") == []
    assert ids(reader.dense_search(unit(0, 0, 1), k=5)) == ["a:0"]
    assert (reader.stats().documents, reader.stats().chunks) == (1, 1)

    # and the other way round: the first instance sees the second one's writes
    put(reader, "c", ["permafrost again"])
    assert ids(kw(writer, "permafrost")) == ["c:0"]


def test_keyword_scores_match_across_instances_after_changes(pair: tuple[EmbeddedStore, EmbeddedStore]) -> None:
    """The change-log path gives the same BM25 statistics as a full load."""
    writer, reader = pair
    put(writer, "a", ["ocean heat content", "ocean salinity"])
    kw(reader, "ocean")
    put(writer, "b", ["ocean ocean ocean acidification and more words"])
    put(writer, "a", ["deep ocean"], version="v2")
    writer.delete_documents(["nothing"])
    fresh = EmbeddedStore(data_dir=writer.path.parent, space=SPACE, dim=8)
    try:
        for query in ("ocean", "ocean acidification", "deep heat"):
            via_log = {h.chunk.chunk_id: h.score for h in kw(reader, query)}
            full = {h.chunk.chunk_id: h.score for h in kw(fresh, query)}
            assert via_log == pytest.approx(full, rel=1e-5), query
    finally:
        fresh.close()


# -- a reader process during writes -----------------------------------------------------

READER = r"""
import json, sys, time
from pathlib import Path
import numpy as np
from dayshift.store.embedded import EmbeddedStore

data_dir, stop, ready, space, dim, expected = sys.argv[1:7]
dim, expected = int(dim), int(expected)
query = np.zeros(dim, dtype=np.float32)
query[0] = 1.0
summary = {"searches": 0, "opens": 0, "versions": [], "counts": {}, "mixed": [], "errors": [], "slowest_s": 0.0}
store = None
while not Path(stop).exists():
    try:
        if store is None or summary["searches"] % 10 == 0:
            if store is not None:
                store.close()
            store = EmbeddedStore(data_dir=Path(data_dir), space=space, dim=dim, busy_timeout_s=2.0)
            summary["opens"] += 1
        for search in ("keyword", "dense"):
            started = time.perf_counter()
            if search == "keyword":
                hits = store.keyword_search(["share"], k=500)
            else:
                hits = store.dense_search(query, k=500)
            summary["slowest_s"] = max(summary["slowest_s"], time.perf_counter() - started)
            big = [h for h in hits if h.chunk.doc_id == "big"]
            versions = sorted({h.chunk.doc_version for h in big})
            if len(versions) > 1:
                summary["mixed"].append(versions)
            summary["counts"][str(len(big))] = summary["counts"].get(str(len(big)), 0) + 1
            for v in versions:
                if v not in summary["versions"]:
                    summary["versions"].append(v)
            summary["searches"] += 1
        Path(ready).touch()
    except Exception as exc:
        summary["errors"].append(repr(exc))
        if len(summary["errors"]) > 20:
            break
print(json.dumps(summary))
"""


def _big_document(version: str) -> tuple[list, np.ndarray]:
    chunks = [make_chunk("big", i, f"shared passage {i} of the big document", version=version) for i in range(50)]
    vectors = random_units(50, seed=version) * 0.1
    vectors[:, 0] = 1.0  # every chunk near the query, so all 50 are in any top-k
    return chunks, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _bulk_document(version: str, n: int) -> tuple[list, np.ndarray]:
    chunks = [make_chunk("bulk", i, f"bulk filler row {i}", version=version) for i in range(n)]
    vectors = random_units(n, seed=f"bulk{version}")
    vectors[:, 0] = -np.abs(vectors[:, 0])  # never nearer the query than the big document
    return chunks, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


@pytest.mark.slow
def test_reader_process_searches_during_long_writes_and_never_sees_a_mix(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    writer = EmbeddedStore(data_dir=data_dir, space=SPACE, dim=8)
    writer.replace_document("big", *_big_document("v0"))
    writer.replace_document("bulk", *_bulk_document("b0", 2000))
    stop, ready = tmp_path / "stop", tmp_path / "ready"

    # Phase 1: another connection holds the write lock with the big document deleted but not committed.
    holder = sqlite3.connect(writer.path, isolation_level=None, timeout=5)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("DELETE FROM chunks WHERE doc_id = 'big'")
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(data_dir), str(stop), str(ready), SPACE, "8", "50"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():  # the reader opened the store and searched, all under the lock
            assert reader.poll() is None, reader.communicate()
            assert time.monotonic() < deadline, "the reader never finished a search while the lock was held"
            time.sleep(0.05)
        time.sleep(2.5)  # longer than the reader's busy timeout
        holder.execute("ROLLBACK")
        holder.close()

        # Phase 2: replace the big document again and again, between long bulk transactions.
        started, version = time.monotonic(), 0
        while time.monotonic() - started < 4.0 or version < 6:
            version += 1
            writer.replace_document("big", *_big_document(f"v{version}"))
            if version % 2 == 0:
                writer.replace_document("bulk", *_bulk_document(f"b{version}", 4000))
        stop.touch()
        out, err = reader.communicate(timeout=60)
    finally:
        stop.touch()
        if reader.poll() is None:
            reader.kill()
            reader.wait()
        writer.close()
    assert reader.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["errors"] == []
    assert summary["mixed"] == []
    assert summary["searches"] >= 10 and summary["opens"] >= 2
    # Never waited for the writer's lock: a wait past busy_timeout_s (2 s) would be one of the errors above.
    assert summary["versions"][0] == "v0" and len(summary["versions"]) >= 2, summary["versions"]
    # Never part of the document. (A whole result set without it happens: see the test below.)
    assert set(summary["counts"]) <= {"50", "0"}, summary["counts"]
    assert summary["counts"].get("50", 0) > summary["counts"].get("0", 0), summary["counts"]


@pytest.mark.parametrize("mode", ["keyword", "dense"])
def test_a_replace_committed_during_a_search_never_hides_the_document(
    pair: tuple[EmbeddedStore, EmbeddedStore], monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    writer, reader = pair
    put(writer, "doc", ["lichen growth rates", "lichen symbiosis"], np.stack([unit(1), unit(1, 0.1)]))
    refresh = reader._indexes
    assert len(kw(reader, "lichen")) == 2

    def refresh_then_another_process_commits():  # type: ignore[no-untyped-def]
        indexes = refresh()
        monkeypatch.setattr(reader, "_indexes", refresh)
        put(writer, "doc", ["lichen on rocks", "lichen in tundra"], np.stack([unit(1), unit(1, 0.2)]), version="v2")
        return indexes

    monkeypatch.setattr(reader, "_indexes", refresh_then_another_process_commits)
    hits = kw(reader, "lichen") if mode == "keyword" else reader.dense_search(unit(1), k=5)
    assert len(hits) == 2 and len({h.chunk.doc_version for h in hits}) == 1, [h.chunk for h in hits]


# -- reopening for another vector space ---------------------------------------------------


def test_reopening_with_another_vector_space_names_the_fix(tmp_path: Path) -> None:
    store = EmbeddedStore(data_dir=tmp_path, space="model-a", dim=8)
    put(store, "doc", ["kept text"])
    store.close()
    for space, dim in (("model-b", 8), ("model-a", 16)):
        with pytest.raises(StoreError) as caught:
            EmbeddedStore(data_dir=tmp_path, space=space, dim=dim)
        message = str(caught.value)
        assert "model-a" in message and "8 dims" in message, message
        assert "set the embedder it was built with" in message and "DAYSHIFT_DATA_DIR" in message, message
        assert "re-ingest" in message
    again = EmbeddedStore(data_dir=tmp_path, space="model-a", dim=8)
    try:
        assert ids(kw(again, "kept")) == ["doc:0"]
    finally:
        again.close()


def test_terms_written_by_an_older_analysis_are_analysed_again_on_open(tmp_path: Path) -> None:
    fresh = EmbeddedStore(data_dir=tmp_path / "fresh", space=SPACE, dim=8)
    assert dict(fresh._db.execute("SELECT key, value FROM meta").fetchall())["analysis"] == "2"
    fresh.close()
    store = EmbeddedStore(data_dir=tmp_path, space=SPACE, dim=8)
    put(store, "doc", ["IL-6 levels rose", "serum IL6"])
    store.close()
    reader = EmbeddedStore(data_dir=tmp_path, space=SPACE, dim=8)
    # Make it an index from before the version was recorded, when "IL6" was one term without its parts.
    reader._db.execute("UPDATE chunks SET terms = 'serum il6' WHERE chunk_id = 'doc:1'")
    reader._db.execute("DELETE FROM meta WHERE key = 'analysis'")
    assert ids(kw(reader, "IL-6")) == ["doc:0"]  # a process that loaded the old terms

    reopened = EmbeddedStore(data_dir=tmp_path, space=SPACE, dim=8)
    try:
        terms = dict(reopened._db.execute("SELECT chunk_id, terms FROM chunks").fetchall())
        assert terms["doc:1"].split() == analyze("serum IL6") == ["serum", "il6", "il", "6"]
        assert sorted(ids(kw(reopened, "IL-6"))) == ["doc:0", "doc:1"]
        # ... and the reader that was open all along applies the "terms" changes from the log
        assert sorted(ids(kw(reader, "IL-6"))) == ["doc:0", "doc:1"]
        assert [h.score for h in kw(reader, "IL-6")] == pytest.approx([h.score for h in kw(reopened, "IL-6")])
    finally:
        reopened.close()
        reader.close()


def test_unreadable_index_file_raises_store_error(tmp_path: Path) -> None:
    (tmp_path / "index.sqlite").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="move it aside and re-ingest"):
        EmbeddedStore(data_dir=tmp_path, space=SPACE, dim=8)


# -- HNSW --------------------------------------------------------------------------------

HNSW_DIM = 32


def _recall_at_10(store: EmbeddedStore, names: list[str], vectors: np.ndarray, queries: np.ndarray) -> float:
    overlaps = []
    for query in queries:
        exact = {names[i] for i in np.argsort(-(vectors @ query))[:10]}
        hits = store.dense_search(query, k=10)
        assert len(hits) == 10
        overlaps.append(len(exact & set(ids(hits))) / 10)
    return float(np.mean(overlaps))


def _hnsw_store(tmp_path: Path) -> tuple[EmbeddedStore, np.ndarray, list[str]]:
    """1,000 random unit vectors in 100 documents of 10 chunks; HNSW from 200 rows."""
    vectors = random_units(1000, dim=HNSW_DIM, seed=11)
    names = [f"d{i // 10}:{i % 10}" for i in range(1000)]
    store = EmbeddedStore(data_dir=tmp_path, space=SPACE, dim=HNSW_DIM, hnsw_min_rows=200)
    for doc in range(100):
        put(store, f"d{doc}", [f"text {doc} {i}" for i in range(10)], vectors[doc * 10 : doc * 10 + 10])
    return store, vectors, names


def _forbid_rebuild(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_rebuild(self: DenseIndex) -> None:
        raise AssertionError("the saved graph should have been loaded, not rebuilt")

    monkeypatch.setattr(DenseIndex, "build_hnsw", no_rebuild)


@pytest.mark.slow
def test_hnsw_recall_saved_graph_and_deletes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, vectors, names = _hnsw_store(tmp_path)
    queries = random_units(40, dim=HNSW_DIM, seed=12)
    assert _recall_at_10(store, names, vectors, queries) >= 0.9
    assert store._dense is not None and store._dense.has_hnsw  # the graph served those searches
    store.flush()
    assert (tmp_path / "dense.hnsw").exists()

    gone = [f"d{doc}" for doc in range(20)]  # deleted after the save: the file still holds them
    assert store.delete_documents(gone) == 200
    gone_rows, live_rows = np.arange(0, 200), np.arange(200, 1000)
    for query in vectors[gone_rows[::7]]:  # each query is a deleted chunk's own vector
        hits = store.dense_search(query, k=10)
        assert len(hits) == 10 and not {h.chunk.doc_id for h in hits} & set(gone)
    store.close()

    _forbid_rebuild(monkeypatch)
    reopened = EmbeddedStore(data_dir=tmp_path, space=SPACE, dim=HNSW_DIM, hnsw_min_rows=200)
    try:
        live_names = [names[i] for i in live_rows]
        assert _recall_at_10(reopened, live_names, vectors[live_rows], queries) >= 0.9
        assert reopened._dense is not None and reopened._dense.has_hnsw
        for query in vectors[gone_rows[::3]]:
            hits = reopened.dense_search(query, k=10)
            assert len(hits) == 10
            assert not {h.chunk.doc_id for h in hits} & set(gone)
        fresh = random_units(1, dim=HNSW_DIM, seed=99)  # added after the reopen: goes into the loaded graph
        put(reopened, "new", ["brand new"], fresh)
        assert ids(reopened.dense_search(fresh[0], k=3))[0] == "new:0"
        reopened.delete_documents(["d50"])
        assert not {h.chunk.doc_id for h in reopened.dense_search(vectors[500], k=10)} & {"d50"}
    finally:
        reopened.close()


def test_hnsw_graph_saved_after_deletes_loads_in_a_new_process(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store, vectors, _ = _hnsw_store(tmp_path)
    store.dense_search(vectors[0], k=10)  # builds the graph
    store.delete_documents(["d0", "d1"])  # marked deleted in the graph that flush() saves
    store.flush()
    store.close()
    _forbid_rebuild(monkeypatch)
    reopened = EmbeddedStore(data_dir=tmp_path, space=SPACE, dim=HNSW_DIM, hnsw_min_rows=200)
    try:
        hits = reopened.dense_search(vectors[5], k=10)
        assert len(hits) == 10 and not {h.chunk.doc_id for h in hits} & {"d0", "d1"}
    finally:
        reopened.close()


@pytest.mark.slow
def test_loading_a_saved_graph_takes_linear_time(tmp_path: Path) -> None:
    n = 10_000
    vectors = random_units(n, dim=16, seed=3)
    saved = DenseIndex(16, hnsw_min_rows=100)
    saved.add(np.arange(n), vectors)
    saved.build_hnsw()
    saved.save_hnsw(tmp_path / "dense.hnsw")
    loaded = DenseIndex(16, hnsw_min_rows=100)
    loaded.add(np.arange(n), vectors)
    started = time.perf_counter()
    assert loaded.load_hnsw(tmp_path / "dense.hnsw")
    assert time.perf_counter() - started < 1.5


# -- KeywordIndex against the formula in its docstring ---------------------------------------


def bm25(docs: dict[int, list[str]], query: list[str], *, k1: float = K1, b: float = B) -> dict[int, float]:
    """The keyword module's formula, term by term, over the live documents only."""
    n = len(docs)
    avglen = sum(len(terms) for terms in docs.values()) / n
    scores: dict[int, float] = {}
    for doc_id, terms in docs.items():
        score = 0.0
        for term in query:  # a repeated query term counts again
            tf = terms.count(term)
            if tf:
                df = sum(term in other for other in docs.values())
                idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
                score += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(terms) / avglen))
        if score > 0:
            scores[doc_id] = score
    return scores


def search_all(index: KeywordIndex, query: list[str], **kwargs: object) -> dict[int, float]:
    found, scores = index.search(query, k=10**6, **kwargs)  # type: ignore[arg-type]
    assert list(scores) == sorted(scores, reverse=True)
    return dict(zip(found.tolist(), scores.tolist()))


def test_keyword_index_matches_a_hand_computed_bm25_score() -> None:
    index = KeywordIndex()
    index.add([10, 20, 30], [["cat", "sat"], ["cat", "cat", "dog", "run"], ["bird"]])
    # N = 3, df(cat) = 2, avglen = 7/3, k1 = 1.2, b = 0.75
    idf = math.log(1 + (3 - 2 + 0.5) / (2 + 0.5))  # ln 1.6
    expected = {
        10: idf * 1 * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 2 / (7 / 3))),  # 0.49918
        20: idf * 2 * 2.2 / (2 + 1.2 * (0.25 + 0.75 * 4 / (7 / 3))),  # 0.53814
    }
    assert search_all(index, ["cat"]) == pytest.approx(expected, rel=1e-6)
    assert list(index.search(["cat"], k=1)[0]) == [20]
    # "dog" (df 1) plus "cat": the rarer term adds more
    dog = math.log(1 + (3 - 1 + 0.5) / (1 + 0.5)) * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 4 / (7 / 3)))
    assert search_all(index, ["cat", "dog"])[20] == pytest.approx(expected[20] + dog, rel=1e-6)
    # a repeated query term counts twice
    assert search_all(index, ["cat", "cat"]) == pytest.approx({k: 2 * v for k, v in expected.items()}, rel=1e-6)
    assert search_all(index, ["unknown"]) == {}
    assert search_all(index, []) == {}


def test_keyword_index_after_a_delete_uses_live_statistics() -> None:
    index = KeywordIndex()
    index.add([10, 20, 30], [["cat", "sat"], ["cat", "cat", "dog", "run"], ["bird"]])
    index.remove([30, 999])  # an unknown id is ignored
    assert len(index) == 2
    # N = 2, df(cat) = 2, avglen = 3
    idf = math.log(1 + (2 - 2 + 0.5) / (2 + 0.5))  # ln 1.2
    expected = {
        10: idf * 2.2 / (1 + 1.2 * (0.25 + 0.75 * 2 / 3)),
        20: idf * 2 * 2.2 / (2 + 1.2 * (0.25 + 0.75 * 4 / 3)),
    }
    assert search_all(index, ["cat"]) == pytest.approx(expected, rel=1e-6)
    assert search_all(index, ["bird"]) == {}
    index.remove([20])
    assert search_all(index, ["dog"]) == {}
    assert search_all(index, ["cat"]) == pytest.approx({10: math.log(1 + 0.5 / 1.5) * 2.2 / (1 + 1.2)}, rel=1e-6)
    index.add([20], [["dog", "cat"]])  # re-adding a removed id
    assert search_all(index, ["cat"]) == pytest.approx(bm25({10: ["cat", "sat"], 20: ["dog", "cat"]}, ["cat"]))


def test_keyword_index_allowed_restricts_rows_not_statistics() -> None:
    docs = {1: ["a", "b"], 2: ["a", "a", "c"], 3: ["b", "c", "c", "d"], 4: ["a"]}
    index = KeywordIndex()
    index.add(list(docs), list(docs.values()))
    everything = bm25(docs, ["a", "c"])
    assert search_all(index, ["a", "c"], allowed=np.array([2, 3, 77])) == pytest.approx(
        {i: everything[i] for i in (2, 3)}, rel=1e-6
    )
    assert search_all(index, ["a"], allowed=np.array([], dtype=np.int64)) == {}


def test_keyword_index_through_delta_and_base_merges() -> None:
    rng = np.random.default_rng(5)
    vocab = [f"w{i}" for i in range(3000)]  # more than the 1024 term slots the index starts with
    index = KeywordIndex()
    live: dict[int, list[str]] = {}
    next_id = 0
    merges = 0

    def add(n: int, words: list[str]) -> None:
        nonlocal next_id
        new = {next_id + i: [str(w) for w in rng.choice(words, size=rng.integers(1, 12))] for i in range(n)}
        next_id += n
        index.add(list(new), list(new.values()))
        live.update(new)

    add(5, vocab[:50])  # the first batch becomes the base
    assert index._base_rows == 5 and index._delta is None
    for batch in range(8):
        base_before = index._base_rows
        add(300, vocab[: 400 * (batch + 2)])  # each batch brings new terms, beyond the base's columns
        if index._base_rows != base_before:
            merges += 1
            assert index._delta is None and index._base_rows == len(index._ids)
        else:
            assert index._delta is not None
        doomed = [int(i) for i in rng.choice(list(live), size=40, replace=False)]
        index.remove(doomed)
        for i in doomed:
            del live[i]
        replaced = [int(i) for i in rng.choice(list(live), size=5, replace=False)]
        for i in replaced:  # re-adding a live id replaces its terms
            live[i] = ["w0", "w1", f"w{400 * (batch + 2) - 1}"]
        index.add(replaced, [live[i] for i in replaced])
        for query in (["w0"], ["w3", "w77", "w3"], [f"w{400 * (batch + 2) - 1}", "w1", "nothing"], ["w1500"]):
            assert search_all(index, query) == pytest.approx(bm25(live, query), rel=1e-4), (batch, query)
    assert merges >= 1
    assert len(index) == len(live)
    top_ids, top_scores = index.search(["w0", "w1"], k=5)
    reference = sorted(bm25(live, ["w0", "w1"]).values(), reverse=True)[:5]
    assert len(top_ids) == 5 and list(top_scores) == pytest.approx(reference, rel=1e-4)


def test_store_keyword_scores_equal_the_formula_over_analysed_text(tmp_path: Path) -> None:
    """End to end: what EmbeddedStore returns is BM25 over analyze(indexed_text) of the live chunks."""
    store = EmbeddedStore(data_dir=tmp_path, space=SPACE, dim=8)
    try:
        texts = {
            "a": ["Measuring soil moisture with sensors", "Soil sensors fail in frost"],
            "b": ["Frost heave damages roads", "Moisture and frost: a field study of soil"],
        }
        for doc_id, chunk_texts in texts.items():
            put(store, doc_id, chunk_texts, title="Field guide", section=("Soils",))
        put(store, "gone", ["soil soil soil frost frost"])
        store.delete_documents(["gone"])
        live = {
            f"{d}:{i}": analyze(make_chunk(d, i, t, title="Field guide", section=("Soils",)).indexed_text)
            for d, chunk_texts in texts.items()
            for i, t in enumerate(chunk_texts)
        }
        keys = list(live)
        for query in ("soil frost", "moisture sensors", "field roads"):
            terms = analyze(query)
            want = {keys[i]: s for i, s in bm25(dict(enumerate(live.values())), terms).items()}
            got = {h.chunk.chunk_id: h.score for h in store.keyword_search(terms, k=10)}
            assert got == pytest.approx(want, rel=1e-5), query
    finally:
        store.close()
