"""The Ray engine against the local one, on a local Ray cluster of 2 CPUs (started once per module).

The corpus is a few chapters of the Rust book (real mdBook Markdown), an exact and a near copy of
one of them, a broken PDF and a file no loader reads. Every check compares the whole state the two
engines leave behind: the store's chunks (ids, documents, versions, texts), the catalog's documents
and files, and the report. Only the first test embeds on the workers from an empty cache; the
others start from the module's embedding cache (vectors depend on the text only), so they cost
seconds, and each embeds on the workers only what it changes.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason='the Ray engine needs Ray: pip install "dayshift[ray]"')

from dayshift.assemble import open_embedder, open_ingestor  # noqa: E402
from dayshift.embed.base import Embedder  # noqa: E402
from dayshift.errors import ConfigError, PluginError  # noqa: E402
from dayshift.ingest.distributed import InjectFault, RayEngine, ray_session  # noqa: E402
from dayshift.ingest.report import SyncReport  # noqa: E402
from dayshift.ingest.sync import Ingestor  # noqa: E402
from dayshift.settings import load_settings  # noqa: E402

CHAPTERS = (  # about 30 chunks: small chapters, one with a table, some with code listings
    "ch01-01-installation.md",
    "ch07-01-packages-and-crates.md",
    "ch16-00-concurrency.md",
    "ch03-04-comments.md",
    "ch05-00-structs.md",
    "ch14-05-extending-cargo.md",
    "ch19-00-patterns.md",
    "appendix-05-editions.md",
)
EXACT_COPY, NEAR_COPY = "copy-of-comments.md", "near-comments.md"
BROKEN, UNSUPPORTED = "broken.pdf", "cover.xyz"


# -- fixtures and helpers -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    if ray.is_initialized():
        pytest.fail("these tests start their own Ray cluster; another test left one running")
    with ray_session("local", num_cpus=2):
        yield


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return open_embedder(load_settings())


def write_corpus(root: Path, book: Path) -> None:
    root.mkdir(parents=True)
    for name in CHAPTERS:
        shutil.copy(book / name, root / name)
    comments = (book / "ch03-04-comments.md").read_text(encoding="utf-8")
    (root / EXACT_COPY).write_text(comments, encoding="utf-8")
    (root / NEAR_COPY).write_text(comments.replace("programmers", "developers", 1), encoding="utf-8")
    (root / BROKEN).write_bytes(b"%PDF-1.7\nthis is not really a PDF\n")
    (root / UNSUPPORTED).write_text("no loader reads this", encoding="utf-8")


def make_engine(**options: Any) -> RayEngine:
    # One factory for every engine, so each worker process loads the model once for the module.
    return RayEngine(embedder_factory=partial(open_embedder, load_settings()), **options)


@dataclass
class Index:
    data_dir: Path
    ingestor: Ingestor

    def sync(self, root: Path, engine: RayEngine | None = None) -> SyncReport:
        return self.ingestor.sync(root, engine=engine)

    def close(self) -> None:
        self.ingestor.store.close()  # type: ignore[attr-defined]
        self.ingestor.catalog.close()
        if self.ingestor.cache is not None:
            self.ingestor.cache.close()


@pytest.fixture
def open_index(embedder: Embedder) -> Iterator[Any]:
    opened: list[Index] = []

    def open_(data_dir: Path, *, cache_from: Path | None = None) -> Index:
        if cache_from is not None:
            data_dir.mkdir(parents=True)
            shutil.copy(cache_from, data_dir / "embed_cache.sqlite")
        index = Index(data_dir, open_ingestor(load_settings(data_dir=data_dir), embedder=embedder))
        opened.append(index)
        return index

    yield open_
    for index in opened:
        index.close()


@dataclass(frozen=True)
class Baseline:
    root: Path  # the corpus, never changed
    data_dir: Path  # the local engine's index of it
    report: SyncReport
    cache: Path  # a closed copy of its embedding cache


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory, rust_book_dir: Path, embedder: Embedder) -> Baseline:
    base = tmp_path_factory.mktemp("baseline")
    write_corpus(base / "book", rust_book_dir)
    index = Index(base / "local", open_ingestor(load_settings(data_dir=base / "local"), embedder=embedder))
    try:
        report = index.sync(base / "book")
    finally:
        index.close()
    shutil.copy(base / "local" / "embed_cache.sqlite", base / "cache.sqlite")
    return Baseline(base / "book", base / "local", report, base / "cache.sqlite")


def state(data_dir: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Everything an ingest decides, read straight from the files (timestamps and vectors left out)."""
    queries = {
        "chunks": "SELECT chunk_id, doc_id, doc_version, source, title, text, section, page, char_start, "
        "char_end, ordinal, metadata FROM chunks ORDER BY chunk_id",
        "documents": "SELECT doc_id, source, version, status, duplicate_of, fingerprint, signature, chunks "
        "FROM documents ORDER BY doc_id",
        "sources": "SELECT path, root, size, mtime_ns, file_hash, status, error_kind, error_reason "
        "FROM sources ORDER BY path",
    }
    out = {}
    for name, sql in queries.items():
        database = data_dir / ("index.sqlite" if name == "chunks" else "catalog.sqlite")
        with closing(sqlite3.connect(database)) as db:
            out[name] = db.execute(sql).fetchall()
    return out


