"""Duplicates as aliases: a document dropped by de-duplication is still found under its own id.

Ingest keeps one copy of exact and near-duplicate documents (ingest/dedup.py) and records each
one it drops in the catalog as a `duplicate` of the kept one. Document search puts every such
duplicate right after the document it duplicates, as a hit on the same chunk and score under the
duplicate's own doc_id and source (and `duplicate_of` in its metadata), so it counts as one of
the k documents and a caller looking for it by id or source finds it:

    fused documents  [A, B, C]  + catalog {A: [A'], C: [C', C'']}  ->  [A, A', B, C, C', C'']

The catalog's duplicate list is read again at most every `refresh_s` seconds, so a search
sees what an ingest recorded shortly after it commits.

Left out: chunk search (what an answer reads) returns the kept chunk once, as the same words
twice add nothing to a prompt; a `where` filter on the duplicate's own fields (`source=teamB`
for a teamB copy of a teamA file) matches the kept chunks' fields, not the alias's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from threading import Lock
from typing import Protocol

from dayshift.types import Hit

REFRESH_S = 2.0


class DuplicateRecord(Protocol):
    doc_id: str
    source: str
    duplicate_of: str | None


class DuplicateCatalog(Protocol):
    """What aliases need of an ingest catalog (ingest/catalog_base.py's IngestCatalog has it)."""

    def documents(self, *, source: str | None = None, status: str | None = None) -> Sequence[DuplicateRecord]: ...


class DuplicateAliases:
    """Kept doc_id -> (doc_id, source) of each document dropped as its duplicate, from a catalog."""

    def __init__(self, catalog: Callable[[], DuplicateCatalog], *, refresh_s: float = REFRESH_S) -> None:
        self._open = catalog  # opened on first use: a retriever that never searches by document never reads it
        self._catalog: DuplicateCatalog | None = None
        self._refresh_s = refresh_s
        self._read_at = -float("inf")
        self._by_kept: dict[str, list[tuple[str, str]]] = {}
        self._lock = Lock()

    def of(self, doc_id: str) -> list[tuple[str, str]]:
        return self._current().get(doc_id, [])

    def expand(self, hits: Iterable[Hit]) -> list[Hit]:
        """Each document hit followed by a hit for each of its duplicates (same chunk and score)."""
        by_kept = self._current()
        out: list[Hit] = []
        for hit in hits:
            out.append(hit)
            for doc_id, source in by_kept.get(hit.chunk.doc_id, ()):
                alias = replace(hit.chunk, doc_id=doc_id, source=source,
                                metadata={**hit.chunk.metadata, "duplicate_of": hit.chunk.doc_id})  # fmt: skip
                out.append(Hit(chunk=alias, score=hit.score, source=hit.source))
        return out

    def _current(self) -> dict[str, list[tuple[str, str]]]:
        with self._lock:
            now = time.monotonic()
            if now - self._read_at >= self._refresh_s:
                if self._catalog is None:
                    self._catalog = self._open()
                by_kept: dict[str, list[tuple[str, str]]] = {}
                for record in self._catalog.documents(status="duplicate"):
                    if record.duplicate_of:
                        by_kept.setdefault(record.duplicate_of, []).append((record.doc_id, record.source))
                for found in by_kept.values():
                    found.sort()
                self._by_kept, self._read_at = by_kept, now
            return self._by_kept
