"""The store interface: where chunks, their vectors and their keyword terms live.

A store is three small protocols. Every implementation (embedded, Postgres,
Qdrant, a test fake) passes the same contract suite in
`dayshift.testing.store_contract`.

    ChunkWriter    replace a document's chunks atomically; delete documents; flush after a batch
    ChunkSearcher  keyword (BM25) and dense (cosine) top-k, with filters
    StoreInfo      counts and document versions, for status and sync
    ChunkExporter  every document's chunks and vectors, for `dayshift store migrate`
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from dayshift.errors import StoreError
from dayshift.types import Chunk, Condition, Hit


@dataclass(frozen=True, slots=True)
class StoreStats:
    documents: int
    chunks: int
    space: str | None  # vector space of the stored vectors; None while empty
    dim: int | None
    size_bytes: int


class ChunkWriter(Protocol):
    def replace_document(self, doc_id: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        """Make `chunks` the only chunks of `doc_id`, in one transaction.

        Readers see either all the old chunks or all the new ones, never a mix.
        An empty `chunks` deletes the document.
        """
        ...

    def delete_documents(self, doc_ids: Sequence[str]) -> int:
        """Remove every chunk of these documents; returns chunks removed."""
        ...

    def flush(self) -> None:
        """Bring derived state up to date after a batch of writes (the end of every ingest).

        Writes are durable and searchable before it; a flush only persists or refreshes what
        is derived from them (the embedded store's HNSW graph, Qdrant's BM25 weights).
        """
        ...


class ChunkSearcher(Protocol):
    def keyword_search(self, terms: Sequence[str], *, k: int, where: Sequence[Condition] = ()) -> list[Hit]:
        """BM25 over analysed terms (see dayshift.analysis), best first."""
        ...

    def dense_search(self, vector: np.ndarray, *, k: int, where: Sequence[Condition] = ()) -> list[Hit]:
        """Cosine similarity to a unit `vector` of shape (dim,), best first."""
        ...


class StoreInfo(Protocol):
    def stats(self) -> StoreStats: ...

    def document_versions(self) -> dict[str, str]:
        """doc_id -> stored version, for every stored document."""
        ...


class ChunkExporter(Protocol):
    def export_documents(self) -> Iterator[tuple[str, list[Chunk], np.ndarray]]:
        """(doc_id, its chunks in ordinal order, their vectors as float32 (n, dim)) for every document.

        Vectors come back exactly as stored, so a migration never re-embeds.
        """
        ...


class Store(ChunkWriter, ChunkSearcher, StoreInfo, ChunkExporter, Protocol):
    space: str  # the vector space this store was opened for

    def close(self) -> None: ...


def checked_vectors(doc_id: str, chunks: Sequence[Chunk], vectors: np.ndarray, *, dim: int, space: str) -> np.ndarray:
    """`vectors` as float32, or StoreError if they do not fit `chunks` and this store's space."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if len(chunks) != len(vectors):
        raise StoreError(f"{doc_id}: {len(chunks)} chunks but {len(vectors)} vectors")
    if len(chunks) and (vectors.ndim != 2 or vectors.shape[1] != dim):
        raise StoreError(f"{doc_id}: vectors of shape {vectors.shape}, but this index holds {dim}-dim vectors of {space}")
    return vectors
