"""ShardedStore over two embedded stores: one shard per document, searches fanned out and merged.

    dense      the merged top k equals one store holding everything (ids and scores)
    keyword    each hit scored by its own shard; the merge keeps the best k of the shards' lists
    tenants    routed by a metadata field: a filter on it asks that shard alone, with its own BM25
    writes     a replacement stays in its shard; deletes, stats, versions and exports cover all shards
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dayshift.analysis import analyze
from dayshift.errors import StoreError
from dayshift.store.embedded import EmbeddedStore
from dayshift.store.sharded import ShardedStore, by_hash, by_metadata
from dayshift.testing.store_contract import DIM, SPACE, make_chunk, random_units
from dayshift.types import Condition

WORDS = ["soil", "moisture", "frost", "heave", "sensor", "field", "study", "road", "damage", "river", "flood", "winter", "drought", "crop", "yield", "harbor", "ledger", "osprey", "kestrel", "basalt", "granite"]  # fmt: skip


def _text(rng: np.random.Generator) -> str:
    return " ".join(rng.choice(WORDS, size=int(rng.integers(4, 12))))


def _open(tmp_path: Path, name: str) -> EmbeddedStore:
    return EmbeddedStore(data_dir=tmp_path / name, space=SPACE, dim=DIM)


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[ShardedStore, EmbeddedStore]]:
    """The same 120 documents in a 2-shard store (by hash) and in one store."""
    sharded = ShardedStore([_open(tmp_path, "a"), _open(tmp_path, "b")], route=by_hash)
    single = _open(tmp_path, "single")
    rng = np.random.default_rng(5)
    for d in range(120):
        chunks = [make_chunk(f"doc{d}", i, _text(rng), metadata={"group": d % 4}) for i in range(3)]
        vectors = random_units(3, seed=f"doc{d}")
        sharded.replace_document(f"doc{d}", chunks, vectors)
        single.replace_document(f"doc{d}", chunks, vectors)
    yield sharded, single
    sharded.close()
    single.close()


def test_documents_spread_over_both_shards_and_stats_add_up(stores: tuple[ShardedStore, EmbeddedStore]) -> None:
    sharded, single = stores
    parts = [s.stats().documents for s in sharded.shards]
    assert min(parts) > 30 and sum(parts) == 120
    assert (sharded.stats().documents, sharded.stats().chunks) == (120, 360)
    assert sharded.document_versions() == single.document_versions()
    exported = {doc_id: (chunks, vectors) for doc_id, chunks, vectors in sharded.export_documents()}
    assert sorted(exported) == sorted(single.document_versions())
    assert np.array_equal(exported["doc7"][1], random_units(3, seed="doc7"))


@pytest.mark.parametrize("where", [[], [Condition("group", "=", 2)]], ids=["all", "group=2"])
def test_dense_top_k_equals_one_store(stores: tuple[ShardedStore, EmbeddedStore], where: list[Condition]) -> None:
    sharded, single = stores
    for query in random_units(20, seed="queries"):
        got = sharded.dense_search(query, k=10, where=where)
        want = single.dense_search(query, k=10, where=where)
        assert [h.chunk.chunk_id for h in got] == [h.chunk.chunk_id for h in want]
        assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=1e-6)


def test_keyword_merge_keeps_the_best_of_each_shards_own_scores(stores: tuple[ShardedStore, EmbeddedStore]) -> None:
    sharded, single = stores
    for query in ("soil frost", "river flood winter", "basalt granite osprey"):
        terms = analyze(query)
        own = [h for shard in sharded.shards for h in shard.keyword_search(terms, k=10)]
        best = sorted(own, key=lambda h: -h.score)[:10]
        got = sharded.keyword_search(terms, k=10)
        assert [(h.chunk.chunk_id, h.score) for h in got] == [(h.chunk.chunk_id, h.score) for h in best]
        # Every chunk with a query term is found by exactly one shard: deep enough, the same set as one store.
        everything = {h.chunk.chunk_id for h in sharded.keyword_search(terms, k=1000)}
        assert everything == {h.chunk.chunk_id for h in single.keyword_search(terms, k=1000)}


def test_a_replacement_stays_in_its_shard_and_deletes_reach_it(stores: tuple[ShardedStore, EmbeddedStore]) -> None:
    sharded, _ = stores
    home = [i for i, s in enumerate(sharded.shards) if "doc3" in s.document_versions()]
    assert len(home) == 1
    sharded.replace_document("doc3", [make_chunk("doc3", 0, "granite ledger", version="v2")], random_units(1, seed=3))
    assert [i for i, s in enumerate(sharded.shards) if "doc3" in s.document_versions()] == home
    assert sharded.document_versions()["doc3"] == "v2"
    assert sharded.delete_documents(["doc3", "doc4"]) == 1 + 3
    assert "doc3" not in sharded.document_versions() and sharded.stats().documents == 118


def test_tenant_routing_asks_only_the_tenants_shard(tmp_path: Path) -> None:
    sharded = ShardedStore([_open(tmp_path, "a"), _open(tmp_path, "b")], route=by_metadata("tenant", ["acme", "zenith"]))
    alone = _open(tmp_path, "acme-alone")
    try:
        rng = np.random.default_rng(9)
        for d in range(40):
            tenant = "acme" if d % 2 else "zenith"
            chunks = [make_chunk(f"t{d}", 0, _text(rng), metadata={"tenant": tenant})]
            sharded.replace_document(f"t{d}", chunks, random_units(1, seed=d))
            if tenant == "acme":
                alone.replace_document(f"t{d}", chunks, random_units(1, seed=d))
        assert sharded.shards[0].stats().documents == 20 and sharded.shards[1].stats().documents == 20
        where = [Condition("tenant", "=", "acme")]
        terms = analyze("soil frost river")
        got = [(h.chunk.chunk_id, h.score) for h in sharded.keyword_search(terms, k=10, where=where)]
        assert got == [(h.chunk.chunk_id, h.score) for h in alone.keyword_search(terms, k=10)]  # acme's own BM25
        with pytest.raises(StoreError, match="tenant"):
            sharded.replace_document("x", [make_chunk("x", 0, "soil", metadata={"tenant": "other"})], random_units(1))
    finally:
        sharded.close()
        alone.close()
