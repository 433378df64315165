"""Several stores as one: documents partitioned by a key, searches fanned out and merged.

    ShardedStore([shard_a, shard_b], route=by_hash)     a document lives in exactly one shard
    by_hash(doc_id, n)        a stable hash of the document id (blake2b), spread evenly
    by_metadata("tenant")     one shard per value of a field, for tenants kept apart

Writes go to the document's shard only, so a replacement stays atomic (it is one shard's
transaction). A search asks every shard for its top k on worker threads and keeps the k best
(ties: the shard order); a filter on the routing field asks only the shard it names. Stats
add up; exports and document versions are the union. This is the shape of a corpus above one
machine's memory: each shard a store on its own machine (an embedded store, a Qdrant shard,
or a Postgres partition), this class the coordinator.

Dense search merged this way is exactly the single store's top k (each shard returns its own
exact or HNSW top k). BM25 is not: each shard scores with its own document frequencies and
average length, as Elasticsearch's query_then_fetch does; with hash routing the shards'
statistics agree closely and rankings nearly match, with tenant routing a tenant's scores are
its own shard's. Left out: global term statistics (dfs_query_then_fetch), re-balancing, and a
network between coordinator and shards.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import numpy as np

from dayshift.errors import StoreError
from dayshift.store.base import Store, StoreStats
from dayshift.types import Chunk, Condition, Hit

Route = Callable[[str, Sequence[Chunk], int], int]  # (doc_id, its chunks, shards) -> shard index


def by_hash(doc_id: str, chunks: Sequence[Chunk], shards: int) -> int:
    return int.from_bytes(hashlib.blake2b(doc_id.encode(), digest_size=8).digest(), "big") % shards


def by_metadata(field: str, values: Sequence[object]) -> Route:
    """Shard i holds the documents whose chunks have `field` = values[i]."""
    index = {value: i for i, value in enumerate(values)}

    def route(doc_id: str, chunks: Sequence[Chunk], shards: int) -> int:
        value = chunks[0].metadata.get(field) if chunks else None
        if value not in index:
            raise StoreError(f'{doc_id}: metadata "{field}" is {value!r}, which no shard holds; use one of {list(values)}')
        return index[value]

    route.field, route.values = field, index  # type: ignore[attr-defined]
    return route


class ShardedStore:
    def __init__(self, shards: Sequence[Store], *, route: Route = by_hash) -> None:
        if not shards:
            raise StoreError("a sharded store needs at least one shard")
        spaces = {(s.space, getattr(s, "dim", None)) for s in shards}
        if len(spaces) > 1:
            raise StoreError(f"the shards hold different vector spaces: {sorted(map(str, spaces))}")
        self.shards, self.route = list(shards), route
        self.space = shards[0].space
        self._pool = ThreadPoolExecutor(max_workers=len(shards), thread_name_prefix="shard")
        self._home: dict[str, int] = {}  # doc_id -> shard, for documents written through this object

    # -- writing ----------------------------------------------------------

    def replace_document(self, doc_id: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        shard = self._home.get(doc_id) if not chunks else self.route(doc_id, chunks, len(self.shards))
        if shard is None:  # an empty replacement of a document this object never saw: delete it anywhere
            self.delete_documents([doc_id])
            return
        previous = self._home.get(doc_id)
        if previous is not None and previous != shard:  # its routing field changed: it moves
            self.shards[previous].delete_documents([doc_id])
        self.shards[shard].replace_document(doc_id, chunks, vectors)
        self._home[doc_id] = shard

    def delete_documents(self, doc_ids: Sequence[str]) -> int:
        for doc_id in doc_ids:
            self._home.pop(doc_id, None)
        return sum(self._pool.map(lambda s: s.delete_documents(doc_ids), self.shards))

    def flush(self) -> None:
        list(self._pool.map(lambda s: s.flush(), self.shards))

    # -- searching --------------------------------------------------------

    def keyword_search(self, terms: Sequence[str], *, k: int, where: Sequence[Condition] = ()) -> list[Hit]:
        return self._fan_out(lambda s: s.keyword_search(terms, k=k, where=where), k=k, where=where)

    def dense_search(self, vector: np.ndarray, *, k: int, where: Sequence[Condition] = ()) -> list[Hit]:
        return self._fan_out(lambda s: s.dense_search(vector, k=k, where=where), k=k, where=where)

    def _fan_out(self, search: Callable[[Store], list[Hit]], *, k: int, where: Sequence[Condition]) -> list[Hit]:
        targets = self._targets(where)
        lists = list(self._pool.map(search, [self.shards[i] for i in targets]))
        merged = [(hit.score, -order, -rank, hit) for order, hits in enumerate(lists) for rank, hit in enumerate(hits)]
        merged.sort(key=lambda item: item[:3], reverse=True)
        return [hit for *_, hit in merged[:k]]

    def _targets(self, where: Sequence[Condition]) -> list[int]:
        field = getattr(self.route, "field", None)
        if field is not None:
            for cond in where:
                if cond.field == field and cond.op == "=" and cond.value in self.route.values:  # type: ignore[attr-defined]
                    return [self.route.values[cond.value]]  # type: ignore[attr-defined]
        return list(range(len(self.shards)))

    # -- information ------------------------------------------------------

    def stats(self) -> StoreStats:
        parts = [s.stats() for s in self.shards]
        first = next((p for p in parts if p.chunks), parts[0])
        return replace(first, documents=sum(p.documents for p in parts), chunks=sum(p.chunks for p in parts),
                       size_bytes=sum(p.size_bytes for p in parts))  # fmt: skip

    def document_versions(self) -> dict[str, str]:
        versions: dict[str, str] = {}
        for shard in self.shards:
            versions.update(shard.document_versions())
        return versions

    def export_documents(self) -> Iterator[tuple[str, list[Chunk], np.ndarray]]:
        for shard in self.shards:
            yield from shard.export_documents()

    def close(self) -> None:
        self._pool.shutdown()
        for shard in self.shards:
            shard.close()
