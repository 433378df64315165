"""Setting up a Postgres store's schema, and loading a large corpus into it fast.

    set_up_schema     extension, schema, tables; refuses a schema made for another vector space
    bulk_load         COPY in batches (one transaction each), the keyword and HNSW indexes
                      dropped meanwhile and built once at the end
    build_dense_index CREATE INDEX ... USING hnsw, with maintenance_work_mem and parallel workers

A bulk load keeps every invariant of `replace_document`: a document already
stored is replaced within the batch that brings it, and the BM25 statistics
(document frequencies, N, total length) change in the same transaction as the
rows. While an index is missing, searches scan: slower, never wrong. The keyword
index comes back by itself when a store opens (the schema set-up creates what is
missing); the HNSW index only by `build_dense_index()`, as it can take minutes.
Left out: parallel COPY from several connections.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from dayshift.errors import StoreError
from dayshift.store.base import checked_vectors
from dayshift.store.postgres import sql as q
from dayshift.store.postgres.rows import chunk_rows
from dayshift.types import Chunk

if TYPE_CHECKING:
    from dayshift.store.postgres.store import PostgresStore

MIN_PGVECTOR = (0, 8)  # iterative index scans (filters under HNSW)
_COPY_TYPES = ["int8", "text", "text", "text", "text", "text", "text", "jsonb", "int4", "int4", "int4", "int4",
               "float8", "jsonb", "int4", "vector"]  # fmt: skip


def set_up_schema(conn: Any, *, schema: str, space: str, dim: int, where: str, hnsw: dict[str, int]) -> str:
    """Make the namespace's schema ready (idempotent, safe against concurrent openers) -> its search_path."""
    from psycopg import sql

    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"dayshift:{schema}"])
        extension = _vector_extension(conn, where=where)
        search_path = sql.SQL("{}, {}").format(sql.Identifier(schema), sql.Identifier(extension)).as_string(conn)
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(f"SET LOCAL search_path TO {search_path}")
        conn.execute(q.schema_ddl(dim))
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        if not meta:
            conn.execute("INSERT INTO meta (key, value) VALUES ('space', %s), ('dim', %s)", [space, str(dim)])
            conn.execute(q.dense_index_ddl(**hnsw))
        elif meta.get("space") != space or meta.get("dim") != str(dim):
            raise StoreError(
                f"the Postgres schema {schema} at {where} holds vectors of {meta.get('space')} ({meta.get('dim')} "
                f"dims), not {space}; set the embedder it was built with, or use another namespace "
                "(DAYSHIFT_STORE__NAMESPACE) and re-ingest"
            )
    return search_path


def _vector_extension(conn: Any, *, where: str) -> str:
    """The schema of the `vector` extension, created here when it is missing and we may."""
    from psycopg import Error

    found = conn.execute("SELECT extnamespace::regnamespace::text, extversion FROM pg_extension "
                         "WHERE extname = 'vector'").fetchone()  # fmt: skip
    if found is None:
        try:
            with conn.transaction():
                conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except Error as exc:
            raise StoreError(
                f"the database at {where} has no pgvector and this role cannot add it ({exc.sqlstate}): "
                "ask its administrator to install pgvector 0.8 or later and run CREATE EXTENSION vector"
            ) from exc
        return _vector_extension(conn, where=where)
    schema, version = found
    if tuple(int(p) for p in re.findall(r"\d+", version)[:2]) < MIN_PGVECTOR:
        raise StoreError(f"pgvector {version} at {where} is too old (0.8 or later filters under HNSW): "
                         "install a newer pgvector, then run ALTER EXTENSION vector UPDATE")  # fmt: skip
    return str(schema).strip('"')


