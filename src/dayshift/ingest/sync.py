"""Incremental sync of a folder or file into the index.

    files --stat/hash vs catalog--> changed files --load--> documents --clean, dedup-->
    new or changed documents --chunk--> chunks --embed (cache first)--> store, then catalog

Per run it reports added / updated / unchanged / deleted / failed documents.

Guarantees:
* A document's chunks are replaced in one store transaction: search sees the
  old version or the new one, never a mix, and never a chunk of a deleted or
  changed document once its change is written.
* A file that fails (unreadable, encrypted, empty, malformed, wrong encoding,
  too large) is reported with its reason and fix; the batch goes on. If an
  earlier version of it was indexed, those chunks are removed, since they no
  longer describe the file.
* A crash or kill at any point leaves the store consistent. A file's catalog
  row is written only after all its documents are stored, so the next run
  finds any unfinished file changed and completes it, re-using every vector
  already computed (the embedding cache).

Left out: watching folders for changes (run sync on a schedule), and
distributed ingestion (the Ray engine).
"""

from __future__ import annotations

import fnmatch
import hashlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from dayshift.embed.base import Embedder
from dayshift.embed.cache import EmbeddingCache, embed_cached
from dayshift.errors import ConfigError, EmptyFileError, FileTooLargeError, LoadError, UnreadableFileError
from dayshift.ingest.catalog import Catalog, DocumentRecord, SourceRecord
from dayshift.ingest.chunk import ChunkingPolicy, chunk_document
from dayshift.ingest.clean import clean_document
from dayshift.ingest.dedup import Deduplicator, signature_to_bytes
from dayshift.ingest.loaders import LoadOptions, loader_for
from dayshift.ingest.report import Duplicate, FileFailure, SyncReport
from dayshift.settings import IngestSettings
from dayshift.store.base import Store
from dayshift.types import Chunk, Document

EMBED_WINDOW = 2048  # chunks gathered before embedding: long enough to batch by length
PROGRESS_SLICE = 256  # chunks embedded between two progress updates


class Progress(Protocol):
    """Where sync reports progress; the CLI draws bars, the service updates a job."""

    def start(self, stage: str, *, total: int | None) -> None: ...

    def advance(self, stage: str, n: int = 1) -> None: ...


class NullProgress:
    def start(self, stage: str, *, total: int | None) -> None:
        pass

    def advance(self, stage: str, n: int = 1) -> None:
        pass


@dataclass(slots=True)
class _Pending:
    """Documents chunked but not yet embedded, and the files waiting on them."""

    docs: list[tuple[Document, list[Chunk], DocumentRecord, bool]] = field(default_factory=list)
    sources: list[SourceRecord] = field(default_factory=list)
    chunks: int = 0


class Ingestor:
    def __init__(
        self,
        *,
        store: Store,
        embedder: Embedder,
        catalog: Catalog,
        cache: EmbeddingCache | None,
        settings: IngestSettings | None = None,
    ) -> None:
        self.store, self.embedder, self.catalog, self.cache = store, embedder, catalog, cache
        self.settings = settings or IngestSettings()
        self.policy = ChunkingPolicy(self.settings.chunk_tokens, self.settings.chunk_overlap_tokens)
        s = self.settings
        self.options = LoadOptions(
            text_columns=tuple(s.text_columns) if s.text_columns else None,
            metadata_columns=tuple(s.metadata_columns) if s.metadata_columns is not None else None,
            id_column=s.id_column,
            title_column=s.title_column,
            tables=tuple(s.tables) if s.tables else None,
        )

    def sync(self, root: Path, *, name: str | None = None, progress: Progress | None = None) -> SyncReport:
        """Bring the index in line with `root` (a folder or one file)."""
        started = time.perf_counter()
        root = root.resolve()
        if not root.exists():
            raise ConfigError(f"{root} does not exist; pass a folder or file to ingest")
        root_key, files = str(root), list(self._discover(root, name=name))
        progress = progress or NullProgress()
        report = SyncReport(root=root_key, files=len(files))
        run = self.catalog.start_run(root_key)
        state = _RunState(self, report, progress)
        progress.start("files", total=len(files))
        # Deletions first, so a renamed file is an add (from the cache), not a duplicate of itself.
        state.delete_missing_sources(root_key, seen={source for _, source in files})
        for path, source in files:
            state.sync_file(path, source, root_key=root_key)
            progress.advance("files")
        state.flush()
        state.revisit_orphaned_duplicates(dict((s, p) for p, s in files), root_key=root_key)
        state.flush()
        self.store.flush()
        report.seconds = time.perf_counter() - started
        self.catalog.finish_run(run, report.counts())
        return report

    def _discover(self, root: Path, *, name: str | None) -> Iterator[tuple[Path, str]]:
        if root.is_file():
            yield root, name or root.name
            return
        prefix = name or root.name
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if any(_excluded(part, self.settings.exclude) for part in relative.parts):
                continue
            if path.is_file() or (path.is_symlink() and not path.exists()):  # a dangling link is reported
                yield path, f"{prefix}/{relative.as_posix()}"


