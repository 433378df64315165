"""The Qdrant engine in-process (qdrant-edge-py) behind the searches benchmarks/scale.py times.

    EdgeStore(path, dim)   one EdgeShard: "dense" (dot product on unit vectors: cosine, HNSW m=16)
                           and "bm25" (dayshift's BM25 document weights as sparse vectors, with
                           Qdrant's IDF modifier: dayshift.store.qdrant.bm25), payload indexes on
                           the two fields the benchmark filters on

It answers keyword_search, dense_search, replace_document, flush and close as dayshift's
stores do, for the benchmark's corpus only: chunks are points numbered by the corpus's chunk
number, and `source` filters name the corpus's folder (s007), matched exactly. It is a
measurement of the engine, not a dayshift store: no document markers, no atomic replace,
no export (docs/decisions/0012-store-at-scale.md says what a store on it would need).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import qdrant_edge as qe
from scale_corpus import chunk_number

from dayshift.analysis import analyze
from dayshift.store.qdrant.bm25 import document_vector, query_vector
from dayshift.types import Chunk, Condition, Hit

AVGDL = 70.0  # the corpus's mean analysed length (about 100 words a chunk), baked into the weights


class EdgeStore:
    def __init__(self, path: Path, *, dim: int, ef_search: int = 128) -> None:
        self.dim, self.ef_search = dim, ef_search
        config = qe.EdgeConfig(
            vectors={"dense": qe.EdgeVectorParams(size=dim, distance=qe.Distance.Dot)},
            sparse_vectors={"bm25": qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            hnsw_config=qe.HnswIndexConfig(m=16, ef_construct=100, full_scan_threshold=10_000),
        )
        if (path / "edge.created").exists():
            self.shard = qe.EdgeShard.load(str(path), config)
        else:
            path.mkdir(parents=True, exist_ok=True)
            self.shard = qe.EdgeShard.create(str(path), config)
            self.shard.update(qe.UpdateOperation.create_field_index("group", qe.PayloadSchemaType.Integer))
            self.shard.update(qe.UpdateOperation.create_field_index("folder", qe.PayloadSchemaType.Keyword))
            (path / "edge.created").touch()

    def replace_document(self, doc_id: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        points = []
        for chunk, vector in zip(chunks, vectors):
            ids, weights = document_vector(analyze(chunk.indexed_text), avgdl=AVGDL)
            payload = {"chunk_id": chunk.chunk_id, "doc_id": chunk.doc_id, "source": chunk.source,
                       "folder": chunk.source.split("/")[0], "title": chunk.title, "text": chunk.text,
                       "group": int(chunk.metadata["group"])}  # fmt: skip
            vector_map = {"dense": vector.tolist(), "bm25": qe.SparseVector(indices=ids, values=weights)}
            points.append(qe.Point(id=chunk_number(chunk.chunk_id), vector=vector_map, payload=payload))
        self.shard.update(qe.UpdateOperation.upsert_points(points))

    def flush(self) -> None:
        self.shard.flush()
        self.shard.optimize()  # builds the HNSW graph and the indexes (blocking)

    def keyword_search(self, terms: Sequence[str], *, k: int, where: Sequence[Condition] = ()) -> list[Hit]:
        ids, counts = query_vector(terms)
        if not ids:
            return []
        query = qe.Query.Nearest(qe.SparseVector(indices=ids, values=counts), using="bm25")
        return self._query(query, k=k, where=where, source="keyword")

    def dense_search(self, vector: np.ndarray, *, k: int, where: Sequence[Condition] = ()) -> list[Hit]:
        query = qe.Query.Nearest(np.asarray(vector, dtype=np.float32).tolist(), using="dense")
        return self._query(query, k=k, where=where, source="dense")

    def _query(self, query: object, *, k: int, where: Sequence[Condition], source: str) -> list[Hit]:
        conditions = []
        for cond in where:
            key = "folder" if cond.field == "source" else cond.field
            conditions.append(qe.FieldCondition(key=key, match=qe.MatchValue(cond.value)))  # type: ignore[arg-type]
        request = qe.QueryRequest(limit=k, query=query, with_payload=True,  # type: ignore[arg-type]
                                  filter=qe.Filter(must=conditions) if conditions else None,
                                  params=qe.SearchParams(hnsw_ef=self.ef_search))  # fmt: skip
        return [Hit(chunk=_chunk(p.payload or {}), score=float(p.score), source=source)  # type: ignore[arg-type]
                for p in self.shard.query(request)]  # fmt: skip

    def close(self) -> None:
        self.shard.close()


def _chunk(payload: dict[str, object]) -> Chunk:
    return Chunk(chunk_id=str(payload["chunk_id"]), doc_id=str(payload["doc_id"]), doc_version="v1",
                 source=str(payload["source"]), title=str(payload["title"]), text=str(payload["text"]), section=(),
                 page=None, char_start=0, char_end=0, ordinal=0, ingested_at=0.0,
                 metadata={"group": payload["group"]})  # type: ignore[dict-item]  # fmt: skip
