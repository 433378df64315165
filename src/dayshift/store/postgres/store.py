"""The Postgres store: chunks, BM25 postings and pgvector vectors in one schema per namespace.

    [store]
    backend = "postgres"
    url = "postgresql://user:password@host/db"      # writes (and reads, without read_url)
    read_url = "postgresql://user:password@replica/db"   # optional: searches go here
    namespace = "acme"                               # schema dayshift_acme, made on first use

Everything a search needs lives in Postgres, so any number of processes and
machines serve the same index and see a committed change at once:

    keyword  BM25 in SQL over a postings table, the embedded store's formula and terms
    dense    pgvector HNSW on inner product (unit vectors: cosine), iterative scans under filters
    hybrid   both top-N lists and the weighted min-max fusion in one statement (`hybrid_search`)
    filters  the embedded store's `Condition` semantics, compiled to SQL (store.postgres.filters)

A document's chunks are replaced in one transaction, so a reader sees all of the
old ones or all of the new ones. Writers of one namespace take turns (they lock the
`collection` row first); readers never wait for them. A namespace is a schema,
so tenants share no rows and no BM25 statistics. With `read_url`, searches read a
replica and may lag it; `stats`, `document_versions` and exports read the primary.
The SQL: store.postgres.sql. Bulk loading with COPY: store.postgres.bulk.

Left out: row-level security inside one schema (each tenant has its own), and
automatic HNSW rebuilds (an index dropped by an interrupted `bulk_load` comes
back with `build_dense_index()`; searches stay exact meanwhile).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from dayshift.errors import ConfigError, PluginError, StoreError
from dayshift.postgres import describe_url as _describe_url
from dayshift.postgres import first_line as _first_line
from dayshift.postgres import libpq_url as _libpq_url
from dayshift.postgres import schema_name
from dayshift.store.base import StoreStats, checked_vectors
from dayshift.store.hybrid import HybridResult
from dayshift.store.postgres import sql as q
from dayshift.store.postgres.filters import compile_where
from dayshift.store.postgres.rows import chunk_rows, insert_rows
from dayshift.types import Chunk, Condition, Hit


class PostgresStore:
    """Server-backed store; opened like the embedded one through the "dayshift.stores" registry."""

    def __init__(
        self,
        *,
        data_dir: Path | None = None,
        space: str,
        dim: int,
        url: str | None = None,
        namespace: str = "default",
        read_url: str | None = None,
        pool_size: int = 8,
        hnsw_m: int = q.HNSW_M,
        hnsw_ef_construction: int = q.HNSW_EF_CONSTRUCTION,
        hnsw_ef_search: int = q.HNSW_EF_SEARCH,
        work_mem: str = "64MB",
        connect_timeout_s: float = 10.0,
        **_: object,
    ) -> None:
        if not url:
            raise ConfigError("the postgres store needs a server: set DAYSHIFT_STORE__URL=postgresql://user:pw@host/db")
        psycopg, pool_module = _drivers()
        self.space, self.dim, self.namespace = space, dim, namespace
        self.schema = schema_name(namespace)
        self.url, self._where = _libpq_url(url), _describe_url(url)
        self._psycopg = psycopg
        self._ef_search = max(1, min(int(hnsw_ef_search), 1000))
        self.hnsw = {"m": int(hnsw_m), "ef_construction": int(hnsw_ef_construction)}  # used when the index is built
        self._timeout_s = connect_timeout_s
        # BM25 sums per chunk in one hash: at a million chunks a common term's postings overflow the
        # 4MB default and spill to disk. Set per session, so the server's default stays as it is.
        self._work_mem = work_mem
        self._search_path = self._set_up()
        self._pool = self._read_pool = self._open_pool(pool_module, self.url, pool_size)
        if read_url:
            try:
                self._read_pool = self._open_pool(pool_module, _libpq_url(read_url), pool_size)
            except StoreError:
                self._pool.close()
                raise

    # -- writing ----------------------------------------------------------

    def replace_document(self, doc_id: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        vectors = checked_vectors(doc_id, chunks, vectors, dim=self.dim, space=self.space)
        rows = chunk_rows(chunks, vectors)
        with self._writing() as conn, conn.pipeline():
            conn.execute(q.LOCK_WRITERS)
            conn.execute(q.DELETE_DOCUMENTS, {"doc_ids": [doc_id]})
            if chunks:
                insert_rows(conn, rows)

    def delete_documents(self, doc_ids: Sequence[str]) -> int:
        if not doc_ids:
            return 0
        with self._writing() as conn:
            conn.execute(q.LOCK_WRITERS)
            return int(conn.execute(q.DELETE_DOCUMENTS, {"doc_ids": list(doc_ids)}).fetchone()[0])

    def bulk_load(self, documents: Iterable[tuple[Sequence[Chunk], np.ndarray]], **options: Any) -> int:
        """Load many documents with COPY; see `dayshift.store.postgres.bulk.bulk_load`."""
        from dayshift.store.postgres.bulk import bulk_load

        return bulk_load(self, documents, **options)

    def build_dense_index(self, *, maintenance_work_mem: str | None = None, workers: int | None = None) -> None:
        """Build the HNSW index if it is missing (after `bulk_load(..., build_index=False)`)."""
        from dayshift.store.postgres.bulk import build_dense_index

        build_dense_index(self, maintenance_work_mem=maintenance_work_mem, workers=workers)

    def flush(self) -> None:
        """Nothing to do: every write is durable and visible once its transaction commits."""

    # -- searching --------------------------------------------------------

    def keyword_search(self, terms: Sequence[str], *, k: int, where: Sequence[Condition] = ()) -> list[Hit]:
        clause, params = compile_where(where)
        if k <= 0 or not terms:
            return []
        sql = f"WITH {q.keyword_top(clause)}\n{q.ranked_chunks('kw')}"
        rows = self._read(sql, {**params, **_query_terms(terms), "k": k})
        return [Hit(chunk=row_chunk(r[:-1]), score=float(r[-1]), source="keyword") for r in rows]

    def dense_search(self, vector: np.ndarray, *, k: int, where: Sequence[Condition] = ()) -> list[Hit]:
        clause, params = compile_where(where)
        if k <= 0:
            return []
        sql = f"WITH {q.dense_top(clause)}\n{q.ranked_chunks('dn')}"
        rows = self._read(sql, {**params, "vector": np.asarray(vector, dtype=np.float32), "k": k})
        return [Hit(chunk=row_chunk(r[:-1]), score=float(r[-1]), source="dense") for r in rows]

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
        """Keyword and dense top-`candidates`, fused as `weighted_fusion` does, in one statement."""
        clause, params = compile_where(where)
        if k <= 0 or candidates <= 0:
            return HybridResult(hits=[], keyword_scores={}, dense_scores={})
        params |= {**_query_terms(terms), "vector": np.asarray(vector, dtype=np.float32), "k": k, "n": candidates,
                   "kw_weight": 1.0 - dense_weight, "dn_weight": float(dense_weight)}  # fmt: skip
        rows = self._read(q.hybrid(clause), params)
        hits = [Hit(chunk=row_chunk(r[5:]), score=float(r[1]), source="hybrid") for r in rows if r[0] and r[0] <= k]
        return HybridResult(
            hits=hits,
            keyword_scores={r[4]: float(r[2]) for r in rows if r[2] is not None},
            dense_scores={r[4]: float(r[3]) for r in rows if r[3] is not None},
        )

    # -- information ------------------------------------------------------

    def stats(self) -> StoreStats:
        documents, chunks, space, dim, size = self._primary(q.STATS)[0]
        empty = not chunks
        return StoreStats(documents=int(documents), chunks=int(chunks), space=None if empty else space,
                          dim=None if empty else int(dim), size_bytes=int(size))  # fmt: skip

    def document_versions(self) -> dict[str, str]:
        return dict(self._primary("SELECT doc_id, version FROM documents"))

    def export_documents(self) -> Iterator[tuple[str, list[Chunk], np.ndarray]]:
        """Every document, streamed from one snapshot in doc_id order, vectors exactly as stored."""
        sql = f"SELECT {q.CHUNK_COLUMNS}, c.embedding FROM chunks c ORDER BY c.doc_id, c.ordinal"
        with self._pool.connection() as conn, conn.transaction(), conn.cursor(name="dayshift_export") as cursor:
            cursor.itersize = 2000
            cursor.execute(sql)
            doc_id, chunks, vectors = None, [], []
            for row in cursor:
                if row[1] != doc_id and chunks:
                    yield doc_id, chunks, np.stack(vectors).astype(np.float32)  # type: ignore[misc]
                    chunks, vectors = [], []
                doc_id = row[1]
                chunks.append(row_chunk(row[:-1]))
                vectors.append(_as_array(row[-1]))
            if chunks:
                yield doc_id, chunks, np.stack(vectors).astype(np.float32)  # type: ignore[misc]

    def close(self) -> None:
        self._pool.close()
        if self._read_pool is not self._pool:
            self._read_pool.close()

    # -- connections ------------------------------------------------------

    def _set_up(self) -> str:
        """Create the extension, schema and tables if missing; refuse another vector space. -> search_path"""
        from dayshift.store.postgres.bulk import set_up_schema

        try:
            with self._psycopg.connect(self.url, connect_timeout=max(1, int(self._timeout_s))) as conn:
                return set_up_schema(conn, schema=self.schema, space=self.space, dim=self.dim, where=self._where,
                                     hnsw=self.hnsw)  # fmt: skip
        except self._psycopg.OperationalError as exc:
            raise StoreError(f"cannot connect to Postgres at {self._where}: {_first_line(exc)}; check store.url "
                             "(DAYSHIFT_STORE__URL) and that the server is running") from exc  # fmt: skip
        except self._psycopg.Error as exc:
            raise StoreError(f"cannot set up schema {self.schema} at {self._where}: {_first_line(exc)}; the role "
                             "needs CREATE on the database (or an administrator creates the schema)") from exc  # fmt: skip

    def _open_pool(self, pool_module: Any, url: str, size: int) -> Any:
        from pgvector.psycopg import register_vector

        def configure(conn: Any) -> None:
            register_vector(conn)
            conn.execute(f"SET search_path TO {self._search_path}")
            conn.execute(f"SET hnsw.ef_search = {self._ef_search}")
            conn.execute("SET hnsw.iterative_scan = strict_order")
            conn.execute("SELECT set_config('work_mem', %s, false)", [self._work_mem])
            conn.commit()

        pool = pool_module.ConnectionPool(url, min_size=1, max_size=max(1, size), configure=configure, open=False,
                                          kwargs={"connect_timeout": max(1, int(self._timeout_s))},
                                          name=f"dayshift-{self.namespace}")  # fmt: skip
        try:
            pool.open(wait=True, timeout=self._timeout_s)
        except (pool_module.PoolTimeout, self._psycopg.Error) as exc:
            pool.close()
            raise StoreError(f"cannot connect to Postgres at {_describe_url(url)}: {_first_line(exc)}; "
                             "check store.url and store.read_url") from exc  # fmt: skip
        return pool

    @contextmanager
    def _writing(self) -> Iterator[Any]:
        errors = self._psycopg.errors
        try:
            with self._pool.connection() as conn, conn.transaction():
                yield conn
        except errors.UniqueViolation as exc:
            raise StoreError(f"a chunk id already belongs to another document ({_first_line(exc)}); "
                             "document ids must be unique") from exc  # fmt: skip
        except self._psycopg.DataError as exc:
            raise StoreError(f"Postgres refused a chunk: {_first_line(exc)}") from exc
        except self._psycopg.Error as exc:
            raise StoreError(f"cannot write to Postgres at {self._where}: {_first_line(exc)}") from exc

    def _read(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        return self._fetch(self._read_pool, sql, params)

    def _primary(self, sql: str) -> list[tuple[Any, ...]]:
        return self._fetch(self._pool, sql, {})

    def _fetch(self, pool: Any, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        try:
            with pool.connection() as conn:
                return conn.execute(sql, params or None).fetchall()  # type: ignore[no-any-return]
        except self._psycopg.Error as exc:
            raise StoreError(f"cannot search Postgres at {self._where}: {_first_line(exc)}") from exc


# -- rows ------------------------------------------------------------------------------------


def row_chunk(row: Sequence[Any]) -> Chunk:
    chunk_id, doc_id, version, source, title, text, section, page, start, end, ordinal, at, meta = row
    return Chunk(chunk_id=chunk_id, doc_id=doc_id, doc_version=version, source=source, title=title, text=text,
                 section=tuple(section), page=page, char_start=start, char_end=end, ordinal=ordinal,
                 ingested_at=at, metadata=meta)  # fmt: skip


def _query_terms(terms: Sequence[str]) -> dict[str, list[Any]]:
    counts = Counter(terms)  # a repeated query term counts again
    return {"terms": list(counts), "counts": list(counts.values())}


def _as_array(value: Any) -> np.ndarray:
    return value.to_numpy() if hasattr(value, "to_numpy") else np.asarray(value, dtype=np.float32)


# -- URLs and drivers -----------------------------------------------------------------------


def _drivers() -> tuple[Any, Any]:
    try:
        import pgvector.psycopg  # noqa: F401
        import psycopg
        import psycopg_pool
    except ImportError as exc:
        raise PluginError(f'the postgres store needs {exc.name}: pip install "dayshift[postgres]"') from exc
    return psycopg, psycopg_pool