def bulk_load(
    store: PostgresStore,
    documents: Iterable[tuple[Sequence[Chunk], np.ndarray]],
    *,
    batch_chunks: int = 20_000,
    rebuild_indexes: bool = True,
    build_index: bool = True,
    maintenance_work_mem: str | None = None,
    workers: int | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """COPY `documents` (each: its chunks and their vectors) into the store -> chunks loaded.

    With `rebuild_indexes` (for a first load, or one that dwarfs what is stored) the
    keyword index on postings and the HNSW index are dropped first: each is then
    built once, sorted, far faster than growing it row by row. The HNSW index is
    built at the end with `build_index`, else left to `build_dense_index()`. The
    tables are vacuumed and analysed, so BM25 reads its postings from the index alone.
    """
    if rebuild_indexes:
        with store._writing() as conn:
            conn.execute("DROP INDEX IF EXISTS chunks_embedding")
            conn.execute("DROP INDEX IF EXISTS postings_term")
    loaded, chunks, vectors = 0, [], []
    for doc_chunks, doc_vectors in documents:
        if not doc_chunks:
            continue
        doc_vectors = checked_vectors(doc_chunks[0].doc_id, doc_chunks, doc_vectors, dim=store.dim, space=store.space)
        chunks.extend(doc_chunks)
        vectors.append(doc_vectors)
        if len(chunks) >= batch_chunks:
            loaded += _copy_batch(store, chunks, np.concatenate(vectors), on_batch)
            chunks, vectors = [], []
    if chunks:
        loaded += _copy_batch(store, chunks, np.concatenate(vectors), on_batch)
    with store._writing() as conn:
        _maintenance(conn, maintenance_work_mem=maintenance_work_mem, workers=workers)
        conn.execute(q.KEYWORD_INDEX)
    vacuum_analyze(store)
    if build_index:
        build_dense_index(store, maintenance_work_mem=maintenance_work_mem, workers=workers)
    return loaded


def _copy_batch(store: PostgresStore, chunks: list[Chunk], vectors: np.ndarray,
                on_batch: Callable[[int], None] | None) -> int:  # fmt: skip
    rows = chunk_rows(chunks, vectors)
    names = list(rows.columns)
    with store._writing() as conn:
        conn.execute(q.LOCK_WRITERS)
        conn.execute(q.DELETE_DOCUMENTS, {"doc_ids": sorted(rows.documents)})
        ids = [r[0] for r in conn.execute("SELECT nextval(pg_get_serial_sequence('chunks', 'id')) "
                                          "FROM generate_series(1, %s)", [len(chunks)])]  # fmt: skip
        with conn.cursor().copy(f"COPY chunks (id, {', '.join(names)}) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(_COPY_TYPES)
            for row_id, row in zip(ids, zip(*rows.columns.values())):
                copy.write_row((row_id, *row))
        row_of = dict(zip(rows.columns["chunk_id"], zip(ids, rows.columns["length"])))
        # Analysed terms are letters and digits only: nothing to escape in COPY's text format.
        lines = "".join(
            f"{term}\t{row_of[chunk_id][0]}\t{tf}\t{row_of[chunk_id][1]}\n"
            for chunk_id, term, tf in zip(*rows.postings.values())
        )
        with conn.cursor().copy("COPY postings (term, chunk, tf, length) FROM STDIN") as copy:
            copy.write(lines)
        terms = sorted(rows.df)
        conn.execute(q.ADD_TERMS, {"term": terms, "df": [rows.df[t] for t in terms]})
        docs = sorted(rows.documents)
        conn.execute(q.ADD_DOCUMENTS, {"doc_id": docs, "version": [rows.documents[d][0] for d in docs],
                                       "chunks": [rows.documents[d][1] for d in docs]})  # fmt: skip
        conn.execute(q.ADD_TOTALS, {"chunks": len(chunks), "length": sum(rows.columns["length"])})
    if on_batch is not None:
        on_batch(len(chunks))
    return len(chunks)


def build_dense_index(store: PostgresStore, *, maintenance_work_mem: str | None = None,
                      workers: int | None = None) -> None:  # fmt: skip
    """CREATE INDEX (HNSW) if missing. Searches go on meanwhile (exactly); writes wait for it."""
    with store._writing() as conn:
        _maintenance(conn, maintenance_work_mem=maintenance_work_mem, workers=workers)
        conn.execute(q.dense_index_ddl(**store.hnsw))


def _maintenance(conn: Any, *, maintenance_work_mem: str | None, workers: int | None) -> None:
    """Settings for this transaction's index builds (the HNSW graph builds fastest when it fits in memory)."""
    if maintenance_work_mem:
        conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", [maintenance_work_mem])
    if workers is not None:
        conn.execute("SELECT set_config('max_parallel_maintenance_workers', %s, true)", [str(workers)])


def vacuum_analyze(store: PostgresStore) -> None:
    """VACUUM (ANALYZE) the store's tables: fresh planner statistics, and index-only BM25 scans."""
    import psycopg

    with psycopg.connect(store.url, autocommit=True) as conn:
        conn.execute(f"SET search_path TO {store._search_path}")
        conn.execute("VACUUM (ANALYZE) chunks, postings, terms, documents, collection")
