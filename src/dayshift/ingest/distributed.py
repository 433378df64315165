"""The Ray engine: files loaded, cleaned and chunked, and chunks embedded, in Ray tasks.

    driver (Ingestor.sync)                              Ray workers
      discover; stat/hash vs catalog --FileJobs-->        load_batch: load, clean, chunk
      in file order: dedup, deletions <--FileOutcomes--   (a bad file is its outcome's failure)
      cache lookup --texts not cached-->                  embed_batch: one model per process
      store each window, oldest first, then catalog <--vectors--

Every decision (`ingest/sync.py`) is taken on the driver, in the order the local engine
takes it, so a Ray run gives the same documents, versions, chunks, duplicates and report.
Only the driver writes: the store, then the catalog, and the embedding cache.

Failures:
* Workers that cannot build the embedder (dayshift missing on a node, another vector space)
  stop the run before any file is loaded (`check_workers`), rather than fail every file.
* A task that raises a transient error (`TRANSIENT`) or loses its worker is retried by
  Ray, up to `max_retries` times. Retrying is safe: tasks write nothing, and the driver
  stores each document once, after its vectors are back.
* A load batch that still fails is split and each of its files tried alone; a file that
  fails alone is reported failed (kind "internal"), as a loader bug would be locally.
* An embedding batch that still fails stops the run with EmbeddingError. What was stored
  is whole, and the next run completes the rest from the embedding cache.

Workers read the files by their path: the folder must be at the same path on every node
(a shared mount; on one machine it trivially is), and Ray and dayshift must be installed
on every node. Left out: shipping file bytes to the workers (mdBook includes read sibling
files, so the bytes alone are not enough); MinHash signatures computed on the workers (the
driver computes them as it dedups: about 7 ms for a 10 KB chapter, about 1% of what
embedding it costs); GPU placement.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dayshift.embed.base import Embedder
from dayshift.embed.cache import VectorCache
from dayshift.errors import ConfigError, EmbeddingError, PluginError
from dayshift.ingest.chunk import ChunkingPolicy, chunk_document
from dayshift.ingest.loaders import LoadOptions
from dayshift.ingest.report import FileFailure
from dayshift.ingest.sync import FileJob, FileOutcome, Progress, Vectors, load_file
from dayshift.types import Chunk


class InjectedFault(RuntimeError):
    """A transient failure raised on purpose (`InjectFault`)."""


MIN_CHUNKS_PER_TASK = 16  # below this a task costs more than it embeds
TRANSIENT = (OSError, EmbeddingError, InjectedFault)  # retried by Ray; OSError covers timeouts and resets


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise PluginError('the Ray ingest engine needs Ray: pip install "dayshift[ray]"') from exc
    return ray


@contextmanager
def ray_session(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[None]:
    """Ray connected for the block: `address` is "auto" (a running cluster), "ray://host:10001"
    (a remote one), "local" (a new one here, of `num_cpus`), or None (RAY_ADDRESS, else a running
    cluster, else a new one). A Ray already initialised in this process is used as it is."""
    ray = _import_ray()
    if ray.is_initialized():
        yield
        return
    options: dict[str, Any] = {"include_dashboard": False, "num_cpus": num_cpus} if address == "local" else {}
    try:
        ray.init(address=address, logging_level=logging.WARNING, **options)
    except ConnectionError as exc:
        raise ConfigError(
            f"no Ray cluster at {address!r} ({exc}): start one with `ray start --head`, "
            "or run with --address local"
        ) from exc
    try:
        yield
    finally:
        ray.shutdown()


@dataclass(frozen=True, slots=True)
class InjectFault:
    """Test hook: the first `attempts` attempts of a `stage` task holding `source` fail. Marker
    files in `marker_dir` (a folder every worker sees) count the attempts across processes."""

    source: str
    marker_dir: Path
    stage: Literal["load", "embed"] = "load"
    how: Literal["raise", "exit"] = "raise"  # "exit" kills the worker process, as a lost node would
    attempts: int = 1

    def trip(self, stage: str, sources: Iterable[str]) -> None:
        if stage != self.stage or self.source not in set(sources):
            return
        name = hashlib.blake2b(f"{stage}\x1f{self.source}".encode(), digest_size=8).hexdigest()
        for attempt in range(self.attempts):
            try:
                (self.marker_dir / f"{name}.{attempt}").touch(exist_ok=False)  # O_EXCL: one attempt each
            except FileExistsError:
                continue
            if self.how == "exit":
                os._exit(1)
            raise InjectedFault(f"injected failure {attempt + 1} of the {stage} task holding {self.source}")


# -- what runs on the workers ----------------------------------------------------------------------

_EMBEDDERS: dict[str, Embedder] = {}  # factory key -> embedder: each worker process loads a model once


def _worker_embedder(key: str, factory: Callable[[], Embedder]) -> Embedder:
    if key not in _EMBEDDERS:
        _EMBEDDERS[key] = factory()
    return _EMBEDDERS[key]


def _probe(key: str, factory: Callable[[], Embedder], fault: InjectFault | None) -> str:
    return _worker_embedder(key, factory).space


def _load_batch(
    jobs: list[FileJob], options: LoadOptions, policy: ChunkingPolicy,
    key: str, factory: Callable[[], Embedder], fault: InjectFault | None,
) -> list[FileOutcome]:
    if fault is not None:
        fault.trip("load", (job.source for job in jobs))
    tokenizer = _worker_embedder(key, factory).tokenizer  # the model itself loads on first embed
    chunk = partial(chunk_document, tokenizer=tokenizer, policy=policy, ingested_at=time.time())
    return [load_file(job, options=options, chunk=chunk) for job in jobs]


def _embed_batch(
    texts: list[str], sources: list[str], space: str,
    key: str, factory: Callable[[], Embedder], fault: InjectFault | None,
) -> np.ndarray:
    if fault is not None:
        fault.trip("embed", sources)
    embedder = _worker_embedder(key, factory)
    if embedder.space != space:
        raise ConfigError(f"the workers embed into {embedder.space!r}, the index holds {space!r}: "
                          "give the workers the embedding settings of the driver")
    return embedder.embed(texts, kind="document")


# -- the driver's side -----------------------------------------------------------------------------


class RayEngine:
    """An `ingest.sync.Engine` on the Ray cluster this process is connected to (`ray_session`).

    `embedder_factory` builds the embedder in each worker process; it must be picklable and
    give the driver's vector space, e.g. `functools.partial(assemble.open_embedder, settings)`."""

    def __init__(
        self,
        *,
        embedder_factory: Callable[[], Embedder],
        files_per_task: int = 8,
        bytes_per_task: int = 16_000_000,
        chunks_per_task: int = 128,
        window_chunks: int = 512,
        windows_in_flight: int = 4,
        tasks_ahead: int | None = None,
        max_retries: int = 3,
        fault: InjectFault | None = None,
    ) -> None:
        ray = self._ray = _import_ray()
        if not ray.is_initialized():
            raise ConfigError("the Ray engine needs a cluster: open one with ray_session(address) first")
        self.window_chunks, self.windows_in_flight = window_chunks, windows_in_flight
        self.files_per_task, self.bytes_per_task, self.chunks_per_task = files_per_task, bytes_per_task, chunks_per_task
        self.max_retries = max_retries
        self.cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self.tasks_ahead = tasks_ahead or 2 * self.cpus
        key = hashlib.sha256(ray.cloudpickle.dumps(embedder_factory)).hexdigest()
        self._shared = (key, embedder_factory, fault)  # the last arguments of every task
        retry = {"max_retries": max_retries, "retry_exceptions": list(TRANSIENT)}
        self._load_task = ray.remote(_load_batch).options(num_cpus=1, **retry)
        self._embed_task = ray.remote(_embed_batch).options(num_cpus=1, **retry)
        self._probe_task = ray.remote(_probe).options(num_cpus=1, **retry)
        self._checked_space: str | None = None
        self._computing: set[str] = set()  # content hashes an unstored window is embedding
        errors = ray.exceptions
        self._task_failures = (errors.RayTaskError, errors.WorkerCrashedError, errors.NodeDiedError,
                               errors.OutOfMemoryError)

    def check_workers(self, space: str) -> None:
        """Fail fast, before any file is read, when the workers cannot build the embedder of `space`:
        otherwise every file would be reported failed, and its indexed documents removed."""
        if self._checked_space == space:
            return
        try:
            theirs = self._ray.get(self._probe_task.remote(*self._shared))
        except self._ray.exceptions.RayError as exc:
            raise ConfigError(
                f"the Ray workers cannot build the embedder ({exc}); install dayshift, with the plugins and "
                "extras this process has, on every node (or ship it with a runtime_env)"
            ) from exc
        if theirs != space:
            raise ConfigError(f"the Ray workers embed into {theirs!r}, the index holds {space!r}: "
                              "give the engine the embedding settings of this process")
        self._checked_space = space

    # -- load ---------------------------------------------------------------

    def load(
        self, jobs: Iterable[FileJob], *, options: LoadOptions, policy: ChunkingPolicy, embedder: Embedder
    ) -> Iterator[FileOutcome]:
        """Batches of files in tasks, `tasks_ahead` of them submitted ahead; outcomes in job order."""
        submit = partial(self._submit_load, options=options, policy=policy)
        in_flight: deque[tuple[list[FileJob], Any]] = deque()
        for batch in self._batches(jobs):
            self.check_workers(embedder.space)  # once, and only when there is a file to load
            in_flight.append((batch, submit(batch)))
            if len(in_flight) >= self.tasks_ahead:
                yield from self._collect(*in_flight.popleft(), submit=submit)
        while in_flight:
            yield from self._collect(*in_flight.popleft(), submit=submit)

    def _batches(self, jobs: Iterable[FileJob]) -> Iterator[list[FileJob]]:
        batch: list[FileJob] = []
        size = 0
        for job in jobs:
            batch.append(job)
            size += job.record.size or 0
            if len(batch) >= self.files_per_task or size >= self.bytes_per_task:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch

    def _submit_load(self, batch: list[FileJob], *, options: LoadOptions, policy: ChunkingPolicy) -> Any:
        return self._load_task.remote(batch, options, policy, *self._shared)

    def _collect(self, batch: list[FileJob], ref: Any, *, submit: Callable[[list[FileJob]], Any]) -> list[FileOutcome]:
        try:
            outcomes: list[FileOutcome] = self._ray.get(ref)
            return outcomes
        except self._task_failures as exc:
            if len(batch) == 1:
                return [FileOutcome(batch[0], failure=self._task_failure(batch[0].source, exc))]
            alone = [([job], submit([job])) for job in batch]  # find the file that fails
            return [outcome for one, one_ref in alone for outcome in self._collect(one, one_ref, submit=submit)]

    def _task_failure(self, source: str, exc: Exception) -> FileFailure:
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        return FileFailure(
            source=source, kind="internal",
            reason=f"its Ray task failed, up to {self.max_retries} retries included: {first_line}",
            fix="see the Ray worker logs (`ray logs`); exclude the file with ingest.exclude if it keeps failing",
        )

    # -- embed --------------------------------------------------------------

    def embed(
        self,
        chunks: Sequence[Chunk],
        *,
        embedder: Embedder,
        cache: VectorCache | None,
        progress: Progress,
        token_ids: Sequence[Sequence[int] | None] | None = None,  # chunked in the tasks: none here
    ) -> Vectors:
        return _RayVectors(self, chunks, space=embedder.space, dim=embedder.dim, cache=cache, progress=progress)

    def _submit_embed(self, texts: list[str], sources: list[str], space: str) -> Any:
        traced = sources if self._shared[2] is not None else []  # only the test hook reads them
        return self._embed_task.remote(texts, traced, space, *self._shared)


