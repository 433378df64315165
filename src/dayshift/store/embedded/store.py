"""The embedded store: one SQLite file (WAL) plus an in-memory dense index.

    <data_dir>/index.sqlite   chunks, vectors, keyword terms, change log
    <data_dir>/dense.hnsw     saved HNSW graph for large collections (derived)

SQLite is the source of truth. A document's chunks are replaced in one
transaction, so a reader never sees half of a document, and WAL mode lets
other processes search while an ingest writes. Keyword search is BM25
over terms that dayshift analyses itself (dayshift.analysis), served from an
in-memory index (store.embedded.keyword); dense search is exact, or HNSW above
`hnsw_min_rows` (store.embedded.dense). Both are loaded from the file and each search
first applies the change log, so a new or deleted chunk is visible to
every process as soon as its transaction commits.

An index whose terms another version of dayshift.analysis wrote has them
analysed again when it is opened (one transaction; change-log op "terms").

The choice and its measurements: docs/decisions/0002-embedded-store.md.
Left out: multiple writers at once (SQLite serialises them; a second ingest
waits up to `busy_timeout_s`).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from dayshift.analysis import VERSION as ANALYSIS_VERSION
from dayshift.analysis import analyze
from dayshift.errors import StoreError
from dayshift.migrations import baseline, migrate_sqlite
from dayshift.sqlite import open_database
from dayshift.store.base import StoreStats, checked_vectors
from dayshift.store.embedded.dense import HNSW_EF_SEARCH, DenseIndex
from dayshift.store.embedded.filters import compile_where
from dayshift.store.embedded.keyword import KeywordIndex
from dayshift.types import Chunk, Condition, Hit

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chunk_id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL,
    doc_version TEXT NOT NULL,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    section TEXT NOT NULL,          -- JSON array of headings
    page INTEGER,
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    ordinal INTEGER NOT NULL,
    ingested_at REAL NOT NULL,
    metadata TEXT NOT NULL,         -- JSON object
    terms TEXT NOT NULL,            -- analysed keyword terms, space-separated
    vector BLOB NOT NULL            -- float32 little-endian, unit length
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks (doc_id);
CREATE INDEX IF NOT EXISTS chunks_source ON chunks (source);
CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, op TEXT NOT NULL, chunk INTEGER NOT NULL);
"""
MIGRATIONS = baseline(SCHEMA)  # dayshift.migrations: append, never edit
_CHUNK_COLUMNS = (
    "id, chunk_id, doc_id, doc_version, source, title, text, section, page, "
    "char_start, char_end, ordinal, ingested_at, metadata"
)


