"""Hybrid retrieval at 100,000+ chunks: query latency, memory and quality at scale.

    python benchmarks/scale_pipeline.py [--chunk-tokens 48] [--json]

Builds one index from the real corpora in the shared data -- the Wikipedia
excerpt, the Rust book, the NIST and other PDFs and the beer.stackexchange
posts (and SciFact with --with-scifact) -- chunked small (48 tokens) so the
collection passes 100,000 chunks, through the whole ingest pipeline. Then, in
a fresh process (so its memory is its own), it runs the 300 SciFact test
queries in each mode and reports p50/p99 latency and peak RSS (and, with
SciFact inside, its nDCG@10 among the other 100,000 chunks).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parent))

from _beir import doc_ranking, load_corpus, load_qrels, load_queries, median_ms, ndcg_at, percentile_ms  # noqa: E402

from dayshift.assemble import open_embedder, open_ingestor, open_retriever  # noqa: E402
from dayshift.settings import load_settings  # noqa: E402

SOURCES = ("wiki_mediawiki", "markdown_rust_book/src", "pdfs", "tabular/beer_stackexchange/posts.csv")


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; unlike ru_maxrss it is not inherited across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def build(data: Path, work: Path, *, chunk_tokens: int, with_scifact: bool) -> dict[str, object]:
    roots = [data / source for source in SOURCES]
    if with_scifact:
        export = work / "scifact"
        export.mkdir(parents=True, exist_ok=True)
        corpus = load_corpus(data / "beir" / "scifact")
        (export / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus), encoding="utf-8")
        roots.append(export)
    settings = load_settings(data_dir=work / "index", ingest={"chunk_tokens": chunk_tokens, "chunk_overlap_tokens": 0})
    ingestor = open_ingestor(settings, embedder=open_embedder(settings))
    started = time.perf_counter()
    for root in roots:
        report = ingestor.sync(root)
        print(f"  {root.name}: {report.counts()}", file=sys.stderr, flush=True)
    stats = ingestor.store.stats()
    return {
        "chunks": stats.chunks,
        "documents": stats.documents,
        "ingest_s": round(time.perf_counter() - started, 1),
        "index_mb": round(stats.size_bytes / 1e6, 1),
        "ingest_peak_rss_mb": peak_rss_mb(),
    }


def query(data: Path, work: Path) -> dict[str, object]:
    """Runs in its own process: open the big index, run the SciFact test queries."""
    dataset = data / "beir" / "scifact"
    queries, qrels = load_queries(dataset), load_qrels(dataset)
    settings = load_settings(data_dir=work / "index")
    started = time.perf_counter()
    retriever = open_retriever(settings)
    retriever.search("warm up", k=10)  # loads the indexes
    results: dict[str, object] = {"open_s": round(time.perf_counter() - started, 2)}
    for mode in ("keyword", "dense", "hybrid"):
        latencies, ndcgs = [], []
        for query_id, relevant in qrels.items():
            t0 = time.perf_counter()
            hits = retriever.search(queries[query_id], k=100, mode=mode).hits  # type: ignore[arg-type]
            latencies.append(time.perf_counter() - t0)
            ranked = doc_ranking(h.chunk.doc_id.rsplit("#", 1)[-1] for h in hits if h.chunk.source.startswith("scifact/"))
            ndcgs.append(ndcg_at(ranked, relevant))
        results[mode] = {"p50_ms": round(median_ms(latencies), 2), "p99_ms": round(percentile_ms(latencies, 99), 2)}
        if any(ndcgs):
            results[mode]["scifact_ndcg_at_10"] = round(sum(ndcgs) / len(ndcgs), 4)  # type: ignore[index]
    results["query_peak_rss_mb"] = peak_rss_mb()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--chunk-tokens", type=int, default=48)
    parser.add_argument("--work", type=Path, default=None, help="build (or finish building, incrementally) here")
    parser.add_argument("--with-scifact", action="store_true", help="also ingest SciFact and score it")
    parser.add_argument("--query-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.query_only:
        print(json.dumps(query(args.data, args.work)))
        return
    work = args.work or Path(tempfile.mkdtemp(prefix="dayshift-scale-"))
    results: dict[str, object] = {"work": str(work)}
    results.update(build(args.data, work, chunk_tokens=args.chunk_tokens, with_scifact=args.with_scifact))  # incremental: a re-run only checks
    out = subprocess.run(
        [sys.executable, __file__, "--query-only", "--data", str(args.data), "--work", str(work)],
        check=True, capture_output=True, text=True,
    )
    results.update(json.loads(out.stdout.strip().splitlines()[-1]))
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for key, value in results.items():
        print(f"{key:<22}{value}")


if __name__ == "__main__":
    main()
