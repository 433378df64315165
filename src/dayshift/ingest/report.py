"""What an ingest run did, per document and per file, for the CLI, the API and the catalog."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True, slots=True)
class FileFailure:
    source: str
    kind: str  # LoadError.kind: encrypted, empty, malformed, encoding, too_large, ...
    reason: str
    fix: str


@dataclass(frozen=True, slots=True)
class Duplicate:
    doc_id: str
    of_doc_id: str
    kind: Literal["exact", "near"]
    similarity: float


@dataclass(slots=True)
class SyncReport:
    root: str
    added: list[str] = field(default_factory=list)  # doc ids
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    deleted: list[str] = field(default_factory=list)
    failed: list[FileFailure] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)  # files no loader reads
    files: int = 0
    chunks_written: int = 0
    chunks_embedded: int = 0  # computed by the embedder
    chunks_cached: int = 0  # served by the embedding cache
    seconds: float = 0.0
    # Folders that held these source names and no longer exist: taken as this folder, moved (sync.py)
    moved_from: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed

    def counts(self) -> dict[str, int]:
        return {
            "added": len(self.added),
            "updated": len(self.updated),
            "unchanged": self.unchanged,
            "deleted": len(self.deleted),
            "failed": len(self.failed),
            "duplicates": len(self.duplicates),
            "unsupported": len(self.unsupported),
            "files": self.files,
            "chunks_written": self.chunks_written,
            "chunks_embedded": self.chunks_embedded,
            "chunks_cached": self.chunks_cached,
        }