class EmbeddedStore:
    """Zero-setup store under the data directory."""

    def __init__(
        self,
        *,
        data_dir: Path,
        space: str,
        dim: int,
        hnsw_min_rows: int = 50_000,
        hnsw_ef_search: int | None = None,
        busy_timeout_s: float = 60.0,
        **_: object,
    ) -> None:
        self.space, self.dim = space, dim
        self.path = Path(data_dir) / "index.sqlite"
        self._hnsw_path = Path(data_dir) / "dense.hnsw"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = open_database(self.path, busy_timeout_s=busy_timeout_s)
            migrate_sqlite(self._db, "index", MIGRATIONS, where=str(self.path))
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the index at {self.path}: {exc}; move it aside and re-ingest") from exc
        self._check_space()
        self._check_analysis()
        self._dense: DenseIndex | None = None
        self._keyword: KeywordIndex | None = None
        self._seq = 0  # last change-log entry applied to the in-memory indexes
        self._hnsw_min_rows = hnsw_min_rows
        self._ef_search = hnsw_ef_search or HNSW_EF_SEARCH
        self._allowed_cache: dict[tuple[str, tuple[object, ...]], tuple[int, np.ndarray]] = {}

    # -- writing ----------------------------------------------------------

    def replace_document(self, doc_id: str, chunks: Sequence[Chunk], vectors: np.ndarray) -> None:
        vectors = checked_vectors(doc_id, chunks, vectors, dim=self.dim, space=self.space)
        rows = [_chunk_row(c, v) for c, v in zip(chunks, vectors)]
        with self._lock, self._transaction() as db:
            self._delete_ids(db, [r[0] for r in db.execute("SELECT id FROM chunks WHERE doc_id = ?", (doc_id,))])
            for row in rows:
                cur = _insert_chunk(db, row)
                db.execute("INSERT INTO changes (op, chunk) VALUES ('add', ?)", (cur.lastrowid,))

    def delete_documents(self, doc_ids: Sequence[str]) -> int:
        removed = 0
        with self._lock, self._transaction() as db:
            for doc_id in doc_ids:
                ids = [r[0] for r in db.execute("SELECT id FROM chunks WHERE doc_id = ?", (doc_id,))]
                self._delete_ids(db, ids)
                removed += len(ids)
        return removed

    def _delete_ids(self, db: sqlite3.Connection, ids: list[int]) -> None:
        for chunk in ids:
            db.execute("DELETE FROM chunks WHERE id = ?", (chunk,))
            db.execute("INSERT INTO changes (op, chunk) VALUES ('del', ?)", (chunk,))

    def flush(self) -> None:
        """Persist derived state (the HNSW graph) after a batch of writes; below `hnsw_min_rows`
        there is none, and the in-memory indexes are left to load on the first search."""
        with self._lock:
            if self._dense is None and self._count_rows() < self._hnsw_min_rows:
                return
            dense, _ = self._indexes()
            if len(dense) >= self._hnsw_min_rows:
                if not dense.has_hnsw:
                    dense.build_hnsw()
                dense.save_hnsw(self._hnsw_path)

    def _count_rows(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    # -- searching --------------------------------------------------------

    def keyword_search(self, terms: Sequence[str], *, k: int, where: Sequence[Condition] = ()) -> list[Hit]:
        with self._lock, self._snapshot():
            _, keyword = self._indexes()
            ids, scores = keyword.search(terms, k=k, allowed=self._allowed(where))
            return self._hits(list(zip(ids.tolist(), scores.tolist())), source="keyword")

    def dense_search(self, vector: np.ndarray, *, k: int, where: Sequence[Condition] = ()) -> list[Hit]:
        with self._lock, self._snapshot():
            dense, _ = self._indexes()
            ids, scores = dense.search(np.asarray(vector, dtype=np.float32), k=k, allowed=self._allowed(where))
            return self._hits(list(zip(ids.tolist(), scores.tolist())), source="dense")

    def _allowed(self, where: Sequence[Condition]) -> np.ndarray | None:
        if not where:
            return None
        clause, params = compile_where(where)
        key = (clause, tuple((type(p).__name__, p) for p in params))
        cached = self._allowed_cache.get(key)
        if cached is not None and cached[0] == self._seq:  # nothing written since: the same rows
            return cached[1]
        ids = np.array([r[0] for r in self._db.execute(f"SELECT id FROM chunks c WHERE {clause}", params)],
                       dtype=np.int64)  # fmt: skip
        if len(self._allowed_cache) >= 64:
            self._allowed_cache.pop(next(iter(self._allowed_cache)))
        self._allowed_cache[key] = (self._seq, ids)
        return ids

    def _hits(self, ranked: list[tuple[int, float]], *, source: str) -> list[Hit]:
        if not ranked:
            return []
        marks = ",".join("?" * len(ranked))
        with self._lock:
            rows = self._db.execute(f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE id IN ({marks})", [r for r, _ in ranked])
            by_id = {row[0]: _row_chunk(row) for row in rows}
        # A chunk deleted since the dense index was read is simply absent here.
        return [Hit(chunk=by_id[r], score=float(s), source=source) for r, s in ranked if r in by_id]  # type: ignore[arg-type]

    def _indexes(self) -> tuple[DenseIndex, KeywordIndex]:
        """The in-memory indexes, brought up to date with the change log."""
        if self._dense is None or self._keyword is None:
            self._dense = DenseIndex(self.dim, hnsw_min_rows=self._hnsw_min_rows, ef_search=self._ef_search)
            self._keyword = KeywordIndex()
            self._seq = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0]
            self._load_rows(self._db.execute("SELECT id, terms, vector FROM chunks"))
            if len(self._dense) >= self._hnsw_min_rows:
                self._dense.load_hnsw(self._hnsw_path)
            return self._dense, self._keyword
        changes = self._db.execute("SELECT seq, op, chunk FROM changes WHERE seq > ? ORDER BY seq", (self._seq,))
        added: list[int] = []
        reanalysed: list[int] = []
        for seq, op, chunk in changes.fetchall():
            self._seq = seq
            if op == "del":
                self._dense.remove(np.array([chunk]))
                self._keyword.remove([chunk])
            elif op == "terms":
                reanalysed.append(chunk)
            else:
                added.append(chunk)
        if added:
            marks = ",".join("?" * len(added))
            self._load_rows(self._db.execute(f"SELECT id, terms, vector FROM chunks WHERE id IN ({marks})", added))
        if reanalysed:
            marks = ",".join("?" * len(reanalysed))
            rows = self._db.execute(f"SELECT id, terms FROM chunks WHERE id IN ({marks})", reanalysed).fetchall()
            self._keyword.add([r[0] for r in rows], [r[1].split() for r in rows])
        return self._dense, self._keyword

    def _load_rows(self, rows: Iterable[tuple[int, str, bytes]]) -> None:
        assert self._dense is not None and self._keyword is not None
        batch = list(rows)
        if batch:
            ids = np.array([r[0] for r in batch], dtype=np.int64)
            vectors = np.frombuffer(b"".join(r[2] for r in batch), dtype=np.float32).reshape(len(batch), self.dim)
            self._dense.add(ids, vectors)
            self._keyword.add(ids.tolist(), [r[1].split() for r in batch])

    # -- information ------------------------------------------------------

    def stats(self) -> StoreStats:
        with self._lock:
            docs, chunks = self._db.execute("SELECT COUNT(DISTINCT doc_id), COUNT(*) FROM chunks").fetchone()
            meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        size = sum(p.stat().st_size for p in self.path.parent.glob("index.sqlite*")) + (
            self._hnsw_path.stat().st_size if self._hnsw_path.exists() else 0
        )
        dim = int(meta["dim"]) if chunks and "dim" in meta else None
        space = meta.get("space") if chunks else None
        return StoreStats(documents=docs, chunks=chunks, space=space, dim=dim, size_bytes=size)

    def document_versions(self) -> dict[str, str]:
        with self._lock:
            return dict(self._db.execute("SELECT doc_id, MIN(doc_version) FROM chunks GROUP BY doc_id").fetchall())

    def export_documents(self) -> Iterator[tuple[str, list[Chunk], np.ndarray]]:
        doc_ids = [r[0] for r in self._db.execute("SELECT DISTINCT doc_id FROM chunks ORDER BY doc_id")]
        for doc_id in doc_ids:
            with self._lock:
                rows = self._db.execute(
                    f"SELECT {_CHUNK_COLUMNS}, vector FROM chunks WHERE doc_id = ? ORDER BY ordinal", (doc_id,)
                ).fetchall()
            if rows:  # deleted meanwhile: skipped
                vectors = np.frombuffer(b"".join(r[-1] for r in rows), dtype="<f4").reshape(len(rows), self.dim)
                yield doc_id, [_row_chunk(r[:-1]) for r in rows], vectors.astype(np.float32)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- internals --------------------------------------------------------

    def _check_space(self) -> None:
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if not meta:
            self._db.executemany(
                "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)",
                [("space", self.space), ("dim", str(self.dim)), ("analysis", ANALYSIS_VERSION)],
            )
        elif meta.get("space") != self.space or meta.get("dim") != str(self.dim):
            raise StoreError(
                f"the index at {self.path} holds vectors of {meta.get('space')} ({meta.get('dim')} dims), "
                f"not {self.space}; set the embedder it was built with, or use a new DAYSHIFT_DATA_DIR and re-ingest"
            )

    def _check_analysis(self) -> None:
        """Analyse the keyword terms again if another version of dayshift.analysis wrote them."""
        query = "SELECT value FROM meta WHERE key = 'analysis'"
        if (self._db.execute(query).fetchone() or [None])[0] == ANALYSIS_VERSION:
            return
        with self._lock, self._transaction() as db:
            stored = (db.execute(query).fetchone() or ["1"])[0]  # indexes before the key was written: 1
            if stored == ANALYSIS_VERSION:  # another process did it meanwhile
                return
            rows = db.execute(f"SELECT {_CHUNK_COLUMNS} FROM chunks").fetchall()
            if rows:
                log.info("analysing the keyword terms of %d chunks again (text analysis %s, was %s)",
                         len(rows), ANALYSIS_VERSION, stored)  # fmt: skip
            for row in rows:
                terms = " ".join(analyze(_row_chunk(row).indexed_text))
                db.execute("UPDATE chunks SET terms = ? WHERE id = ?", (terms, row[0]))
                db.execute("INSERT INTO changes (op, chunk) VALUES ('terms', ?)", (row[0],))
            db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('analysis', ?)", (ANALYSIS_VERSION,))

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db, "BEGIN IMMEDIATE")

    def _snapshot(self) -> _Transaction:
        """One read snapshot for a whole search: the change log and the rows agree."""
        return _Transaction(self._db, "BEGIN")


