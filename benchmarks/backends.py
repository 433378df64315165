"""The same SciFact index on every store backend: quality must agree, speed may differ.

    python benchmarks/backends.py [--json] [--backends embedded,postgres,qdrant] [--limit N]
                                  [--postgres-url URL] [--qdrant-url URL]

Each backend gets the same ingest (the same files, chunker and vectors: the
embedding cache is warmed once first, so `ingest_s` is loading, chunking and
writing the store, the same work on every backend) and the same 300 test
queries through the same hybrid retriever. Reported per backend: nDCG@10,
ingest seconds, query p50/p99 (ms), and the top-10 overlap with the embedded
store (the baseline, in the same run). nDCG@10 must agree within 0.005.

Postgres: --postgres-url, or a throwaway PostgreSQL with pgvector started
here (dayshift.testing.pgvector_server). Qdrant: local mode under the run's
folder, or --qdrant-url.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _beir import doc_ranking, load_corpus, load_qrels, load_queries, median_ms, ndcg_at, percentile_ms  # noqa: E402

from dayshift import plugins  # noqa: E402
from dayshift.assemble import open_embedder  # noqa: E402
from dayshift.cli.progress import RichProgress  # noqa: E402
from dayshift.embed.cache import EmbeddingCache  # noqa: E402
from dayshift.ingest.catalog import Catalog  # noqa: E402
from dayshift.ingest.sync import Ingestor  # noqa: E402
from dayshift.retrieve.retriever import Retriever  # noqa: E402
from dayshift.settings import load_settings  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATASET = REPO.parent / "shared" / "data" / "beir" / "scifact"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--backends", default="embedded,postgres,qdrant")
    parser.add_argument("--limit", type=int, help="first N documents only (a smoke run)")
    parser.add_argument("--postgres-url")
    parser.add_argument("--qdrant-url")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    results = run(args.dataset, backends=backends, limit=args.limit, postgres_url=args.postgres_url,
                  qdrant_url=args.qdrant_url)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"{'backend':<10} {'nDCG@10':>8} {'ingest s':>9} {'p50 ms':>8} {'p99 ms':>8} {'top-10 overlap':>15}")
    for name, row in results.items():
        print(f"{name:<10} {row['ndcg_at_10']:>8.4f} {row['ingest_s']:>9.1f} {row['query_p50_ms']:>8.2f} "
              f"{row['query_p99_ms']:>8.2f} {row['top10_overlap_with_embedded']:>15.3f}")
    spread = max(r["ndcg_at_10"] for r in results.values()) - min(r["ndcg_at_10"] for r in results.values())
    print(f"nDCG@10 spread across backends: {spread:.4f} ({'within' if spread <= 0.005 else 'OVER'} 0.005)")


def run(dataset: Path, *, backends: list[str], limit: int | None, postgres_url: str | None,
        qdrant_url: str | None) -> dict[str, dict[str, Any]]:
    corpus = load_corpus(dataset, limit=limit)
    queries = load_queries(dataset)
    qrels = load_qrels(dataset, corpus_ids={d["_id"] for d in corpus})
    work = Path(tempfile.mkdtemp(prefix="dayshift-backends-"))
    export = work / "export" / "corpus.jsonl"
    export.parent.mkdir(parents=True)
    export.write_text("".join(json.dumps(d) + "\n" for d in corpus), encoding="utf-8")
    settings = load_settings(data_dir=work / "warm")
    embedder = open_embedder(settings)
    cache_path = work / "embed_cache.sqlite"

    def ingestor(store: Any, folder: Path) -> Ingestor:
        return Ingestor(store=store, embedder=embedder, catalog=Catalog(folder / "catalog.sqlite"),
                        cache=EmbeddingCache(cache_path), settings=settings.ingest)

    log(f"embedding {len(corpus)} documents once (the cache every backend then reads) ...")
    warm = plugins.load("stores", "embedded")(data_dir=work / "warm", space=embedder.space, dim=embedder.dim)
    with RichProgress() as progress:
        ingestor(warm, work / "warm").sync(export.parent, name="scifact", progress=progress)
    warm.close()

    results: dict[str, dict[str, Any]] = {}
    baseline: dict[str, list[str]] = {}
    with ExitStack() as stack:
        for name in backends:
            folder = work / name
            folder.mkdir()
            kwargs: dict[str, Any] = {"data_dir": folder, "space": embedder.space, "dim": embedder.dim,
                                      "namespace": "scifact"}
            if name == "postgres":
                if postgres_url is None:
                    from dayshift.testing.pgvector_server import pgvector_server

                    postgres_url = stack.enter_context(pgvector_server())
                kwargs["url"] = postgres_url
            if name == "qdrant" and qdrant_url:
                kwargs["url"] = qdrant_url
            store = plugins.load("stores", name)(**kwargs)
            stack.callback(store.close)
            log(f"{name}: ingesting ...")
            started = time.perf_counter()
            with RichProgress() as progress:
                report = ingestor(store, folder).sync(export.parent, name="scifact", progress=progress)
            ingest_s = time.perf_counter() - started
            assert report.ok and len(report.added) == len(corpus), report.counts()
            retriever = Retriever(store, embedder, settings=settings.retrieve)
            log(f"{name}: {len(qrels)} queries ...")
            row, top10 = evaluate(retriever, queries, qrels)
            if not baseline:
                baseline = top10
            overlap = [len(set(top10[q]) & set(baseline[q])) / max(1, len(baseline[q])) for q in top10]
            results[name] = {**row, "ingest_s": round(ingest_s, 2),
                             "top10_overlap_with_embedded": round(sum(overlap) / len(overlap), 4)}
    return results


def evaluate(retriever: Retriever, queries: dict[str, str], qrels: dict[str, dict[str, int]]
             ) -> tuple[dict[str, Any], dict[str, list[str]]]:
    ndcgs, latencies, top10 = [], [], {}
    for query_id, relevant in qrels.items():
        started = time.perf_counter()
        result = retriever.search(queries[query_id], k=100)
        latencies.append(time.perf_counter() - started)
        ranked = doc_ranking(h.chunk.metadata.get("_id", h.chunk.doc_id.split("#")[-1]) for h in result.hits)
        ndcgs.append(ndcg_at(ranked, relevant))
        top10[query_id] = [h.chunk.chunk_id for h in result.hits[:10]]
    return {
        "ndcg_at_10": round(sum(ndcgs) / len(ndcgs), 4),
        "query_p50_ms": round(median_ms(latencies), 2),
        "query_p99_ms": round(percentile_ms(latencies, 99), 2),
        "queries": len(latencies),
    }, top10


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
