"""The Postgres store: chunks, BM25 postings and pgvector vectors in one schema per namespace.

    store.py    PostgresStore: connections, writes, searches
    sql.py      its tables and queries (BM25 in SQL, dense, hybrid in one statement)
    bulk.py     schema set-up, COPY bulk loads, the HNSW build
    filters.py  filter Conditions compiled to Postgres, as SQLite reads them (embedded/filters.py)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dayshift.store.postgres.store import PostgresStore

__all__ = ["PostgresStore"]


def __getattr__(name: str) -> Any:  # the registry's "dayshift.store.postgres:PostgresStore"; drivers load on use
    if name == "PostgresStore":
        from dayshift.store.postgres.store import PostgresStore

        return PostgresStore
    raise AttributeError(name)