def vectors(data_dir: Path) -> dict[str, np.ndarray]:
    with closing(sqlite3.connect(data_dir / "index.sqlite")) as db:
        rows = db.execute("SELECT chunk_id, vector FROM chunks").fetchall()
    return {chunk_id: np.frombuffer(blob, dtype="<f4") for chunk_id, blob in rows}


def decided(report: SyncReport) -> dict[str, Any]:
    """The report without its timing."""
    return {
        "counts": report.counts(),
        "added": report.added, "updated": report.updated, "deleted": report.deleted,
        "failed": report.failed, "duplicates": report.duplicates, "unsupported": report.unsupported,
    }


def count_writes(index: Index) -> list[str]:
    """The doc ids the driver writes to the store, in order, from now on."""
    written: list[str] = []
    replace_document = index.ingestor.store.replace_document

    def replace(doc_id: str, *args: Any, **kwargs: Any) -> None:
        written.append(doc_id)
        replace_document(doc_id, *args, **kwargs)

    index.ingestor.store.replace_document = replace  # type: ignore[method-assign]
    return written


def count_load_tasks(engine: RayEngine) -> list[list[str]]:
    """The sources of each load task the engine submits (Ray's own retries not included)."""
    batches: list[list[str]] = []
    submit = engine._submit_load

    def counted(batch: list[Any], **kwargs: Any) -> Any:
        batches.append([job.source for job in batch])
        return submit(batch, **kwargs)

    engine._submit_load = counted  # type: ignore[method-assign]
    return batches


# -- before a cluster ----------------------------------------------------------------------------


def test_without_ray_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(PluginError, match=r'pip install "dayshift\[ray\]"'):
        make_engine()


def test_without_a_cluster_the_engine_says_how_to_get_one() -> None:
    if ray.is_initialized():
        pytest.skip("a Ray cluster is already running in this process")
    with pytest.raises(ConfigError, match="ray_session"):
        make_engine()


# -- same results as the local engine -------------------------------------------------------------


def test_ray_ingest_equals_the_local_engine(cluster: None, baseline: Baseline, open_index: Any, tmp_path: Path) -> None:
    index = open_index(tmp_path / "ray")  # an empty cache: every vector is computed on the workers
    written = count_writes(index)
    report = index.sync(baseline.root, make_engine())

    assert decided(report) == decided(baseline.report)
    assert report.chunks_embedded == baseline.report.chunks_embedded > 20
    assert [d.doc_id for d in report.duplicates] == ["book/copy-of-comments.md", "book/near-comments.md"]
    assert [(f.source, f.kind) for f in report.failed] == [("book/broken.pdf", "malformed")]
    assert state(index.data_dir) == state(baseline.data_dir)
    assert sorted(written) == sorted(report.added)  # each document stored once
    ours, theirs = vectors(index.data_dir), vectors(baseline.data_dir)
    cosines = [float(ours[c] @ theirs[c]) for c in theirs]
    assert min(cosines) > 0.999  # the same model; batch shapes and threads differ


def test_a_second_run_changes_nothing(cluster: None, baseline: Baseline, open_index: Any, tmp_path: Path) -> None:
    index = open_index(tmp_path / "ray", cache_from=baseline.cache)
    engine = make_engine()
    first = index.sync(baseline.root, engine)
    assert (first.chunks_embedded, first.chunks_cached) == (0, baseline.report.chunks_written)
    before = state(index.data_dir)
    written = count_writes(index)

    again = index.sync(baseline.root, engine)

    counts = again.counts()
    assert [counts[k] for k in ("added", "updated", "deleted", "chunks_written", "chunks_embedded")] == [0] * 5
    assert counts["unchanged"] == len(first.added) + len(first.duplicates)
    assert [f.source for f in again.failed] == ["book/broken.pdf"]  # a failed file is tried again, and fails again
    assert written == [] and state(index.data_dir) == before


