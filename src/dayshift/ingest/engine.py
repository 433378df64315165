"""What an ingest engine is given and gives back, and the engine that runs in this process.

    FileJob --Engine.load--> FileOutcome (cleaned documents, maybe chunks, or the failure)
    chunks  --Engine.embed--> Vectors (cache first)

`ingest/sync.py` plans a run and takes every decision; an engine only does the
work that needs none of that state. `LocalEngine` does it here, one file after
another; `ingest/distributed.py` does it in Ray tasks, with the same results.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from dayshift.embed.base import Embedder, TokenIdEmbedder
from dayshift.embed.cache import VectorCache, cached_and_missing, store_computed
from dayshift.errors import (
    EmptyFileError,
    LoadError,
    UnreadableFileError,
    UnsupportedFileError,
)
from dayshift.ingest.catalog import SourceRecord
from dayshift.ingest.chunk import ChunkingPolicy
from dayshift.ingest.clean import clean_document
from dayshift.ingest.loaders import LoadOptions, loader_for
from dayshift.ingest.report import FileFailure
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


# -- what an engine is given and gives back -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FileJob:
    """A file to load again: where it is, its source name, and its catalog row once it is stored."""

    path: Path
    source: str
    record: SourceRecord
    failure: FileFailure | None = None  # found before loading (stat, size, hash): nothing to load
    unchanged: dict[str, str] = field(default_factory=dict)  # doc_id -> version that needs no chunking


@dataclass(frozen=True, slots=True)
class FileOutcome:
    """A loaded file: its cleaned documents, or why it cannot be ingested."""

    job: FileJob
    docs: list[Document] = field(default_factory=list)  # cleaned; those with no text left dropped
    chunks: dict[str, list[Chunk]] | None = None  # doc_id -> chunks, where the engine chunked
    failure: FileFailure | None = None


class Vectors(Protocol):
    """Embeddings on their way: computed at once in this process, later on a cluster."""

    def ready(self) -> bool: ...

    def result(self) -> tuple[np.ndarray, int]:
        """(vectors in chunk order, how many were computed rather than read from the cache)"""
        ...


class Engine(Protocol):
    """Where a run's files are loaded and its chunks embedded."""

    @property
    def window_chunks(self) -> int: ...  # chunks gathered before they are sent to embed

    @property
    def windows_in_flight(self) -> int: ...  # windows left embedding while the run goes on

    def load(
        self, jobs: Iterable[FileJob], *, options: LoadOptions, policy: ChunkingPolicy, embedder: Embedder
    ) -> Iterator[FileOutcome]:
        """One outcome per job, in job order; it may read jobs ahead."""
        ...

    def embed(
        self,
        chunks: Sequence[Chunk],
        *,
        embedder: Embedder,
        cache: VectorCache | None,
        progress: Progress,
        token_ids: Sequence[Sequence[int] | None] | None = None,
    ) -> Vectors:
        """`token_ids`, where given, are the chunks' ids from `embedder.tokenizer` (or None for a
        chunk): an engine may hand them to a `TokenIdEmbedder` rather than tokenise again."""
        ...


def load_file(
    job: FileJob, *, options: LoadOptions, chunk: Callable[[Document], list[Chunk]] | None = None
) -> FileOutcome:
    """Load and clean one file; with `chunk`, also chunk each document not in `job.unchanged`.

    Never raises for a bad file: a loader's error, or its bug, becomes the outcome's failure."""
    if job.failure is not None:
        return FileOutcome(job, failure=job.failure)
    try:
        loader = loader_for(job.path)
        if loader is None:  # only where this process lacks a plugin the planning one has
            raise UnsupportedFileError(job.source, f"no loader for {job.path.suffix!r} files here",
                                       "install the same dayshift plugins wherever ingest runs")
        docs = list(loader.load(job.path, source=job.source, options=options))
    except Exception as exc:  # a loader bug must not stop the batch
        return FileOutcome(job, failure=file_failure(job.source, exc))
    cleaned = [c for c in (clean_document(d) for d in docs) if c is not None]
    if not cleaned:
        empty = EmptyFileError(job.source, "no text left after extraction and cleaning")
        return FileOutcome(job, failure=file_failure(job.source, empty))
    if chunk is None:
        return FileOutcome(job, cleaned)
    return FileOutcome(job, cleaned, {d.doc_id: chunk(d) for d in cleaned if job.unchanged.get(d.doc_id) != d.version})


def file_failure(source: str, exc: Exception) -> FileFailure:
    """What to report for a file that `exc` stopped."""
    if isinstance(exc, LoadError):
        return FileFailure(source=source, kind=exc.kind, reason=exc.reason, fix=exc.fix)
    if isinstance(exc, OSError):
        return file_failure(source, UnreadableFileError(source, f"cannot read the file ({exc.strerror or exc})"))
    return FileFailure(source=source, kind="internal", reason=f"unexpected {type(exc).__name__}: {exc}",
                       fix="please report this file to the dayshift maintainers")


