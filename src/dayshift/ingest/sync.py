"""Incremental sync of a folder or file into the index.

    files --stat/hash vs catalog--> jobs --engine.load--> cleaned documents --dedup-->
    new or changed documents --chunk--> chunks --engine.embed (cache first)--> store, then catalog

Per run it reports added / updated / unchanged / deleted / failed documents.

Every decision (what changed, what is a duplicate, what to delete, the order
of writes) is taken here, in this process. An `Engine` only does the work that
needs none of that state: loading, cleaning and chunking a file (`load_file`),
and computing vectors. `LocalEngine` does it here, one file after another;
`ingest/distributed.py` does it in Ray tasks, with the same results.

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
* A source name belongs to one folder. A folder moved (or a package upgraded
  to a new path) keeps its names: when the folder the catalog recorded no
  longer exists, this one is taken as it, and unchanged files stay unchanged.
  Another folder under names whose folder still exists is refused.

Left out: watching folders for changes (run sync on a schedule).
"""

from __future__ import annotations

import fnmatch
import hashlib
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from dayshift.embed.base import Embedder
from dayshift.embed.cache import VectorCache
from dayshift.errors import (
    ConfigError,
    FileTooLargeError,
)
from dayshift.ingest.catalog import DocumentRecord, SourceRecord
from dayshift.ingest.catalog_base import IngestCatalog
from dayshift.ingest.chunk import ChunkingPolicy, chunk_with_token_ids
from dayshift.ingest.dedup import Deduplicator, signature_to_bytes
from dayshift.ingest.engine import (  # noqa: F401 - re-exported: callers import them from sync
    Embedded,
    Engine,
    FileJob,
    FileOutcome,
    LocalEngine,
    NullProgress,
    Progress,
    Vectors,
    file_failure,
    load_file,
)
from dayshift.ingest.loaders import LoadOptions, loader_for
from dayshift.ingest.report import Duplicate, FileFailure, SyncReport
from dayshift.settings import IngestSettings
from dayshift.store.base import Store
from dayshift.types import Chunk, Document

# A run's first window of chunks, doubled with each one sent up to the engine's window: the
# embedder starts within a second rather than after a whole window is chunked (SciFact: ~2.5 s
# of chunking with one core idle).
FIRST_WINDOW = 256

# -- the run --------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Pending:
    """Documents chunked but not yet embedded, and the files waiting on them."""

    docs: list[tuple[Document, list[Chunk], DocumentRecord, bool]] = field(default_factory=list)
    token_ids: list[list[int] | None] = field(default_factory=list)  # per chunk, where the chunker gave them
    sources: list[SourceRecord] = field(default_factory=list)
    chunks: int = 0


