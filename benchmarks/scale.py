"""Hybrid search at 100k to millions of chunks, per backend: latency, recall against an exact scan, memory.

    python benchmarks/scale.py --chunks 300000 [--backends embedded,postgres,qdrant_edge] [--json]
                               [--seed-chunks 4000] [--queries 200] [--work DIR] [--save results.json]
    python benchmarks/scale.py --plot a.json b.json c.json --out curves.png     # p50 and recall by size

The corpus is benchmarks/scale_corpus.py's: real text recycled with light edits, real MiniLM vectors
of the seed passages extended by calibrated mixtures, real questions, and the exact top 10 of every
query (unfiltered, and under a filter that keeps 1% and one that keeps 0.1%).

    ingest    the corpus streamed into the store (a window of documents at a time), then `flush()`
              (the HNSW build); this process's RSS sampled through it (`ingest_rss_flat`: the
              largest over the smallest sample between 20% and 100% of the ingest)
    queries   in a fresh process, so that its memory is its own (`query_rss_mb`: VmHWM): k = 10,
              100 candidates per list, the query vectors embedded beforehand (not timed)
              keyword   BM25 top 10
              dense     top 10; `dense_recall_at_10` against the exact scan
              hybrid    both lists fused by dayshift.fusion.weighted_fusion (or the store's own one-call
                        hybrid_search), as the Retriever does
              filtered  hybrid under group=7 (1% of the chunks); `filtered_recall_at_10` is the dense
                        list's against the exact filtered scan; the same at 0.1% (`filtered_0.1%`)
    ef_search the embedded store's HNSW ef chosen as the smallest reaching recall@10 0.95 on the
              first half of the queries, and reported on the second half (`ef_search_choice`)

Backends: `embedded` (dayshift's own), `postgres` (a throwaway PostgreSQL + pgvector, COPY bulk load),
`qdrant_edge` (the Qdrant engine in-process, qdrant-edge-py: its HNSW and its own BM25-style
sparse vectors with the IDF modifier). Left out: query embedding time (the same for every backend).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parent))

from scale_corpus import DEFAULT_CACHE, FILTERS, ScaleCorpus, chunk_number, load_seed

from dayshift.analysis import analyze
from dayshift.fusion import weighted_fusion
from dayshift.types import Condition, Hit

SPACE, DIM = "sentence-transformers/all-MiniLM-L6-v2", 384
K, CANDIDATES = 10, 100
EF_CHOICES = (32, 64, 96, 128, 192, 256)
PG_SERVER = {"shared_buffers": "2GB", "effective_cache_size": "8GB", "max_wal_size": "8GB", "work_mem": "64MB",
             "maintenance_work_mem": "2GB", "checkpoint_timeout": "30min"}  # fmt: skip


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


# -- backends ----------------------------------------------------------------------------------------


def open_backend(name: str, work: Path, url: str | None) -> Any:
    if name == "embedded":
        from dayshift.store.embedded import EmbeddedStore

        return EmbeddedStore(data_dir=work / "embedded", space=SPACE, dim=DIM)
    if name == "postgres":
        from dayshift.store.postgres import PostgresStore

        return PostgresStore(url=url, space=SPACE, dim=DIM, namespace="scale", pool_size=2)
    if name == "qdrant_edge":
        from qdrant_edge_backend import EdgeStore

        return EdgeStore(work / "qdrant_edge", dim=DIM)
    raise SystemExit(f"unknown backend {name!r}: use embedded, postgres or qdrant_edge")


def ingest(name: str, store: Any, corpus: ScaleCorpus) -> dict[str, Any]:
    """Stream the corpus in; RSS sampled every 0.5 s with the share of chunks done."""
    from rich.progress import Progress

    done = [0]
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.5):
            samples.append((done[0] / corpus.chunks, rss_mb()))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.perf_counter()
    with Progress(transient=True) as progress:
        task = progress.add_task(f"ingest {name}", total=corpus.chunks)
        if name == "postgres":
            def documents() -> Iterator[tuple[Sequence[Any], np.ndarray]]:
                for chunks, vectors in corpus.documents():
                    yield chunks, vectors
                    done[0] += len(chunks)
                    progress.advance(task, len(chunks))

            store.bulk_load(documents(), build_index=False)
        else:
            for chunks, vectors in corpus.documents():
                store.replace_document(chunks[0].doc_id, chunks, vectors)
                done[0] += len(chunks)
                progress.advance(task, len(chunks))
    ingest_s = time.perf_counter() - started
    build = time.perf_counter()
    if name == "postgres":
        store.build_dense_index(maintenance_work_mem="2GB", workers=2)
    else:
        store.flush()
    build_s = time.perf_counter() - build
    stop.set()
    sampler.join()
    window = [rss for share, rss in samples if share >= 0.2]
    return {
        "ingest_s": round(ingest_s, 1),
        "index_build_s": round(build_s, 1),
        "index_build_s_per_million": round(build_s * 1e6 / corpus.chunks, 1),
        "ingest_rss_mb_at_20pct": round(window[0], 1) if window else None,
        "ingest_rss_mb_at_end": round(window[-1], 1) if window else None,
        "ingest_rss_flat": round(max(window) / min(window), 3) if window else None,
        "ingest_peak_rss_mb": peak_rss_mb(),
    }


# -- queries (own process) ---------------------------------------------------------------------------


def summary(seconds: list[float]) -> tuple[float, float]:
    ms = np.array(seconds) * 1000
    return round(float(np.percentile(ms, 50)), 2), round(float(np.percentile(ms, 99)), 2)


def recall(hits: Sequence[Hit], truth: np.ndarray) -> float:
    found = {chunk_number(h.chunk.chunk_id) for h in hits}
    want = set(truth[truth >= 0].tolist())  # -1: fewer than k chunks pass the filter
    return len(found & want) / len(want) if want else 1.0


def hybrid(store: Any, terms: list[str], vector: np.ndarray, where: list[Condition]) -> list[Hit]:
    if hasattr(store, "hybrid_search"):
        return store.hybrid_search(terms, vector, k=K, where=where, candidates=CANDIDATES).hits  # type: ignore[no-any-return]
    lists = [store.keyword_search(terms, k=CANDIDATES, where=where), store.dense_search(vector, k=CANDIDATES, where=where)]
    return weighted_fusion(lists, k=K, weights=[0.5, 0.5])


def query(name: str, work: Path, url: str | None, corpus: ScaleCorpus, queries: int) -> dict[str, Any]:
    truth = corpus.ground_truth(k=K)
    texts = corpus.seed.queries[:queries]
    vectors = corpus.seed.query_vectors[:queries]
    terms = [analyze(t) for t in texts]
    started = time.perf_counter()
    store = open_backend(name, work, url)
    store.keyword_search(["warm"], k=1)
    store.dense_search(vectors[0], k=1)
    out: dict[str, Any] = {"chunks": corpus.chunks, "open_s": round(time.perf_counter() - started, 2)}

    def timed(search: Callable[[int], list[Hit]]) -> tuple[list[float], list[list[Hit]]]:
        for i in range(min(5, queries)):  # warm caches and plans
            search(i)
        seconds, results = [], []
        for i in range(queries):
            begun = time.perf_counter()
            results.append(search(i))
            seconds.append(time.perf_counter() - begun)
        return seconds, results

    if name == "embedded":
        out["ef_search_choice"] = choose_ef(store, vectors, truth["all"])
    seconds, _ = timed(lambda i: store.keyword_search(terms[i], k=K))
    out["keyword_p50_ms"], out["keyword_p99_ms"] = summary(seconds)
    seconds, found = timed(lambda i: store.dense_search(vectors[i], k=K))
    out["dense_p50_ms"], _ = summary(seconds)
    out["dense_recall_at_10"] = round(float(np.mean([recall(h, truth["all"][i]) for i, h in enumerate(found)])), 4)
    seconds, _ = timed(lambda i: hybrid(store, terms[i], vectors[i], []))
    out["hybrid_p50_ms"], out["hybrid_p99_ms"] = summary(seconds)
    for label, where in FILTERS.items():
        key = "filtered" if label == "1%" else f"filtered_{label}"
        seconds, _ = timed(lambda i, w=where: hybrid(store, terms[i], vectors[i], w))
        out[f"{key}_p50_ms"], out[f"{key}_p99_ms"] = summary(seconds)
        dense = [store.dense_search(vectors[i], k=K, where=where) for i in range(queries)]
        out[f"{key}_recall_at_10"] = round(float(np.mean([recall(h, truth[label][i]) for i, h in enumerate(dense)])), 4)
    out["query_rss_mb"] = peak_rss_mb()
    store.close()
    return out


def choose_ef(store: Any, vectors: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """The smallest ef_search with recall@10 >= 0.95 on the first half of the queries, reported on the second."""
    dense = store._dense  # the embedded store's DenseIndex (loaded by the warm-up search)
    half = len(vectors) // 2
    sweep = {}
    for ef in EF_CHOICES:
        dense.set_ef(ef)
        fit = [recall(store.dense_search(vectors[i], k=K), truth[i]) for i in range(half)]
        begun = time.perf_counter()
        held = [recall(store.dense_search(vectors[i], k=K), truth[i]) for i in range(half, len(vectors))]
        p50 = (time.perf_counter() - begun) / max(1, len(vectors) - half) * 1000
        sweep[ef] = {"fit_recall": round(float(np.mean(fit)), 4), "held_out_recall": round(float(np.mean(held)), 4),
                     "mean_ms": round(p50, 2)}  # fmt: skip
    chosen = next((ef for ef in EF_CHOICES if sweep[ef]["fit_recall"] >= 0.95), EF_CHOICES[-1])
    dense.set_ef(chosen)
    return {"chosen": chosen, "held_out_recall": sweep[chosen]["held_out_recall"], "sweep": sweep}


# -- the run -----------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    seed = load_seed(args.seed_chunks, cache=args.cache)
    corpus = ScaleCorpus(seed, args.chunks, cache=args.cache)
    began = time.perf_counter()
    corpus.ground_truth(k=K)
    print(f"ground truth: {time.perf_counter() - began:.0f} s", file=sys.stderr)
    results: dict[str, Any] = {"chunks": args.chunks, "seed_chunks": len(seed.texts), "queries": args.queries,
                               "calibration": seed.calibration, "cores": os.cpu_count()}  # fmt: skip
    for name in args.backends.split(","):
        with ExitStack() as stack:
            work = args.work / f"{name}-{args.chunks}"
            if work.exists() and not args.reuse:
                shutil.rmtree(work)
            work.mkdir(parents=True, exist_ok=True)
            url = None
            if name == "postgres":
                from dayshift.testing.pgvector_server import fresh_database, pgvector_server

                url = stack.enter_context(fresh_database(stack.enter_context(pgvector_server(PG_SERVER))))
            built: dict[str, Any] = {}
            if not (args.reuse and (work / "built.json").exists()):
                store = open_backend(name, work, url)
                built = ingest(name, store, corpus)
                store.close()
                (work / "built.json").write_text(json.dumps(built))
            else:
                built = json.loads((work / "built.json").read_text())
            child = subprocess.run(
                [sys.executable, __file__, "--query-only", name, "--chunks", str(args.chunks), "--work", str(work),
                 "--seed-chunks", str(args.seed_chunks), "--cache", str(args.cache), "--queries", str(args.queries),
                 *(["--url", url] if url else [])],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if child.returncode != 0:
                raise SystemExit(f"{name} queries failed:\n{child.stderr[-3000:]}")
            results[name] = built | json.loads(child.stdout.strip().splitlines()[-1])
            print(json.dumps({name: results[name]}), file=sys.stderr, flush=True)
            if not args.keep and not args.reuse and name != "postgres":
                shutil.rmtree(work, ignore_errors=True)
    return results


def plot(paths: list[Path], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = sorted((json.loads(p.read_text()) for p in paths), key=lambda r: r["chunks"])
    backends = [b for b in ("embedded", "postgres", "qdrant_edge") if any(b in r for r in runs)]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for backend in backends:
        have = [r for r in runs if backend in r]
        sizes = [r["chunks"] for r in have]
        for metric, style in (("hybrid_p50_ms", "-o"), ("keyword_p50_ms", "--s"), ("filtered_p50_ms", ":^")):
            axes[0].plot(sizes, [r[backend][metric] for r in have], style, label=f"{backend} {metric[:-7]}")
        axes[1].plot(sizes, [r[backend]["dense_recall_at_10"] for r in have], "-o", label=f"{backend} dense")
        axes[1].plot(sizes, [r[backend]["filtered_recall_at_10"] for r in have], ":^", label=f"{backend} filtered 1%")
    for ax, title in ((axes[0], "p50 latency (ms)"), (axes[1], "recall@10 against an exact scan")):
        ax.set_xscale("log")
        ax.set_xlabel("chunks")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[1].set_ylim(0.5, 1.01)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--backends", default="embedded,postgres,qdrant_edge")
    parser.add_argument("--seed-chunks", type=int, default=4000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "dayshift-scale")
    parser.add_argument("--keep", action="store_true", help="keep the built indexes")
    parser.add_argument("--reuse", action="store_true", help="query indexes a --keep run built")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--save", type=Path, help="also write the results to this file")
    parser.add_argument("--plot", type=Path, nargs="+", help="plot saved results instead of running")
    parser.add_argument("--out", type=Path, default=Path("scale_curves.png"))
    parser.add_argument("--query-only", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.plot:
        plot(args.plot, args.out)
        return
    if args.query_only:
        seed = load_seed(args.seed_chunks, cache=args.cache)
        corpus = ScaleCorpus(seed, args.chunks, cache=args.cache)
        print(json.dumps(query(args.query_only, args.work, args.url, corpus, args.queries)))
        return
    results = run(args)
    if args.save:
        args.save.write_text(json.dumps(results, indent=2))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        fields = ("chunks", "hybrid_p50_ms", "hybrid_p99_ms", "keyword_p50_ms", "dense_recall_at_10", "filtered_p50_ms",
                  "filtered_recall_at_10", "query_rss_mb", "ingest_rss_flat", "index_build_s_per_million")  # fmt: skip
        for backend in ("embedded", "postgres", "qdrant_edge"):
            if backend in results:
                print(backend, {f: results[backend].get(f) for f in fields})


if __name__ == "__main__":
    main()