class _Transaction:
    """BEGIN ... COMMIT, rolled back on any exception."""

    def __init__(self, db: sqlite3.Connection, begin: str) -> None:
        self._db, self._begin = db, begin

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute(self._begin)
        return self._db

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")


def _insert_chunk(db: sqlite3.Connection, row: tuple[object, ...]) -> sqlite3.Cursor:
    try:
        return db.execute(
            "INSERT INTO chunks (chunk_id, doc_id, doc_version, source, title, text, section, page, "
            "char_start, char_end, ordinal, ingested_at, metadata, terms, vector) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )
    except sqlite3.IntegrityError as exc:
        raise StoreError(
            f'chunk id "{row[0]}" already belongs to another document; document ids must be unique'
        ) from exc


def _chunk_row(chunk: Chunk, vector: np.ndarray) -> tuple[object, ...]:
    return (
        chunk.chunk_id,
        chunk.doc_id,
        chunk.doc_version,
        chunk.source,
        chunk.title,
        chunk.text,
        json.dumps(list(chunk.section), ensure_ascii=False),
        chunk.page,
        chunk.char_start,
        chunk.char_end,
        chunk.ordinal,
        chunk.ingested_at,
        json.dumps(chunk.metadata, ensure_ascii=False, sort_keys=True),
        " ".join(analyze(chunk.indexed_text)),
        np.ascontiguousarray(vector, dtype="<f4").tobytes(),
    )


def _row_chunk(row: tuple[object, ...]) -> Chunk:
    _, chunk_id, doc_id, version, source, title, text, section, page, start, end, ordinal, at, meta = row
    return Chunk(
        chunk_id=str(chunk_id),
        doc_id=str(doc_id),
        doc_version=str(version),
        source=str(source),
        title=str(title),
        text=str(text),
        section=tuple(json.loads(str(section))),
        page=page if isinstance(page, int) else None,
        char_start=int(start),  # type: ignore[call-overload]
        char_end=int(end),  # type: ignore[call-overload]
        ordinal=int(ordinal),  # type: ignore[call-overload]
        ingested_at=float(at),  # type: ignore[arg-type]
        metadata=json.loads(str(meta)),
    )
