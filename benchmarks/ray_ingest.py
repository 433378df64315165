"""One corpus ingested by one process (the local engine) and by Ray tasks, in the same run.

    python benchmarks/ray_ingest.py [--json] [--workers 2] [--limit N] [--corpus DIR]

Every run starts from an empty index and an empty embedding cache, so every chunk is
loaded, chunked and embedded. Rows:
  local cold   Ingestor.sync in this process (torch on all cores), loading the model
  local warm   again, into another empty index, with the model loaded
  ray cold     the Ray engine on a new local cluster of --workers CPUs: the time includes
               starting the worker processes and loading the model in each (not ray.init)
  ray warm     the same engine again, into another empty index: workers already loaded
Ray's workers run torch on one thread each (Ray sets OMP_NUM_THREADS=1 for a 1-CPU task),
so on a machine with as many cores as workers expect little or no speed-up: the same cores
do the same matrix products, plus the cost of moving chunks and vectors between processes.
The run also checks that the engines stored the same chunks (ids, versions, texts).

Left out: a multi-node cluster (the engine is the same; the machine here is one node).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from contextlib import closing
from functools import partial
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from dayshift.assemble import open_embedder, open_ingestor  # noqa: E402
from dayshift.embed.base import Embedder  # noqa: E402
from dayshift.ingest.report import SyncReport  # noqa: E402
from dayshift.ingest.sync import Engine  # noqa: E402
from dayshift.settings import load_settings  # noqa: E402

DEFAULT_CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "markdown_rust_book" / "src"


def ingest(root: Path, data_dir: Path, engine: Engine | None, *, embedder: Embedder) -> SyncReport:
    ingestor = open_ingestor(load_settings(data_dir=data_dir), embedder=embedder)
    try:
        return ingestor.sync(root, engine=engine)
    finally:
        ingestor.store.close()  # type: ignore[attr-defined]
        ingestor.catalog.close()
        if ingestor.cache is not None:
            ingestor.cache.close()


def stored(data_dir: Path) -> list[tuple[str, str, str]]:
    with closing(sqlite3.connect(data_dir / "index.sqlite")) as db:
        return db.execute("SELECT chunk_id, doc_version, text FROM chunks ORDER BY chunk_id").fetchall()


def row(name: str, report: SyncReport) -> dict[str, object]:
    docs, chunks = len(report.added), report.chunks_written
    return {
        "engine": name, "docs": docs, "chunks": chunks, "seconds": round(report.seconds, 2),
        "docs_per_s": round(docs / report.seconds, 2), "chunks_per_s": round(chunks / report.seconds, 2),
    }


def corpus(source: Path, work: Path, limit: int | None) -> Path:
    if limit is None:
        return source
    root = work / source.name
    root.mkdir()
    for path in sorted(p for p in source.iterdir() if p.is_file())[:limit]:
        shutil.copy(path, root / path.name)
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--limit", type=int, default=None, help="ingest only the first N files")
    parser.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray cluster")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    from dayshift.ingest.distributed import RayEngine, ray_session

    work = Path(tempfile.mkdtemp(prefix="ray-ingest-"))
    try:
        root = corpus(args.corpus, work, args.limit)
        embedder = open_embedder(load_settings())  # the driver's: in the Ray runs it only tokenizes
        rows = [row(f"local {when}", ingest(root, work / f"local-{when}", None, embedder=embedder))
                for when in ("cold", "warm")]
        started = time.perf_counter()
        with ray_session("local", num_cpus=args.workers):
            init_s = time.perf_counter() - started
            engine = RayEngine(embedder_factory=partial(open_embedder, load_settings()))
            name = f"{args.workers} workers"
            rows += [row(f"ray {when}, {name}", ingest(root, work / f"ray-{when}", engine, embedder=embedder))
                     for when in ("cold", "warm")]
        chunks = [stored(work / run) for run in ("local-cold", "local-warm", "ray-cold", "ray-warm")]
        same = all(c == chunks[0] for c in chunks)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = {"corpus": str(args.corpus), "cores": os.cpu_count(), "ray_init_s": round(init_s, 2),
               "same_chunks": same, "rows": rows}
    if args.json:
        print(json.dumps(summary, indent=2))
        return
    print(f"{args.corpus} on {os.cpu_count()} cores; ray.init {init_s:.1f}s (not in the rows); "
          f"same chunks stored: {same}")
    print(f"{'engine':<22}{'docs':>6}{'chunks':>8}{'seconds':>9}{'docs/s':>8}{'chunks/s':>10}")
    for r in rows:
        print(f"{r['engine']:<22}{r['docs']:>6}{r['chunks']:>8}{r['seconds']:>9.1f}{r['docs_per_s']:>8.2f}"
              f"{r['chunks_per_s']:>10.1f}")
    if not same:
        sys.exit("the engines stored different chunks")


if __name__ == "__main__":
    main()