def test_a_changed_and_a_deleted_file_are_handled_as_locally(
    cluster: None, baseline: Baseline, open_index: Any, tmp_path: Path
) -> None:
    root = tmp_path / "book"
    shutil.copytree(baseline.root, root)
    local = open_index(tmp_path / "local", cache_from=baseline.cache)
    remote = open_index(tmp_path / "ray", cache_from=baseline.cache)
    engine = make_engine()
    local.sync(root), remote.sync(root, engine)

    structs = root / "ch05-00-structs.md"
    structs.write_text(structs.read_text(encoding="utf-8") + "\n## Added\n\nA new paragraph on kestrel structs.\n")
    (root / "ch19-00-patterns.md").unlink()
    (root / "ch03-04-comments.md").unlink()  # its exact and near copies are indexed in its place
    expected, report = local.sync(root), remote.sync(root, engine)

    assert decided(report) == decided(expected)
    assert report.updated == ["book/ch05-00-structs.md"]
    assert sorted(report.deleted) == ["book/ch03-04-comments.md", "book/ch19-00-patterns.md"]
    assert report.added == ["book/copy-of-comments.md"]  # the copy of a deleted original is indexed
    assert report.chunks_embedded == expected.chunks_embedded > 0  # the new section, on the workers
    assert state(remote.data_dir) == state(local.data_dir)


# -- failures -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stage", "how"),
    [("load", "raise"), ("load", "exit"), ("embed", "raise")],
    ids=["load-error", "lost-worker", "embed-error"],
)
def test_a_task_that_fails_once_is_retried_and_nothing_is_lost_or_duplicated(
    cluster: None, baseline: Baseline, open_index: Any, tmp_path: Path, stage: str, how: str
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    fault = InjectFault("book/ch05-00-structs.md", markers, stage=stage, how=how)  # type: ignore[arg-type]
    # The embed stage needs something to embed: the structs chapter's vectors are left out of the cache.
    index = open_index(tmp_path / "ray", cache_from=baseline.cache)
    if stage == "embed":
        with closing(sqlite3.connect(index.data_dir / "embed_cache.sqlite")) as db, db:
            db.execute("DELETE FROM vectors")
    written = count_writes(index)
    engine = make_engine(fault=fault)
    load_tasks = count_load_tasks(engine)

    report = index.sync(baseline.root, engine)

    assert list(markers.iterdir()), "the fault was never injected"
    assert len(load_tasks) == 2, "Ray retried the task: the engine did not have to split its batch"
    assert decided(report) | {"counts": None} == decided(baseline.report) | {"counts": None}
    assert sorted(written) == sorted(report.added)
    assert state(index.data_dir) == state(baseline.data_dir)


def test_a_file_whose_task_keeps_failing_is_reported_and_the_rest_is_ingested(
    cluster: None, baseline: Baseline, open_index: Any, tmp_path: Path
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    fault = InjectFault("book/ch05-00-structs.md", markers, how="exit", attempts=100)  # a file that kills its worker
    index = open_index(tmp_path / "ray", cache_from=baseline.cache)

    engine = make_engine(fault=fault, max_retries=1)
    load_tasks = count_load_tasks(engine)

    report = index.sync(baseline.root, engine)

    batch = next(b for b in load_tasks if "book/ch05-00-structs.md" in b)
    assert len(batch) > 1 and load_tasks[-len(batch) :] == [[source] for source in batch]  # split into files
    failed = {f.source: f for f in report.failed}
    assert set(failed) == {"book/broken.pdf", "book/ch05-00-structs.md"}
    assert failed["book/ch05-00-structs.md"].kind == "internal"
    assert "Ray task failed" in failed["book/ch05-00-structs.md"].reason
    assert sorted(report.added) == sorted(set(baseline.report.added) - {"book/ch05-00-structs.md"})
    local_chunks = [c for c in state(baseline.data_dir)["chunks"] if c[1] != "book/ch05-00-structs.md"]
    assert state(index.data_dir)["chunks"] == local_chunks


def test_workers_that_cannot_build_the_embedder_stop_the_run_before_any_file_is_touched(
    cluster: None, baseline: Baseline, open_index: Any, tmp_path: Path
) -> None:
    root = tmp_path / "book"
    shutil.copytree(baseline.root, root)
    index = open_index(tmp_path / "ray", cache_from=baseline.cache)
    index.sync(root, make_engine())
    before = state(index.data_dir)
    (root / "ch05-00-structs.md").write_text("# Structs\n\nRewritten.\n", encoding="utf-8")
    misconfigured = RayEngine(embedder_factory=partial(open_embedder, load_settings(embed={"backend": "no-such"})))

    with pytest.raises(ConfigError, match="cannot build the embedder"):
        index.sync(root, misconfigured)  # not: every changed file failed and its documents removed

    assert state(index.data_dir) == before

