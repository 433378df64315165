"""Move an index from one store backend to another without re-embedding, then check the copy.

    source.export_documents() --replace_document--> target      (vectors copied as stored)
    verify: same documents, versions and chunk counts on both sides

A migration can be re-run: a document the target already holds at the same
version is skipped, so an interrupted run continues where it stopped, and a
document the source no longer has is removed from the target, which then
mirrors the source exactly. The catalog and the embedding cache stay where
they are (they describe the documents, not the store), so the next
`dayshift ingest` against the new backend re-embeds nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dayshift.store.base import Store


@dataclass(slots=True)
class MigrationReport:
    copied: int = 0  # documents written to the target
    skipped: int = 0  # already there at the same version
    removed: int = 0  # in the target but not in the source
    chunks: int = 0  # chunks written
    source_documents: int = 0
    source_chunks: int = 0
    target_documents: int = 0
    target_chunks: int = 0
    mismatched: tuple[str, ...] = ()  # documents whose version differs after the copy

    @property
    def verified(self) -> bool:
        return (
            not self.mismatched
            and (self.source_documents, self.source_chunks) == (self.target_documents, self.target_chunks)
        )


def migrate_store(source: Store, target: Store, *, on_document: Callable[[], None] | None = None) -> MigrationReport:
    """Copy every document of `source` into `target`, then verify counts and versions."""
    report = MigrationReport()
    present = target.document_versions()
    seen: set[str] = set()
    for doc_id, chunks, vectors in source.export_documents():
        seen.add(doc_id)
        if present.get(doc_id) == chunks[0].doc_version:
            report.skipped += 1
        else:
            target.replace_document(doc_id, chunks, vectors)
            report.copied += 1
            report.chunks += len(chunks)
        if on_document is not None:
            on_document()
    extra = sorted(set(present) - seen)
    if extra:
        target.delete_documents(extra)
        report.removed = len(extra)
    target.flush()
    before, after = source.stats(), target.stats()
    report.source_documents, report.source_chunks = before.documents, before.chunks
    report.target_documents, report.target_chunks = after.documents, after.chunks
    want, got = source.document_versions(), target.document_versions()
    report.mismatched = tuple(sorted(d for d in set(want) | set(got) if want.get(d) != got.get(d)))
    return report