class Ingestor:
    def __init__(
        self,
        *,
        store: Store,
        embedder: Embedder,
        catalog: IngestCatalog,
        cache: VectorCache | None,
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

    def sync(
        self, root: Path, *, name: str | None = None, progress: Progress | None = None, engine: Engine | None = None
    ) -> SyncReport:
        """Bring the index in line with `root` (a folder or one file), loading and embedding with
        `engine` (default: in this process)."""
        started = time.perf_counter()
        root = root.resolve()
        if not root.exists():
            raise ConfigError(f"{root} does not exist; pass a folder or file to ingest")
        root_key, files = str(root), list(self._discover(root, name=name))
        progress = progress or NullProgress()
        report = SyncReport(root=root_key, files=len(files))
        run = self.catalog.start_run(root_key)
        report.moved_from = self._adopt_moved_roots(root_key, {source for _, source in files})
        state = _RunState(self, report, progress, engine or LocalEngine())
        progress.start("files", total=len(files))
        # Deletions first, so a renamed file is an add (from the cache), not a duplicate of itself.
        state.delete_missing_sources(root_key, seen={source for _, source in files})
        state.sync_files(files, root_key=root_key)
        state.flush(wait=True)
        state.revisit_orphaned_duplicates({s: p for p, s in files}, root_key=root_key)
        state.flush(wait=True)
        self.store.flush()
        report.seconds = time.perf_counter() - started
        self.catalog.finish_run(run, report.counts())
        return report

    def _adopt_moved_roots(self, root_key: str, names: set[str]) -> list[str]:
        """The folders the catalog knows these source names under that no longer exist, re-homed here.

        The same source name means the same document ids; a folder that is gone cannot still be their home,
        so this folder is that one, moved (a new checkout, an upgraded package, a renamed parent folder). Its
        sources are recorded under `root_key`, so the run compares files by content and re-adds nothing that
        did not change; files it had that this folder lacks are then deleted as usual. A folder that still
        exists keeps its names: ingesting another folder under them is refused (_plan).
        """
        others = sorted({s.root for s in self.catalog.sources() if s.path in names and s.root != root_key})
        moved = [old for old in others if not Path(old).exists()]
        for old in moved:
            for source in self.catalog.sources(root=old):
                self.catalog.put_source(replace(source, root=root_key))
        return moved

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

    def __init__(self, ingestor: Ingestor, report: SyncReport, progress: Progress, engine: Engine) -> None:
        self.ing, self.report, self.progress, self.engine = ingestor, report, progress, engine
        self.versions = ingestor.store.document_versions()  # doc_id -> version, as searchable now
        indexed = ingestor.catalog.documents(status="indexed")
        self.dedup = Deduplicator(
            ((d.doc_id, d.fingerprint, d.signature) for d in indexed if d.signature is not None),
            threshold=ingestor.settings.near_duplicate_threshold,
        )
        self.pending = _Pending()
        self.embedding: deque[tuple[_Pending, Vectors]] = deque()  # windows sent to embed, oldest first
        self.window = min(FIRST_WINDOW, engine.window_chunks)  # chunks to gather before the next window goes
        progress.start("chunks", total=None)
        progress.start("embeddings", total=None)

    # -- files --------------------------------------------------------------

    def sync_files(
        self, files: Sequence[tuple[Path, str]], *, root_key: str, force: bool = False, advance: bool = True
    ) -> None:
        """Load the files that changed (the engine may read ahead) and apply each one, in order."""
        ing = self.ing
        jobs = self._jobs(files, root_key=root_key, force=force, advance=advance)
        for outcome in self.engine.load(jobs, options=ing.options, policy=ing.policy, embedder=ing.embedder):
            if outcome.failure is not None:
                self._fail(outcome.job, outcome.failure)
            else:
                self._sync_documents(outcome)
            if advance:
                self.progress.advance("files")

    def _jobs(
        self, files: Sequence[tuple[Path, str]], *, root_key: str, force: bool, advance: bool
    ) -> Iterator[FileJob]:
        for path, source in files:
            job = self._plan(path, source, root_key=root_key, force=force)
            if job is not None:
                yield job
            elif advance:
                self.progress.advance("files")

    def _plan(self, path: Path, source: str, *, root_key: str, force: bool) -> FileJob | None:
        """The file's job if it must be loaded; None when it is unchanged or no loader reads it."""
        catalog = self.ing.catalog
        known = catalog.source(source)
        if known is not None and known.root != root_key:
            raise ConfigError(
                f'the source name "{source}" already belongs to {known.root}, which still exists; '
                "ingest this folder under another name with --name (or, if this folder replaces that one, "
                "remove or rename that one first: a folder that is gone is taken as moved here)"
            )
        if loader_for(path) is None:
            self.report.unsupported.append(source)
            return None
        record = SourceRecord(source, root_key, None, None, None, "ok", None, None, None)
        try:
            stat = path.stat()
            record = replace(record, size=stat.st_size, mtime_ns=stat.st_mtime_ns)
            if not force and self._unchanged(known, record):
                self.report.unchanged += len(catalog.documents(source=source))
                return None
            if stat.st_size > self.ing.settings.max_file_mb * 1_000_000:
                raise FileTooLargeError(
                    source, f"{stat.st_size / 1e6:.3g} MB is over the {self.ing.settings.max_file_mb:g} MB limit"
                )
            record = replace(record, file_hash=file_hash(path))
        except Exception as exc:  # unreadable, too large, or a bug: reported, and the batch goes on
            return FileJob(path, source, record, failure=file_failure(source, exc))
        if not force and known is not None and known.status == "ok" and known.file_hash == record.file_hash:
            catalog.put_source(record)
            self.report.unchanged += len(catalog.documents(source=source))
            return None
        unchanged = {  # the documents _sync_document will count as unchanged if they come back as they were
            d.doc_id: d.version
            for d in catalog.documents(source=source)
            if d.status == "duplicate" or self.versions.get(d.doc_id) == d.version
        }
        return FileJob(path, source, record, unchanged=unchanged)

    @staticmethod
    def _unchanged(known: SourceRecord | None, now: SourceRecord) -> bool:
        return (
            known is not None
            and known.status == "ok"
            and known.size == now.size
            and known.mtime_ns == now.mtime_ns
            and known.file_hash is not None
        )

    def _fail(self, job: FileJob, failure: FileFailure) -> None:
        self.report.failed.append(failure)
        self._delete_docs([d.doc_id for d in self.ing.catalog.documents(source=job.source)])
        f = failure
        self.ing.catalog.put_source(
            SourceRecord(job.source, job.record.root, None, None, None, "failed", f.kind, f.reason, f.fix)
        )

    def _sync_documents(self, outcome: FileOutcome) -> None:
        previous = {d.doc_id: d for d in self.ing.catalog.documents(source=outcome.job.source)}
        kept = {d.doc_id for d in outcome.docs}
        self._delete_docs([doc_id for doc_id in previous if doc_id not in kept])
        for doc in outcome.docs:
            chunks = outcome.chunks.get(doc.doc_id) if outcome.chunks is not None else None
            self._sync_document(doc, previous.get(doc.doc_id), chunks)
            if self.pending.chunks >= self.window:
                self.flush()  # a large file (a wiki dump) is stored as it goes
        self.pending.sources.append(outcome.job.record)  # the file's row waits for its last document

    # -- documents ----------------------------------------------------------

    def _sync_document(self, doc: Document, previous: DocumentRecord | None, chunks: list[Chunk] | None) -> None:
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
        if chunks is None:  # the engine left chunking to the documents dedup keeps
            chunks, token_ids = chunk_with_token_ids(doc, tokenizer=self.ing.embedder.tokenizer,
                                                     policy=self.ing.policy, ingested_at=time.time())
        else:
            token_ids = [None] * len(chunks)
        record = DocumentRecord(doc.doc_id, doc.source, version, "indexed", None, made.fingerprint,
                                signature_to_bytes(made.signature), len(chunks))
        is_update = doc.doc_id in self.versions or previous is not None
        self.pending.docs.append((doc, chunks, record, is_update))
        self.pending.token_ids.extend(token_ids)
        self.pending.chunks += len(chunks)
        self.progress.advance("chunks", len(chunks))

    def _record_duplicate(self, doc: Document, of_doc_id: str, kind: str, similarity: float) -> None:
        if doc.doc_id in self.versions:
            self._delete_docs([doc.doc_id], report=False)
        self.report.duplicates.append(Duplicate(doc.doc_id, of_doc_id, kind, similarity))  # type: ignore[arg-type]
        self.ing.catalog.put_document(
            DocumentRecord(doc.doc_id, doc.source, doc.version, "duplicate", of_doc_id, "", None, 0)
        )

    def flush(self, *, wait: bool = False) -> None:
        """Send what is pending to embed, then store the windows whose vectors are back, oldest
        first (all of them with `wait`): each window's documents, then the files it finished."""
        pending, self.pending = self.pending, _Pending()
        if pending.docs or pending.sources:
            chunks = [c for _, doc_chunks, _, _ in pending.docs for c in doc_chunks]
            ing = self.ing
            self.window = min(2 * self.window, self.engine.window_chunks)
            self.embedding.append(
                (pending, self.engine.embed(chunks, embedder=ing.embedder, cache=ing.cache, progress=self.progress,
                                            token_ids=pending.token_ids))
            )
        while self.embedding and (
            wait or len(self.embedding) > self.engine.windows_in_flight or self.embedding[0][1].ready()
        ):
            self._store(*self.embedding.popleft())

    def _store(self, pending: _Pending, embedded: Vectors) -> None:
        vectors, computed = embedded.result()
        self.report.chunks_embedded += computed
        self.report.chunks_cached += len(vectors) - computed
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
        revisit = [(paths[source], source) for source in sorted(orphans) if source in paths]
        for _, source in revisit:
            self.ing.catalog.delete_documents(
                [d.doc_id for d in self.ing.catalog.documents(source=source, status="duplicate")]
            )
        self.sync_files(revisit, root_key=root_key, force=True, advance=False)
        self.report.unchanged = unchanged