def _excluded(part: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for pattern in patterns)


def file_hash(path: Path) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _RunState:
    """One run's working state; split from Ingestor to keep each step small."""

    def __init__(self, ingestor: Ingestor, report: SyncReport, progress: Progress) -> None:
        self.ing, self.report, self.progress = ingestor, report, progress
        self.versions = ingestor.store.document_versions()  # doc_id -> version, as searchable now
        indexed = ingestor.catalog.documents(status="indexed")
        self.dedup = Deduplicator(
            ((d.doc_id, d.fingerprint, d.signature) for d in indexed if d.signature is not None),
            threshold=ingestor.settings.near_duplicate_threshold,
        )
        self.pending = _Pending()
        progress.start("chunks", total=None)
        progress.start("embeddings", total=None)

    # -- files --------------------------------------------------------------

    def sync_file(self, path: Path, source: str, *, root_key: str, force: bool = False) -> None:
        catalog = self.ing.catalog
        known = catalog.source(source)
        if known is not None and known.root != root_key:
            raise ConfigError(
                f'the source name "{source}" already belongs to {known.root}; '
                "ingest this folder under another name with --name"
            )
        loader = loader_for(path)
        if loader is None:
            self.report.unsupported.append(source)
            return
        try:
            stat = path.stat()
            record = SourceRecord(source, root_key, stat.st_size, stat.st_mtime_ns, None, "ok", None, None, None)
            if not force and self._unchanged(known, record):
                self.report.unchanged += len(catalog.documents(source=source))
                return
            if stat.st_size > self.ing.settings.max_file_mb * 1_000_000:
                raise FileTooLargeError(
                    source, f"{stat.st_size / 1e6:.3g} MB is over the {self.ing.settings.max_file_mb:g} MB limit"
                )
            digest = file_hash(path)
            if not force and known is not None and known.status == "ok" and known.file_hash == digest:
                catalog.put_source(replace(record, file_hash=digest))
                self.report.unchanged += len(catalog.documents(source=source))
                return
            docs = list(loader.load(path, source=source, options=self.ing.options))
        except LoadError as exc:
            self._fail(source, root_key, exc.kind, exc.reason, exc.fix)
            return
        except OSError as exc:
            err = UnreadableFileError(source, f"cannot read the file ({exc.strerror or exc})")
            self._fail(source, root_key, err.kind, err.reason, err.fix)
            return
        except Exception as exc:  # a loader bug must not stop the batch
            self._fail(source, root_key, "internal", f"unexpected {type(exc).__name__}: {exc}",
                       "please report this file to the dayshift maintainers")
            return
        self._sync_documents(source, docs, replace(record, file_hash=digest))

    @staticmethod
    def _unchanged(known: SourceRecord | None, now: SourceRecord) -> bool:
        return (
            known is not None
            and known.status == "ok"
            and known.size == now.size
            and known.mtime_ns == now.mtime_ns
            and known.file_hash is not None
        )

    def _fail(self, source: str, root_key: str, kind: str, reason: str, fix: str) -> None:
        self.report.failed.append(FileFailure(source=source, kind=kind, reason=reason, fix=fix))
        self._delete_docs([d.doc_id for d in self.ing.catalog.documents(source=source)])
        self.ing.catalog.put_source(SourceRecord(source, root_key, None, None, None, "failed", kind, reason, fix))

    def _sync_documents(self, source: str, docs: list[Document], record: SourceRecord) -> None:
        cleaned = [c for c in (clean_document(d) for d in docs) if c is not None]
        if not cleaned:
            err = EmptyFileError(source, "no text left after extraction and cleaning")
            self._fail(source, record.root, err.kind, err.reason, err.fix)
            return
        previous = {d.doc_id: d for d in self.ing.catalog.documents(source=source)}
        self._delete_docs([doc_id for doc_id in previous if doc_id not in {d.doc_id for d in cleaned}])
        for doc in cleaned:
            self._sync_document(doc, previous.get(doc.doc_id))
            if self.pending.chunks >= EMBED_WINDOW:
                self.flush()  # a large file (a wiki dump) is stored as it goes
        self.pending.sources.append(record)  # the file's row waits for its last document

    # -- documents ----------------------------------------------------------

    def _sync_document(self, doc: Document, previous: DocumentRecord | None) -> None:
        version = doc.version
        if previous is not None and previous.version == version and (
            previous.status == "duplicate" or self.versions.get(doc.doc_id) == version
        ):
            self.report.unchanged += 1
            return
        verdict = self.dedup.check(doc.doc_id, doc.text)
        if verdict is not None:
            self._record_duplicate(doc, verdict.of_doc_id, verdict.kind, verdict.similarity)
            return
        made = self.dedup.add(doc.doc_id, doc.text)
        chunks = chunk_document(doc, tokenizer=self.ing.embedder.tokenizer, policy=self.ing.policy,
                                ingested_at=time.time())
        record = DocumentRecord(doc.doc_id, doc.source, version, "indexed", None, made.fingerprint,
                                signature_to_bytes(made.signature), len(chunks))
        is_update = doc.doc_id in self.versions or previous is not None
        self.pending.docs.append((doc, chunks, record, is_update))
        self.pending.chunks += len(chunks)
        self.progress.advance("chunks", len(chunks))

    def _record_duplicate(self, doc: Document, of_doc_id: str, kind: str, similarity: float) -> None:
        if doc.doc_id in self.versions:
            self._delete_docs([doc.doc_id], report=False)
        self.report.duplicates.append(Duplicate(doc.doc_id, of_doc_id, kind, similarity))  # type: ignore[arg-type]
        self.ing.catalog.put_document(
            DocumentRecord(doc.doc_id, doc.source, doc.version, "duplicate", of_doc_id, "", None, 0)
        )

    def flush(self) -> None:
        """Embed what is pending, then store each document and record each finished file."""
        pending, self.pending = self.pending, _Pending()
        chunks = [c for _, doc_chunks, _, _ in pending.docs for c in doc_chunks]
        vectors = self._embed(chunks)
        offset = 0
        for doc, doc_chunks, record, is_update in pending.docs:
            self.ing.store.replace_document(doc.doc_id, doc_chunks, vectors[offset : offset + len(doc_chunks)])
            offset += len(doc_chunks)
            self.ing.catalog.put_document(record)
            self.versions[doc.doc_id] = record.version
            (self.report.updated if is_update else self.report.added).append(doc.doc_id)
            self.report.chunks_written += len(doc_chunks)
        for source in pending.sources:
            self.ing.catalog.put_source(source)

    def _embed(self, chunks: list[Chunk]) -> np.ndarray:
        """Vectors for `chunks`, in slices of similar length so the progress bar moves."""
        texts = [c.indexed_text for c in chunks]
        order = sorted(range(len(chunks)), key=lambda i: len(texts[i]), reverse=True)
        vectors = np.empty((len(chunks), self.ing.embedder.dim), dtype=np.float32)
        for start in range(0, len(order), PROGRESS_SLICE):
            idx = order[start : start + PROGRESS_SLICE]
            part, computed = embed_cached(
                self.ing.embedder, self.ing.cache, [texts[i] for i in idx], [chunks[i].content_hash for i in idx]
            )
            vectors[idx] = part
            self.report.chunks_embedded += computed
            self.report.chunks_cached += len(idx) - computed
            self.progress.advance("embeddings", len(idx))
        return vectors

    # -- deletions ----------------------------------------------------------

    def _delete_docs(self, doc_ids: list[str], *, report: bool = True) -> None:
        if not doc_ids:
            return
        self.ing.store.delete_documents(doc_ids)
        self.ing.catalog.delete_documents(doc_ids)
        for doc_id in doc_ids:
            self.dedup.remove(doc_id)
            if self.versions.pop(doc_id, None) is not None and report:
                self.report.deleted.append(doc_id)

    def delete_missing_sources(self, root_key: str, *, seen: set[str]) -> None:
        for source in self.ing.catalog.sources(root=root_key):
            if source.path not in seen:
                self._delete_docs([d.doc_id for d in self.ing.catalog.documents(source=source.path)])
                self.ing.catalog.delete_source(source.path)

    def revisit_orphaned_duplicates(self, paths: dict[str, Path], *, root_key: str) -> None:
        """Duplicates whose original changed or went away are loaded again, so their text stays searchable."""
        indexed = {d.doc_id for d in self.ing.catalog.documents(status="indexed")}
        changed = set(self.report.updated) | set(self.report.deleted)
        orphans = {
            d.source
            for d in self.ing.catalog.documents(status="duplicate")
            if d.duplicate_of not in indexed or d.duplicate_of in changed
        }
        unchanged = self.report.unchanged  # the revisited files' other documents were counted already
        for source in sorted(orphans):
            if source in paths:
                self.ing.catalog.delete_documents(
                    [d.doc_id for d in self.ing.catalog.documents(source=source, status="duplicate")]
                )
                self.sync_file(paths[source], source, root_key=root_key, force=True)
        self.report.unchanged = unchanged


