"""How much BM25 work MaxScore pruning saves in the embedded store's KeywordIndex, on real text.

    python benchmarks/keyword_pruning.py [--chunks 50000] [--queries 200] [--json]

Chunks are the real passages of benchmarks/scale_corpus.py, recycled with its light edits past
the first copy; queries are its real questions. For each query: the postings of its terms (what
scoring every posting reads), the postings the pruned search scans (the essential terms'), and the
latency of both, alternated in this process. The top 10 of both is compared (it must be equal).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from scale_corpus import edit_text, real_passages, real_queries, shared_data  # noqa: E402

from dayshift.analysis import analyze  # noqa: E402
from dayshift.store.embedded import keyword  # noqa: E402
from dayshift.store.embedded.keyword import KeywordIndex  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    data = shared_data()
    seed = [f"{title} {text}" for title, text, _ in real_passages(data)]
    rng = np.random.default_rng(1)
    index = KeywordIndex()
    batch_ids, batch_terms = [], []
    for i in range(args.chunks):
        text = seed[i % len(seed)]
        if i >= len(seed):
            text = edit_text(text, rng, seed[(i * 7919) % len(seed)], f"rev{i // len(seed)}")
        batch_ids.append(i)
        batch_terms.append(analyze(text))
        if len(batch_ids) == 10_000:
            index.add(batch_ids, batch_terms)
            batch_ids, batch_terms = [], []
    if batch_ids:
        index.add(batch_ids, batch_terms)
    queries = [q for q in (analyze(t) for t in real_queries(data, args.queries)) if q]
    total, scanned, full_s, pruned_s, equal = [], [], [], [], 0
    for terms in queries:
        term_ids = sorted({index._vocab[t] for t in terms if t in index._vocab})
        postings = [index._postings(t) for t in term_ids]
        n = len(index)
        df = index._df[term_ids].astype(np.float32)
        counts = np.array([sum(index._vocab.get(t) == i for t in terms) for i in term_ids])
        idf = np.log1p((n - df + 0.5) / (df + 0.5)) * counts  # as KeywordIndex.search weighs them
        everything = sum(len(p) for p, _ in postings)
        prunes = len(term_ids) > 1 and everything > keyword._PRUNE_MIN_POSTINGS
        essential = (index._essential(term_ids, idf, postings, index._total_length / n, k=10, mask=None)
                     if prunes else range(len(term_ids)))  # fmt: skip
        total.append(everything)
        scanned.append(sum(len(postings[j][0]) for j in essential))
        began = time.perf_counter()
        want = index.search(terms, k=10, prune=False)
        full_s.append(time.perf_counter() - began)
        began = time.perf_counter()
        got = index.search(terms, k=10)
        pruned_s.append(time.perf_counter() - began)
        equal += got[0].tolist() == want[0].tolist()
    out = {
        "chunks": args.chunks,
        "queries": len(queries),
        "postings_of_query_terms_mean": round(float(np.mean(total))),
        "postings_scanned_pruned_mean": round(float(np.mean(scanned))),
        "share_scanned": round(float(np.sum(scanned) / np.sum(total)), 3),
        "full_p50_ms": round(float(np.percentile(full_s, 50) * 1000), 2),
        "pruned_p50_ms": round(float(np.percentile(pruned_s, 50) * 1000), 2),
        "top10_equal": f"{equal}/{len(queries)}",
    }
    print(json.dumps(out, indent=2) if args.json else out)


if __name__ == "__main__":
    main()
