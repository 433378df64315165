"""The Qdrant store against the embedded one on SciFact: BM25 agreement, and server-side against client-side fusion.

    python benchmarks/qdrant_store.py --index DATA_DIR [--dataset ../shared/data/beir/scifact] [--qdrant-url URL]

DATA_DIR is an embedded index of SciFact (what `benchmarks/beir.py` or `dayshift ingest`
builds), so both stores hold identical chunks and vectors. Its documents are copied
into a Qdrant store (local mode in memory, or --qdrant-url), then the 300 test queries run:

 1. keyword top-10: same chunks as the embedded store (set overlap), the same order,
    and nDCG@10; with the weights made before the first flush (avgdl = the default)
    and after it (avgdl = the live mean);
 2. hybrid, top-100 per list, query vectors embedded beforehand (p50 is the store's time):
    the retriever's weighted fusion (min-max, dense_weight 0.5) of the embedded store's
    lists, QdrantStore.hybrid_search (the same fusion, both lists in one request), and
    Qdrant's own fusion, DBSF and RRF (k=60), through server_hybrid_search.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _beir import doc_ranking, load_qrels, load_queries, ndcg_at

from dayshift.analysis import analyze
from dayshift.assemble import open_embedder
from dayshift.fusion import weighted_fusion
from dayshift.settings import load_settings
from dayshift.store.embedded import EmbeddedStore
from dayshift.store.qdrant import QdrantStore
from dayshift.types import Hit

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, required=True, help="data dir of an embedded SciFact index")
    parser.add_argument("--dataset", type=Path, default=REPO.parent / "shared" / "data" / "beir" / "scifact")
    parser.add_argument("--qdrant-url")
    args = parser.parse_args()
    settings = load_settings(data_dir=args.index)
    embedder = open_embedder(settings)
    embedded = EmbeddedStore(data_dir=args.index, space=embedder.space, dim=embedder.dim)
    queries = load_queries(args.dataset)
    qrels = load_qrels(args.dataset)
    client = None
    if args.qdrant_url is None:
        from qdrant_client import QdrantClient

        client = QdrantClient(location=":memory:")
    qdrant = QdrantStore(
        data_dir=Path(tempfile.mkdtemp()),
        space=embedder.space,
        dim=embedder.dim,
        url=args.qdrant_url,
        namespace="bench-scifact",
        client=client,
    )
    started = time.perf_counter()
    for doc_id, chunks, vectors in embedded.export_documents():
        qdrant.replace_document(doc_id, chunks, vectors)
    say(f"copied {qdrant.stats().chunks} chunks in {time.perf_counter() - started:.1f} s")

    want = {q: embedded.keyword_search(analyze(queries[q]), k=100) for q in qrels}
    rows = [("embedded BM25", keyword_row(want, want, qrels))]
    rows.append(
        (f"qdrant BM25, avgdl {qdrant._avgdl:.1f} (default)", keyword_row(want, search(qdrant, queries, qrels), qrels))
    )
    started = time.perf_counter()
    qdrant.flush()
    say(f"flush (reweight) {time.perf_counter() - started:.1f} s")
    rows.append(
        (f"qdrant BM25, avgdl {qdrant._avgdl:.1f} (flushed)", keyword_row(want, search(qdrant, queries, qrels), qrels))
    )
    print(f"{'keyword':<40} {'nDCG@10':>8} {'top-10 overlap':>15} {'same top-10 order':>18}")
    for name, (ndcg, overlap, same) in rows:
        print(f"{name:<40} {ndcg:>8.4f} {overlap:>15.4f} {same:>18.4f}")

    vectors = {q: embedder.embed([queries[q]], kind="query")[0] for q in qrels}
    weights = [1.0 - settings.retrieve.dense_weight, settings.retrieve.dense_weight]
    terms = {q: analyze(queries[q]) for q in qrels}
    fused = {
        "weighted (retriever), embedded store": lambda q: weighted_fusion(
            [embedded.keyword_search(terms[q], k=100), embedded.dense_search(vectors[q], k=100)], k=100, weights=weights
        ),
        "weighted, qdrant hybrid_search": lambda q: qdrant.hybrid_search(terms[q], vectors[q], k=100).hits,
        "qdrant server DBSF": lambda q: qdrant.server_hybrid_search(terms[q], vectors[q], k=100),
        "qdrant server RRF k=60": lambda q: qdrant.server_hybrid_search(terms[q], vectors[q], k=100, fusion="rrf"),
    }
    print(f"\n{'hybrid (top-100 candidates per list)':<40} {'nDCG@10':>8} {'p50 ms':>8}")
    for name, run in fused.items():
        ndcgs, times = [], []
        for q, relevant in qrels.items():
            started = time.perf_counter()
            hits = run(q)
            times.append(time.perf_counter() - started)
            ndcgs.append(ndcg_at(doc_ranking(hit_document(h) for h in hits), relevant))
        print(f"{name:<40} {sum(ndcgs) / len(ndcgs):>8.4f} {sorted(times)[len(times) // 2] * 1000:>8.1f}")
    qdrant.close()
    embedded.close()


def search(store: QdrantStore, queries: dict[str, str], qrels: dict[str, dict[str, int]]) -> dict[str, list[Hit]]:
    return {q: store.keyword_search(analyze(queries[q]), k=100) for q in qrels}


def keyword_row(
    want: dict[str, list[Hit]], got: dict[str, list[Hit]], qrels: dict[str, dict[str, int]]
) -> tuple[float, float, float]:
    """(nDCG@10, mean top-10 set overlap with `want`, share of queries with the same top-10 order)."""
    ndcg = sum(ndcg_at(doc_ranking(hit_document(h) for h in got[q]), qrels[q]) for q in qrels) / len(qrels)
    overlap = same = 0.0
    for q in qrels:
        a, b = want[q][:10], got[q][:10]
        overlap += len({h.chunk.chunk_id for h in a} & {h.chunk.chunk_id for h in b}) / max(1, len(a))
        # a swap of two hits tied to 1e-4 is no difference (as in tests/contract/test_congruence.py)
        same += len(a) == len(b) and all(
            x.chunk.chunk_id == y.chunk.chunk_id or abs(x.score - y.score) <= 1e-4 for x, y in zip(a, b)
        )
    return ndcg, overlap / len(qrels), same / len(qrels)


def hit_document(hit: Hit) -> str:
    return str(hit.chunk.metadata.get("_id", hit.chunk.doc_id.split("#")[-1]))


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