class _RayVectors:
    """One window's vectors: cached ones read at once, the rest computed by embedding tasks.

    As `embed_cached` does locally: a text is embedded once per window, and one that an
    earlier window is still embedding is read from the cache once that window is stored
    (windows are stored oldest first), so the counts equal the local engine's."""

    def __init__(
        self, engine: RayEngine, chunks: Sequence[Chunk], *,
        space: str, dim: int, cache: VectorCache | None, progress: Progress,
    ) -> None:
        self.engine, self.space, self.dim, self.cache, self.progress = engine, space, dim, cache, progress
        self.hashes = [c.content_hash for c in chunks]
        self.found = cache.get_many(space, self.hashes) if cache else {}  # hash -> (dim,) vector
        self.texts: dict[str, tuple[str, str]] = {}  # hash -> (indexed text, source), not cached
        for chunk, h in zip(chunks, self.hashes, strict=True):
            if h not in self.found and h not in self.texts:
                self.texts[h] = (chunk.indexed_text, chunk.source)
        computing = engine._computing if cache is not None else set()
        self.later = [h for h in self.texts if h in computing]
        self.todo = [h for h in self.texts if h not in computing]
        computing.update(self.todo)
        progress.advance("embeddings", len(self.hashes) - len(self.todo))
        self.tasks = self._submit(self.todo)  # ref -> the hashes it embeds

    def _submit(self, todo: list[str]) -> dict[Any, list[str]]:
        by_length = sorted(todo, key=lambda h: len(self.texts[h][0]), reverse=True)  # less padding
        # a small window (the last one) is still spread over every worker
        step = max(MIN_CHUNKS_PER_TASK, min(self.engine.chunks_per_task, -(-len(todo) // self.engine.cpus)))
        tasks = {}
        for start in range(0, len(by_length), step):
            part = by_length[start : start + step]
            texts, sources = [self.texts[h][0] for h in part], [self.texts[h][1] for h in part]
            tasks[self.engine._submit_embed(texts, sources, self.space)] = part
        return tasks

    def ready(self) -> bool:
        refs = list(self.tasks)
        return not refs or len(self.engine._ray.wait(refs, num_returns=len(refs), timeout=0)[0]) == len(refs)

    def result(self) -> tuple[np.ndarray, int]:
        try:
            self._gather(self.tasks)
        finally:
            self.engine._computing.difference_update(self.todo)
        if self.later and self.cache is not None:
            self.found.update(self.cache.get_many(self.space, self.later))
            missing = [h for h in self.later if h not in self.found]  # only after an earlier window failed
            self._gather(self._submit(missing))
        if not self.hashes:
            return np.empty((0, self.dim), dtype=np.float32), 0
        return np.stack([self.found[h] for h in self.hashes]).astype(np.float32, copy=False), len(self.todo)

    def _gather(self, tasks: dict[Any, list[str]]) -> None:
        """Wait for `tasks`, storing each batch's vectors in the cache as it comes back."""
        ray, pending = self.engine._ray, list(tasks)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            hashes = tasks[done[0]]
            try:
                vectors = np.asarray(ray.get(done[0]), dtype=np.float32)
            except ray.exceptions.RayError as exc:
                raise EmbeddingError(
                    f"an embedding task failed, up to {self.engine.max_retries} retries included ({exc}); "
                    "what was stored is whole: run ingest again to finish (vectors computed so far are cached)"
                ) from exc
            if vectors.shape != (len(hashes), self.dim):
                raise EmbeddingError(f"the workers returned vectors of shape {vectors.shape}, "
                                     f"expected {(len(hashes), self.dim)}: check their embedding settings")
            if self.cache is not None:
                self.cache.put_many(self.space, hashes, vectors)
            self.found.update(zip(hashes, vectors, strict=True))
            self.progress.advance("embeddings", len(hashes))
