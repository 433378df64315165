"""The ingest catalog interface: what sync needs to remember between runs.

    SourceCatalog    one row per file: size, mtime, hash, status, the last error
    DocumentCatalog  one row per document: version, indexed | duplicate, dedup fingerprint
    RunLog           one row per sync run: its root, start, finish and the report's counts
    CatalogInfo      what `dayshift status` and the service read: last run, versions, index version

Two implementations, chosen by `dayshift.assemble.open_catalog`: `ingest.catalog.Catalog`
(catalog.sqlite in the data folder, the default) and `ingest.catalog_postgres.PostgresCatalog`
(tables in the namespace's schema when `database.url` is set). Both pass
`dayshift.testing.catalog_contract`, which pins the orders callers see: sources by path (byte
order), documents in the order they were last written, runs newest first.

Every method commits before it returns: sync writes the store first and the catalog second, so
a crash between the two leaves a row missing, which the next run notices and redoes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from dayshift.ingest.catalog import DocumentRecord, SourceRecord

Run = tuple[str, float, float | None, dict[str, int]]  # (root, started_at, finished_at, counts)


class SourceCatalog(Protocol):
    def source(self, path: str) -> SourceRecord | None: ...

    def sources(self, *, root: str | None = None) -> list[SourceRecord]:
        """Every file's row (of one root), ordered by path."""
        ...

    def put_source(self, record: SourceRecord) -> None: ...

    def delete_source(self, path: str) -> None: ...


class DocumentCatalog(Protocol):
    def documents(self, *, source: str | None = None, status: str | None = None) -> list[DocumentRecord]:
        """Matching documents, in the order they were last written."""
        ...

    def put_document(self, record: DocumentRecord) -> None: ...

    def delete_documents(self, doc_ids: Iterable[str]) -> None: ...


class RunLog(Protocol):
    def start_run(self, root: str) -> int:
        """A new run's id; ids grow with every run."""
        ...

    def finish_run(self, run_id: int, counts: dict[str, int]) -> None: ...

    def runs(self, *, limit: int = 10) -> list[Run]:
        """The latest runs, newest first."""
        ...


class CatalogInfo(Protocol):
    def last_run(self) -> Run | None: ...

    def versions_indexed(self) -> int:
        """Document versions written over the whole history: every add and every update."""
        ...

    def index_version(self) -> str:
        """"sync-<run id>@<finished, UTC>" of the last finished run that changed the index; "empty" before one."""
        ...


class IngestCatalog(SourceCatalog, DocumentCatalog, RunLog, CatalogInfo, Protocol):
    def close(self) -> None: ...
