"""What a dayshift collection holds, as Qdrant points: their ids, and chunks to payloads and back.

    chunk point   id uuid5(chunk_id, gen); vectors "dense" and "bm25"; payload: the chunk's fields,
                  kind="chunk", gen, dl, avgdl, and the filter shadows (store.qdrant.filters)
    doc marker    id uuid5(doc_id); no vectors; kind="doc" (its fields: store.qdrant)
    meta point    id uuid5("meta"); no vectors; kind="meta"

Ids are deterministic, so a marker or the meta point is found by id, never by a
scan; a chunk's id includes its write's `gen`, so a new version's points never
overwrite the old ones that readers may still be using.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models

from dayshift.store.qdrant.bm25 import document_vector, query_vector
from dayshift.store.qdrant.filters import filter_payload
from dayshift.types import Chunk

_IDS = uuid.UUID("5a1d0c3e-2f4b-4e8a-9d6c-7b1e0f2a3c4d")  # namespace of every point id
META_ID = str(uuid.uuid5(_IDS, "meta"))
CHUNK_FIELDS = (
    "chunk_id", "doc_id", "doc_version", "source", "title", "text", "section", "page",
    "char_start", "char_end", "ordinal", "ingested_at", "metadata",
)  # fmt: skip
HIT_PAYLOAD = models.PayloadSelectorInclude(include=[*CHUNK_FIELDS, "gen"])  # what a search reads back
_INDEXED = {"kind": "keyword", "avgdl": "float", "sp": "keyword", "section": "keyword", "fs.source": "keyword",
            "fs.doc_id": "keyword", "fs.title": "keyword", "fn.page": "float"}  # fmt: skip


def create_collection(client: QdrantClient, name: str, *, dim: int, indexes: bool) -> None:
    """Dense vectors by dot product (unit length: their cosine), sparse BM25 with server IDF, and
    `indexes` for the payload fields dayshift filters on (a server's; local mode has none)."""
    client.create_collection(
        name,
        vectors_config={"dense": models.VectorParams(size=dim, distance=models.Distance.DOT)},
        sparse_vectors_config={"bm25": models.SparseVectorParams(modifier=models.Modifier.IDF)},
    )
    for key, kind in _INDEXED.items() if indexes else ():
        client.create_payload_index(name, key, kind, wait=True)


def bare_point(point_id: str, payload: dict[str, Any]) -> models.PointStruct:
    """A point without vectors (a marker, the meta point): no search ever returns it."""
    return models.PointStruct(id=point_id, vector={}, payload=payload)


def marker_id(doc_id: str) -> str:
    return str(uuid.uuid5(_IDS, f"doc\x1f{doc_id}"))


def chunk_point(chunk: Chunk, vector: np.ndarray, terms: list[str], *, gen: str, avgdl: float) -> models.PointStruct:
    ids, weights = document_vector(terms, avgdl=avgdl)
    payload: dict[str, Any] = {name: getattr(chunk, name) for name in CHUNK_FIELDS}
    payload.update(section=list(chunk.section), kind="chunk", gen=gen, dl=len(terms), avgdl=avgdl)
    payload.update(filter_payload(chunk))
    return models.PointStruct(
        id=str(uuid.uuid5(_IDS, f"chunk\x1f{chunk.chunk_id}\x1f{gen}")),
        vector={"dense": vector.tolist(), "bm25": models.SparseVector(indices=ids, values=weights)},
        payload=payload,
    )


def payload_chunk(payload: dict[str, Any]) -> Chunk:
    fields = {name: payload.get(name) for name in CHUNK_FIELDS}
    fields["section"] = tuple(fields["section"] or ())
    fields["metadata"] = dict(fields["metadata"] or {})
    return Chunk(**fields)  # type: ignore[arg-type]


def sparse_query(terms: Sequence[str]) -> models.SparseVector | None:
    """The BM25 query vector, or None when there are no terms to search for."""
    ids, counts = query_vector(terms)
    return models.SparseVector(indices=ids, values=counts) if ids else None


def field_is(key: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def field_between(key: str, low: float, high: float) -> models.FieldCondition:
    return models.FieldCondition(key=key, range=models.Range(gte=low, lte=high))


def pages(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    page: list[Any] = []
    for item in items:
        page.append(item)
        if len(page) == size:
            yield page
            page = []
    if page:
        yield page
