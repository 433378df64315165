"""The embedded store: one SQLite file plus in-memory keyword and dense indexes (no server).

    store.py    EmbeddedStore: the SQLite schema, writes, the change log, searches
    keyword.py  BM25 over integer ids (KeywordIndex)
    dense.py    exact and HNSW cosine search (DenseIndex)
    filters.py  filter Conditions compiled to SQLite (postgres/filters.py is its twin)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dayshift.store.embedded.store import EmbeddedStore

__all__ = ["EmbeddedStore"]


def __getattr__(name: str) -> Any:  # the registry's "dayshift.store.embedded:EmbeddedStore", loaded on first use
    if name == "EmbeddedStore":
        from dayshift.store.embedded.store import EmbeddedStore

        return EmbeddedStore
    raise AttributeError(name)
