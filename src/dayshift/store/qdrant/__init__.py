"""The Qdrant store: chunks as points of one collection per namespace, through qdrant-client.

    store.py    QdrantStore: the write protocol (markers, generations), searches, flush
    points.py   chunks as points, and back
    bm25.py     BM25 as Qdrant sparse vectors with its IDF modifier
    filters.py  filter Conditions as Qdrant payload filters, checked in Python where Qdrant cannot say them
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dayshift.store.qdrant.store import QdrantStore

__all__ = ["QdrantStore"]


def __getattr__(name: str) -> Any:  # the registry's "dayshift.store.qdrant:QdrantStore"; qdrant-client loads on use
    if name == "QdrantStore":
        from dayshift.store.qdrant.store import QdrantStore

        return QdrantStore
    raise AttributeError(name)
