"""The ingest catalog: which files were seen, which documents they gave, and what happened.

    <data_dir>/catalog.sqlite
      sources    one row per file: root, size, mtime, content hash, status, last error
      documents  one row per document: its source, version, status (indexed | duplicate),
                 duplicate_of, dedup fingerprint and MinHash signature
      runs       one row per ingest run: when, and the report's counts

The store holds what is searchable; the catalog holds what sync needs to
decide what changed, and names the index's version: its last finished sync
run that added, updated or deleted anything ("sync-42@2025-03-21T09:00:05Z").
Sync writes a document to the store first and to the catalog second, so a
crash between the two only makes the next run redo (from the embedding
cache) work that was already done, never skip any.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dayshift.migrations import baseline, migrate_sqlite
from dayshift.sqlite import open_database

SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    path TEXT PRIMARY KEY,          -- source name, e.g. "docs/guide.md"
    root TEXT NOT NULL,             -- absolute path of the ingested root
    size INTEGER, mtime_ns INTEGER, file_hash TEXT,
    status TEXT NOT NULL,           -- ok | failed
    error_kind TEXT, error_reason TEXT, error_fix TEXT,
    synced_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    version TEXT NOT NULL,
    status TEXT NOT NULL,           -- indexed | duplicate
    duplicate_of TEXT,
    fingerprint TEXT NOT NULL,
    signature BLOB,
    chunks INTEGER NOT NULL,
    synced_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_source ON documents (source);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    root TEXT NOT NULL, started_at REAL NOT NULL, finished_at REAL, counts TEXT
);
"""


@dataclass(frozen=True, slots=True)
class SourceRecord:
    path: str
    root: str
    size: int | None
    mtime_ns: int | None
    file_hash: str | None
    status: str
    error_kind: str | None
    error_reason: str | None
    error_fix: str | None


@dataclass(frozen=True, slots=True)
class DocumentRecord:
    doc_id: str
    source: str
    version: str
    status: str
    duplicate_of: str | None
    fingerprint: str
    signature: bytes | None
    chunks: int

MIGRATIONS = baseline(SCHEMA)  # dayshift.migrations: append, never edit


class Catalog:
    def __init__(self, path: Path) -> None:
        self._db = open_database(path)
        migrate_sqlite(self._db, "catalog", MIGRATIONS, where=str(path))
        self._version_lock = threading.Lock()
        self._version: tuple[tuple[int, int], str] | None = None  # ((data_version, total_changes), version)

    # -- sources ----------------------------------------------------------

    def source(self, path: str) -> SourceRecord | None:
        row = self._db.execute(f"SELECT {_SOURCE_COLUMNS} FROM sources WHERE path = ?", (path,)).fetchone()
        return SourceRecord(*row) if row else None

    def sources(self, *, root: str | None = None) -> list[SourceRecord]:
        sql, params = f"SELECT {_SOURCE_COLUMNS} FROM sources", ()
        if root is not None:
            sql, params = sql + " WHERE root = ?", (root,)
        return [SourceRecord(*row) for row in self._db.execute(sql + " ORDER BY path", params)]

    def put_source(self, record: SourceRecord) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO sources ({_SOURCE_COLUMNS}, synced_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*_values(record), time.time()),
        )

    def delete_source(self, path: str) -> None:
        self._db.execute("DELETE FROM sources WHERE path = ?", (path,))

    # -- documents --------------------------------------------------------

    def documents(self, *, source: str | None = None, status: str | None = None) -> list[DocumentRecord]:
        clauses, params = [], []
        if source is not None:
            clauses.append("source = ?")
            params.append(source)
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._db.execute(f"SELECT {_DOC_COLUMNS} FROM documents{where}", params)
        return [DocumentRecord(*row) for row in rows]

    def put_document(self, record: DocumentRecord) -> None:
        self._db.execute(
            f"INSERT OR REPLACE INTO documents ({_DOC_COLUMNS}, synced_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*_values(record), time.time()),
        )

    def delete_documents(self, doc_ids: Iterable[str]) -> None:
        self._db.executemany("DELETE FROM documents WHERE doc_id = ?", [(d,) for d in doc_ids])

    # -- runs -------------------------------------------------------------

    def start_run(self, root: str) -> int:
        cur = self._db.execute("INSERT INTO runs (root, started_at) VALUES (?, ?)", (root, time.time()))
        return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, counts: dict[str, int]) -> None:
        self._db.execute(
            "UPDATE runs SET finished_at = ?, counts = ? WHERE id = ?", (time.time(), json.dumps(counts), run_id)
        )

    def last_run(self) -> tuple[str, float, float | None, dict[str, int]] | None:
        runs = self.runs(limit=1)
        return runs[0] if runs else None

    def runs(self, *, limit: int = 10) -> list[tuple[str, float, float | None, dict[str, int]]]:
        """The latest sync runs, newest first: (root, started_at, finished_at, counts)."""
        rows = self._db.execute(
            "SELECT root, started_at, finished_at, counts FROM runs ORDER BY id DESC LIMIT ?", (limit,)
        ).fetchall()
        return [(r[0], r[1], r[2], json.loads(r[3]) if r[3] else {}) for r in rows]

    def index_version(self) -> str:
        """The index's version: "sync-<run id>@<finished, UTC>" of the last finished run that changed it
        ("empty" before any). Cheap enough for every request: it is read again only after a commit to the
        catalog, by this connection (total_changes) or another one, another process's included (data_version).
        A run still going, or one that crashed, does not count: the version changes when a sync is done.
        """
        with self._version_lock:
            stamp = (self._db.execute("PRAGMA data_version").fetchone()[0], self._db.total_changes)
            if self._version is None or self._version[0] != stamp:
                self._version = (stamp, self._last_change())
            return self._version[1]

    def _last_change(self) -> str:
        row = self._db.execute(
            "SELECT id, finished_at FROM runs WHERE finished_at IS NOT NULL AND "
            "coalesce(json_extract(counts, '$.added'), 0) + coalesce(json_extract(counts, '$.updated'), 0) "
            "+ coalesce(json_extract(counts, '$.deleted'), 0) > 0 ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return "empty"
        return f"sync-{row[0]}@{datetime.fromtimestamp(row[1], UTC):%Y-%m-%dT%H:%M:%SZ}"

    def versions_indexed(self) -> int:
        """Document versions written over the whole history: every add and every update."""
        total = 0
        for (counts,) in self._db.execute("SELECT counts FROM runs WHERE counts IS NOT NULL"):
            c = json.loads(counts)
            total += int(c.get("added", 0)) + int(c.get("updated", 0))
        return total

    def close(self) -> None:
        self._db.close()


_SOURCE_COLUMNS = "path, root, size, mtime_ns, file_hash, status, error_kind, error_reason, error_fix"
_DOC_COLUMNS = "doc_id, source, version, status, duplicate_of, fingerprint, signature, chunks"


def _values(record: SourceRecord | DocumentRecord) -> tuple[object, ...]:
    return tuple(getattr(record, name) for name in record.__slots__)  # type: ignore[union-attr]