@dataclass(frozen=True, slots=True)
class Embedded:
    """Vectors already computed."""

    vectors: np.ndarray
    computed: int

    def ready(self) -> bool:
        return True

    def result(self) -> tuple[np.ndarray, int]:
        return self.vectors, self.computed


class InBackground:
    """Vectors being computed on a daemon thread; `finish` runs on the thread that asks for them.

    A daemon thread, so an interrupted run exits without waiting for the window."""

    def __init__(self, compute: Callable[[], np.ndarray], finish: Callable[[np.ndarray], tuple[np.ndarray, int]]) -> None:
        self._finish = finish
        self._done = threading.Event()
        self._computed: np.ndarray | None = None
        self._error: BaseException | None = None
        self._result: tuple[np.ndarray, int] | None = None
        threading.Thread(target=self._run, args=(compute,), name="dayshift-embed-window", daemon=True).start()

    def _run(self, compute: Callable[[], np.ndarray]) -> None:
        try:
            self._computed = compute()
        except BaseException as exc:  # noqa: BLE001 - raised again where the result is asked for
            self._error = exc
        finally:
            self._done.set()

    def ready(self) -> bool:
        return self._done.is_set()

    def result(self) -> tuple[np.ndarray, int]:
        if self._result is None:
            self._done.wait()
            if self._error is not None:
                raise self._error
            assert self._computed is not None
            self._result = self._finish(self._computed)
        return self._result


class LocalEngine:
    """Loads and embeds in this process, one file after another; chunks only what dedup keeps.

    A window's vectors are computed on a background thread while the run loads, cleans,
    de-duplicates and chunks the next window and stores the one before: the embedder's workers
    keep both cores busy, and the single-threaded rest fills the gaps (SciFact: the pipeline went
    from 0.91 to 0.93 of the raw embedding speed). The cache is read and written on the calling
    thread only. As in the Ray engine, a text that the window before is still embedding is read
    from the cache once that window is stored (windows are stored oldest first), so nothing is
    embedded twice and the counts equal those of one window at a time."""

    windows_in_flight = 1

    def __init__(self) -> None:
        self._computing: set[str] = set()  # hashes a window in flight is embedding

    @property
    def window_chunks(self) -> int:
        return EMBED_WINDOW  # read at each use, so that a test may lower it

    def load(
        self, jobs: Iterable[FileJob], *, options: LoadOptions, policy: ChunkingPolicy, embedder: Embedder
    ) -> Iterator[FileOutcome]:
        for job in jobs:
            yield load_file(job, options=options)

    def embed(
        self,
        chunks: Sequence[Chunk],
        *,
        embedder: Embedder,
        cache: VectorCache | None,
        progress: Progress,
        token_ids: Sequence[Sequence[int] | None] | None = None,
    ) -> Vectors:
        """Vectors for `chunks`: the cached ones now, the rest in the background, longest first in
        slices so the progress bar moves; a `TokenIdEmbedder` is given the chunker's token ids."""
        texts = [c.indexed_text for c in chunks]
        hashes = [c.content_hash for c in chunks]
        found, missing = cached_and_missing(cache, embedder.space, hashes)
        computing = self._computing if cache is not None else set()
        later = [hashes[i] for i in missing if hashes[i] in computing]  # the window before embeds them
        todo = sorted((i for i in missing if hashes[i] not in computing), key=lambda i: len(texts[i]), reverse=True)
        computing.update(hashes[i] for i in todo)
        progress.advance("embeddings", len(chunks) - len(todo))

        with_ids = token_ids if isinstance(embedder, TokenIdEmbedder) else None

        def compute() -> np.ndarray:  # (len(todo), dim), on the background thread
            out = np.empty((len(todo), embedder.dim), dtype=np.float32)
            for start in range(0, len(todo), PROGRESS_SLICE):
                part = todo[start : start + PROGRESS_SLICE]
                part_texts = [texts[i] for i in part]
                out[start : start + len(part)] = (
                    embedder.embed(part_texts, kind="document") if with_ids is None
                    else embedder.embed_token_ids(part_texts, [with_ids[i] for i in part])  # type: ignore[attr-defined]
                )
                progress.advance("embeddings", len(part))
            return out

        def finish(computed: np.ndarray) -> tuple[np.ndarray, int]:  # on the calling thread
            self._computing.difference_update(hashes[i] for i in todo)
            if later and cache is not None:  # stored by now: the window before was stored first
                found.update(cache.get_many(embedder.space, later))
            vectors = store_computed(cache, embedder.space, hashes, found, todo, computed, dim=embedder.dim)
            return vectors, len(todo)

        if not todo and not later:
            return Embedded(*finish(np.empty((0, embedder.dim), dtype=np.float32)))
        return InBackground(compute, finish)  # `later` waits for the window before to be stored
