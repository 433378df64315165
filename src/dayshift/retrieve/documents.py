"""Document-level retrieval: k distinct documents, each at its best chunk.

A chunk list collapses to fewer documents than chunks (a long document has
several chunks among the top N), so "the top 100 chunks" is not "the top 100
documents". `deepen` asks a searcher for more chunks, doubling, until the list
holds the documents wanted or the index has no more matching chunks:

    search(k=n) -> chunks -> distinct documents >= wanted?  done
                                                else   search(k=2n) ... (at most `max_chunks`)

Left out: scoring a document from several of its chunks (sum or mean of chunk
scores); the best chunk stands for its document (MaxP), which is also what the
cited excerpt is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from dayshift.types import Hit

# A list is deepened at most to this many chunks per document wanted: past it, a query's
# matches are spread so thin that further chunks would not change the top documents.
MAX_CHUNKS_PER_DOCUMENT = 16


def best_per_document(hits: Iterable[Hit]) -> list[Hit]:
    """The first (best) hit of each document, in order: (chunk hits, best first) -> document hits."""
    seen: set[str] = set()
    kept: list[Hit] = []
    for hit in hits:
        if hit.chunk.doc_id not in seen:
            seen.add(hit.chunk.doc_id)
            kept.append(hit)
    return kept


def deepen(search: Callable[[int], list[Hit]], *, documents: int, first: int) -> list[Hit]:
    """Chunk hits from `search(n)` (best first) holding at least `documents` distinct documents,
    or every chunk `search` can give; n starts at `first` and doubles."""
    limit = max(first, documents * MAX_CHUNKS_PER_DOCUMENT)
    n = max(first, documents)
    while True:
        hits = search(n)
        if len(hits) < n or n >= limit or len({h.chunk.doc_id for h in hits}) >= documents:
            return hits
        n = min(2 * n, limit)
