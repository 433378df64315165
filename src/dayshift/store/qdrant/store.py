"""The Qdrant store: chunks as points of one collection per namespace (tenant), through qdrant-client.

    url=None    qdrant-client's local mode, persisted under <data_dir>/qdrant (one process at a time)
    url=...     a Qdrant server; collection "dayshift_<namespace>", so tenants never share points

    chunk point  vectors: "dense", dot product (unit vectors, so their cosine; Qdrant keeps them
                 bit for bit, for export) and "bm25", sparse with modifier=IDF (store.qdrant.bm25);
                 payload: the chunk's fields, gen (the write that made it), dl and avgdl (its
                 length and the mean baked into its weights), filter shadows (store.qdrant.filters)
    doc marker   no vectors; doc_id, gen, version, chunks, terms, points (the live point ids),
                 pending (ids a write in progress is adding)
    meta point   no vectors; space, dim, avgdl (for new weights), k1, b

Qdrant has no transactions across points, so a replacement goes:

    (1) marker.pending += new ids          a crash from here on leaves them findable
    (2) upsert the new points (new gen)    invisible: the marker still names the old gen
    (3) marker := new gen, points = new    one point, so atomic: readers switch here
    (4) delete the old and pending ids     invisible already

Every search reads the markers of the documents it found and keeps a hit only if
its gen is its document's current one, so a reader sees all the old chunks until
(3) and all the new ones after it, never a mix; when stale points leave fewer
than k hits it asks again for more. Deleting removes the markers first (nothing
of those documents is searchable from then on), then their points. A write that
died is cleaned up by the document's next write or delete. Until (4), stale
points still count in Qdrant's IDF statistics, so scores can move slightly
while a document is being written; on a server, deleted points count there until
its optimizer vacuums them.

Keyword search is BM25 over dayshift's own analysed terms. Qdrant applies IDF
from its own statistics; the length normalisation is baked into the weights
with the collection's avgdl, and `flush()` (the end of every ingest) sets it to
the live mean when that has drifted by more than `bm25_reweight_tolerance` and
rewrites the weights made with another, so after a flush the scores are
store.embedded.keyword's.

`hybrid_search` (dayshift.store.hybrid, which the retriever uses for weighted
fusion) reads both lists in one batch request and one check of the markers, then
fuses them as dayshift.fusion does. `server_hybrid_search` lets Qdrant fuse
(Query API: a sparse and a dense prefetch, then DBSF, or RRF with weights).

Left out: several writing processes at once (like the embedded store, one
ingest writes at a time; the local mode allows one process at all), payload
indexes on metadata keys, quantization and HNSW tuning (the server's defaults),
and size_bytes on a server (0).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dayshift.analysis import analyze
from dayshift.errors import ConfigError, PluginError, QueryError, StoreError
from dayshift.fusion import weighted_fusion
from dayshift.store.base import StoreStats, checked_vectors
from dayshift.store.hybrid import HybridResult
from dayshift.types import Chunk, Condition, Hit, HitSource

try:
    from qdrant_client import QdrantClient, models
    from qdrant_client.http.exceptions import (
        ResponseHandlingException,
        UnexpectedResponse,
    )
except ImportError as exc:  # pragma: no cover - depends on the install
    raise PluginError('the Qdrant store needs qdrant-client: pip install "dayshift[qdrant]"') from exc

from dayshift.store.bm25 import K1, B
from dayshift.store.qdrant.bm25 import DEFAULT_AVGDL, document_vector
from dayshift.store.qdrant.filters import (
    CompiledFilter,
    compile_filter,
    matches,
    residual_payload_keys,
)
from dayshift.store.qdrant.points import (
    CHUNK_FIELDS,
    HIT_PAYLOAD,
    META_ID,
    bare_point,
    chunk_point,
    create_collection,
    field_between,
    field_is,
    marker_id,
    pages,
    payload_chunk,
    sparse_query,
)

_BATCH = 256  # points per upsert or scroll page
_SLACK = 16  # extra hits asked for, to stand in for stale ones
_NAMESPACE = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
FusionKind = Literal["dbsf", "rrf"]
_Run = Callable[[int, "models.Filter | None"], list[list[models.ScoredPoint]]]  # (limit, filter) -> point lists
_NO_MATCH = models.Filter(must=[models.HasIdCondition(has_id=[])])  # what a filter no chunk meets becomes


class QdrantStore:
    """Chunks in Qdrant: dense, sparse BM25 and hybrid search, exact dayshift filters."""

    def __init__(
        self,
        *,
        data_dir: Path,
        space: str,
        dim: int,
        url: str | None = None,
        namespace: str = "default",
        api_key: str | None = None,
        timeout_s: float = 30.0,
        bm25_reweight_tolerance: float = 0.05,
        client: QdrantClient | None = None,
        **_: object,
    ) -> None:
        """`client`: an open QdrantClient to use instead of `url` or `data_dir` (one local folder shared
        by several namespaces, or tests); the caller closes it."""
        if not _NAMESPACE.match(namespace):
            raise ConfigError(
                f'store namespace "{namespace}" cannot name a Qdrant collection: use letters, digits, "_" or "-"'
            )
        self.space, self.dim, self.namespace = space, dim, namespace
        self.collection = f"dayshift_{namespace}"
        self._tolerance = bm25_reweight_tolerance
        self._local_path = None if url else Path(data_dir) / "qdrant"
        self._where = url or str(self._local_path)
        self._lock = threading.RLock()
        self._owns_client = client is None
        if client is not None:
            self._client = client
        elif self._local_path is None:
            self._client = QdrantClient(url=url, api_key=api_key, timeout=int(timeout_s))
        else:
            self._local_path.mkdir(parents=True, exist_ok=True)
            try:
                self._client = QdrantClient(path=str(self._local_path))
            except RuntimeError as exc:
                raise StoreError(
                    f"{self._local_path} is open in another process (or store), and Qdrant's local mode allows "
                    "one at a time: stop it, or run a Qdrant server and set DAYSHIFT_STORE__URL"
                ) from exc
        with self._calls():
            self._avgdl = self._open_collection()

    # -- writing ----------------------------------------------------------

    def replace_document(self, doc_id: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        vectors = checked_vectors(doc_id, chunks, vectors, dim=self.dim, space=self.space)
        if not chunks:
            self.delete_documents([doc_id])
            return
        with self._lock, self._calls():
            found = {
                str(p.id): p.payload or {} for p in self._client.retrieve(self.collection, [marker_id(doc_id), META_ID])
            }
            self._avgdl = float(found.get(META_ID, {}).get("avgdl", self._avgdl))  # another process may have moved it
            marker = found.get(marker_id(doc_id), {"kind": "doc", "doc_id": doc_id})
            gen = uuid.uuid4().hex
            terms = [analyze(c.indexed_text) for c in chunks]
            points = [chunk_point(c, v, t, gen=gen, avgdl=self._avgdl) for c, v, t in zip(chunks, vectors, terms)]
            new_ids = [str(p.id) for p in points]
            old_ids = [*marker.get("points", []), *marker.get("pending", [])]
            pending = [*marker.get("pending", []), *new_ids]  # findable if this write dies before the flip
            self._put_marker(doc_id, {**marker, "pending": pending})
            for start in range(0, len(points), _BATCH):
                self._client.upsert(self.collection, points[start : start + _BATCH], wait=True)
            current = {"gen": gen, "version": min(c.doc_version for c in chunks), "chunks": len(chunks),
                       "terms": sum(map(len, terms)), "points": new_ids}  # fmt: skip
            self._put_marker(doc_id, {"kind": "doc", "doc_id": doc_id, **current})
            stale = sorted(set(old_ids) - set(new_ids))  # readers stopped seeing these at the marker
            for start in range(0, len(stale), _BATCH * 4):
                self._client.delete(self.collection, stale[start : start + _BATCH * 4], wait=True)

    def delete_documents(self, doc_ids: Sequence[str]) -> int:
        removed = 0
        with self._lock, self._calls():
            for start in range(0, len(doc_ids), _BATCH):
                marker_ids = [marker_id(d) for d in doc_ids[start : start + _BATCH]]
                markers = [
                    m.payload
                    for m in self._client.retrieve(self.collection, marker_ids, with_payload=True)
                    if m.payload
                ]
                removed += sum(int(m["chunks"]) for m in markers if "gen" in m)
                tombstones = [  # no gen: invisible from here on; the ids stay findable if this dies
                    bare_point(marker_id(m["doc_id"]), {"kind": "doc", "doc_id": m["doc_id"],
                                                        "pending": [*m.get("points", []), *m.get("pending", [])]})
                    for m in markers
                ]  # fmt: skip
                if tombstones:
                    self._client.upsert(self.collection, tombstones, wait=True)
                doomed = [i for t in tombstones for i in t.payload["pending"]]  # type: ignore[index]
                for first in range(0, len(doomed), _BATCH * 4):
                    self._client.delete(self.collection, doomed[first : first + _BATCH * 4], wait=True)
                self._client.delete(self.collection, marker_ids, wait=True)
        return removed

    def flush(self) -> None:
        """Bake the live mean chunk length into the BM25 weights, if it drifted past the tolerance."""
        with self._lock, self._calls():
            [meta] = self._client.retrieve(self.collection, [META_ID])
            self._avgdl = float((meta.payload or {})["avgdl"])
            chunks = terms = 0
            for marker in self._markers(["chunks", "terms"]):
                chunks, terms = chunks + int(marker["chunks"]), terms + int(marker["terms"])
            if chunks and abs(terms / chunks - self._avgdl) > self._tolerance * self._avgdl:
                self._avgdl = terms / chunks
                self._write_meta(avgdl=self._avgdl)  # new chunks get the new mean from here on
            self._reweight()

    def _reweight(self) -> None:
        """Rewrite every chunk whose weights were made with another mean length than the collection's."""
        other = models.Filter(
            must=[field_is("kind", "chunk")], must_not=[field_between("avgdl", self._avgdl, self._avgdl)]
        )
        for page in pages(self._scroll(other, payload=list(CHUNK_FIELDS)), _BATCH):
            updates = []
            for point in page:
                ids, weights = document_vector(
                    analyze(payload_chunk(point.payload or {}).indexed_text), avgdl=self._avgdl
                )
                updates.append(
                    models.PointVectors(id=point.id, vector={"bm25": models.SparseVector(indices=ids, values=weights)})
                )
            self._client.update_vectors(self.collection, updates, wait=True)
            self._client.set_payload(self.collection, {"avgdl": self._avgdl}, points=[p.id for p in page], wait=True)

    # -- searching --------------------------------------------------------

    def keyword_search(self, terms: Sequence[str], *, k: int, where: Sequence[Condition] = ()) -> list[Hit]:
        sparse = sparse_query(terms)
        run = lambda limit, flt: [self._query(query=sparse, using="bm25", query_filter=flt, limit=limit)]
        return self._search(run, k=k if sparse else 0, where=where, sources=("keyword",))[0]

    def dense_search(self, vector: np.ndarray, *, k: int, where: Sequence[Condition] = ()) -> list[Hit]:
        query = np.asarray(vector, dtype=np.float32).tolist()
        run = lambda limit, flt: [self._query(query=query, using="dense", query_filter=flt, limit=limit)]
        return self._search(run, k=k, where=where, sources=("dense",))[0]

    def hybrid_search(
        self,
        terms: Sequence[str],
        vector: np.ndarray,
        *,
        k: int,
        where: Sequence[Condition] = (),
        candidates: int = 100,
        dense_weight: float = 0.5,
    ) -> HybridResult:
        """Both top-`candidates` lists in one request, checked against one read of the markers, then
        `weighted_fusion` (dayshift.store.hybrid's contract: the retriever's results, one round trip)."""
        sparse, dense = sparse_query(terms), np.asarray(vector, dtype=np.float32).tolist()

        def run(limit: int, flt: models.Filter | None) -> list[list[models.ScoredPoint]]:
            requests = [
                models.QueryRequest(query=dense, using="dense", filter=flt, limit=limit, with_payload=HIT_PAYLOAD)
            ]
            if sparse:
                requests.insert(
                    0,
                    models.QueryRequest(query=sparse, using="bm25", filter=flt, limit=limit, with_payload=HIT_PAYLOAD),
                )
            found = [r.points for r in self._client.query_batch_points(self.collection, requests)]
            return found if sparse else [[], *found]

        keyword, dense_hits = self._search(run, k=candidates, where=where, sources=("keyword", "dense"))
        return HybridResult(
            hits=weighted_fusion([keyword, dense_hits], k=k, weights=[1.0 - dense_weight, dense_weight]),
            keyword_scores={h.chunk.chunk_id: h.score for h in keyword},
            dense_scores={h.chunk.chunk_id: h.score for h in dense_hits},
        )

    def server_hybrid_search(
        self,
        terms: Sequence[str],
        vector: np.ndarray,
        *,
        k: int,
        where: Sequence[Condition] = (),
        candidates: int = 100,
        dense_weight: float = 0.5,
        fusion: FusionKind = "dbsf",
        rrf_k: int = 60,
    ) -> list[Hit]:
        """Keyword and dense top-`candidates` fused by Qdrant (Query API): DBSF, unweighted, or RRF.

        DBSF needs a server >= 1.11. RRF is Qdrant's parametrised RRF (>= 1.16; weights, sent when
        dense_weight is not 0.5, >= 1.17), with `rrf_k` as in dayshift.fusion: 1 / (rrf_k + rank).
        """
        if fusion == "dbsf" and dense_weight != 0.5:
            raise QueryError(
                f'Qdrant\'s DBSF fusion takes no weights: use fusion="rrf" for dense_weight={dense_weight}'
            )
        sparse, dense = sparse_query(terms), np.asarray(vector, dtype=np.float32).tolist()
        weights = None if dense_weight == 0.5 else [2.0 * (1.0 - dense_weight), 2.0 * dense_weight]
        query: models.Query = models.RrfQuery(
            rrf=models.Rrf(k=rrf_k + 1, weights=weights)
        )  # Qdrant counts ranks from 0
        if fusion == "dbsf":
            query = models.FusionQuery(fusion=models.Fusion.DBSF)

        def run(limit: int, flt: models.Filter | None) -> list[list[models.ScoredPoint]]:
            depth = max(candidates, limit)
            prefetch = [models.Prefetch(query=dense, using="dense", filter=flt, limit=depth)]
            if sparse:
                prefetch.insert(0, models.Prefetch(query=sparse, using="bm25", filter=flt, limit=depth))
            return [self._query(prefetch=prefetch, query=query, limit=limit)]

        return self._search(run, k=k, where=where, sources=("hybrid",))[0]

    def _search(
        self, run: _Run, *, k: int, where: Sequence[Condition], sources: tuple[HitSource, ...]
    ) -> list[list[Hit]]:
        """`run`'s lists with only current points, each its best `k` (more asked for while stale ones crowd them)."""
        compiled = compile_filter(where)  # QueryError before anything else
        if compiled.nothing or k <= 0:
            return [[] for _ in sources]
        with self._reading(), self._calls():
            flt = self._filter(compiled)
            if flt is _NO_MATCH:
                return [[] for _ in sources]
            limit = k + _SLACK
            while True:
                found = run(limit, flt)
                lists = self._current(found, sources=sources)
                if all(len(hits) >= k or len(points) < limit for hits, points in zip(lists, found)):
                    return [hits[:k] for hits in lists]
                limit *= 4

    def _filter(self, compiled: CompiledFilter) -> models.Filter | None:
        """The native filter, with the residual conditions resolved to point ids (or _NO_MATCH)."""
        if not compiled.residual:
            return models.Filter(must=compiled.native) if compiled.native else None
        scan = models.Filter(must=[field_is("kind", "chunk"), *compiled.native])
        points = self._scroll(scan, payload=residual_payload_keys(compiled.residual))
        ids = [p.id for p in points if all(matches(p.payload or {}, c) for c in compiled.residual)]
        return models.Filter(must=[*compiled.native, models.HasIdCondition(has_id=ids)]) if ids else _NO_MATCH

    def _current(self, found: list[list[models.ScoredPoint]], *, sources: tuple[HitSource, ...]) -> list[list[Hit]]:
        """Each list's hits whose gen is their document's current one (one read of the markers for all)."""
        docs = {p.payload["doc_id"] for points in found for p in points if p.payload}
        markers = self._client.retrieve(self.collection, [marker_id(d) for d in docs], with_payload=["doc_id", "gen"])
        current = {m.payload["doc_id"]: m.payload.get("gen") for m in markers if m.payload}
        return [
            [Hit(chunk=payload_chunk(p.payload), score=float(p.score), source=source) for p in points
             if p.payload and current.get(p.payload["doc_id"]) == p.payload["gen"]]
            for points, source in zip(found, sources)
        ]  # fmt: skip

    def _query(self, **request: Any) -> list[models.ScoredPoint]:
        return self._client.query_points(self.collection, with_payload=HIT_PAYLOAD, **request).points

    # -- information ------------------------------------------------------

    def stats(self) -> StoreStats:
        with self._reading(), self._calls():
            markers = list(self._markers(["chunks"]))
        chunks = sum(int(m["chunks"]) for m in markers)
        size = (
            0 if self._local_path is None else sum(f.stat().st_size for f in self._local_path.rglob("*") if f.is_file())
        )
        return StoreStats(
            documents=len(markers),
            chunks=chunks,
            space=self.space if chunks else None,
            dim=self.dim if chunks else None,
            size_bytes=size,
        )

    def document_versions(self) -> dict[str, str]:
        with self._reading(), self._calls():
            return {m["doc_id"]: m["version"] for m in self._markers(["doc_id", "version"])}

    def export_documents(self) -> Iterator[tuple[str, list[Chunk], np.ndarray]]:
        with self._reading(), self._calls():
            points = {m["doc_id"]: m["points"] for m in self._markers(["doc_id", "points"])}
        for doc_id in sorted(points):
            with self._reading(), self._calls():
                records = self._client.retrieve(
                    self.collection, points[doc_id], with_payload=list(CHUNK_FIELDS), with_vectors=["dense"]
                )
            if len(records) == len(points[doc_id]):  # else replaced or deleted meanwhile: skipped
                records.sort(key=lambda r: int((r.payload or {})["ordinal"]))
                dense = [r.vector["dense"] for r in records]  # type: ignore[index,call-overload]
                vectors = np.array(dense, dtype=np.float32)
                yield doc_id, [payload_chunk(r.payload or {}) for r in records], vectors

    def close(self) -> None:
        with self._lock:
            if self._owns_client:
                self._client.close()

    # -- internals --------------------------------------------------------

    def _open_collection(self) -> float:
        """The avgdl new weights use; creates the collection, or checks that it holds this space."""
        if not self._client.collection_exists(self.collection):
            try:
                create_collection(self._client, self.collection, dim=self.dim, indexes=self._local_path is None)
            except UnexpectedResponse as exc:  # another process created it first
                if exc.status_code != 409:
                    raise
            else:
                self._write_meta(avgdl=DEFAULT_AVGDL)
        [meta] = self._client.retrieve(self.collection, [META_ID], with_payload=True) or [None]
        have = (meta.payload or {}) if meta else {}
        if (have.get("space"), have.get("dim")) != (self.space, self.dim):
            what = f"vectors of {have['space']} ({have['dim']} dims)" if "space" in have else "no dayshift metadata"
            raise StoreError(
                f'the Qdrant collection "{self.collection}" at {self._where} holds {what}, not {self.space} '
                f"({self.dim} dims): set the embedder it was built with, or another namespace "
                "(DAYSHIFT_STORE__NAMESPACE) and re-ingest"
            )
        return float(have["avgdl"])

    def _put_marker(self, doc_id: str, payload: dict[str, Any]) -> None:
        self._client.upsert(self.collection, [bare_point(marker_id(doc_id), payload)], wait=True)

    def _write_meta(self, *, avgdl: float) -> None:
        meta = {"kind": "meta", "space": self.space, "dim": self.dim, "avgdl": avgdl, "k1": K1, "b": B}
        self._client.upsert(self.collection, [bare_point(META_ID, meta)], wait=True)

    def _markers(self, keys: list[str]) -> Iterator[dict[str, Any]]:
        """Payloads of the documents' markers; one a crashed first write left (no gen) is no document."""
        for point in self._scroll(models.Filter(must=[field_is("kind", "doc")]), payload=[*keys, "gen"]):
            if point.payload and "gen" in point.payload:
                yield point.payload

    def _scroll(self, flt: models.Filter, *, payload: Any = True, vectors: Any = False) -> Iterator[models.Record]:
        offset = None
        while True:
            points, offset = self._client.scroll(
                self.collection,
                flt,
                limit=1024,
                offset=offset,
                with_payload=payload,
                with_vectors=["dense"] if vectors else False,
            )
            yield from points
            if offset is None:
                return

    def _reading(self) -> Any:
        """Local mode is not thread-safe; a server client is."""
        return self._lock if self._local_path is not None else nullcontext()

    @contextmanager
    def _calls(self) -> Iterator[None]:
        try:
            yield
        except (UnexpectedResponse, ResponseHandlingException) as exc:
            raise StoreError(
                f'Qdrant at {self._where} failed on collection "{self.collection}": {exc}; '
                "check that the server is up and DAYSHIFT_STORE__URL points at it"
            ) from exc
