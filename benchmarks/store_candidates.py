"""Measure embedded (zero-setup, single-machine) search-store candidates for dayshift.

Evidence for docs/decisions/0002-embedded-store.md. Self-contained: no dayshift
imports. Optional libraries (PyStemmer, tantivy, lancedb, hnswlib, bm25s) are
skipped with a note when missing.

    python benchmarks/store_candidates.py --dataset ../shared/data/beir/scifact
    python benchmarks/store_candidates.py --dataset ... --sections keyword
    python benchmarks/store_candidates.py --dataset ... --sections dense --dense-sizes 10000
    python benchmarks/store_candidates.py --dataset ... --sections scale,ops

Sections
  keyword  BM25 quality (nDCG@10, binary qrels) and latency on BEIR SciFact for
           (a) FTS5 porter, (b) FTS5 over dayshift's own analysis, (c) tantivy,
           (d) LanceDB native FTS, (e) numpy/scipy sparse BM25 (+ bm25s if
           importable, e.g. PYTHONPATH=/tmp/bm25s), (f) term ids stored in SQLite
           with an in-memory BM25 scored at query time; then a variant grid
           (analysis, k1/b, BM25 flavour, title weight), tuned on the train
           split and reported on test with a paired randomisation test.
  dense    random unit vectors (dim 384): exact numpy vs hnswlib vs LanceDB,
           recall@10 against exact search, single-query p50/p99.
           hnswlib graphs are cached in --cache-dir (100k x M=32 takes ~4-5 min
           to build on 2 cores; run it once on its own, e.g.
           --sections dense --dense-sizes 100000 --hnsw-m 32).
  scale    ~100k chunks (SciFact split into ~50-word chunks, repeated with 10%
           word drop-out per copy): build time/RSS, on-disk size, open time in a
           new process, BM25 p50/p99 and peak RSS of the query process.
  ops      operational experiments: concurrent read during writes (SQLite WAL
           vs rollback journal, LanceDB versions, tantivy writer lock),
           delete-by-document, incremental add, metadata filter, vector storage.

Layout: this script holds the options and the loop over sections; the parts live in
benchmarks/store_bench/ (common, data, keyword_engines, bm25_engines, and one section_*
module per section, with the ops section's concurrency experiment in concurrency). Child
processes run this script again with --_child.

Timings: every latency figure is the median over --reps repetitions of the
per-repetition p50/p99; the machine is shared, so expect noise.

Wall time on the 2-core reference box (load average 2-5 from other work):
keyword ~2.5 min, scale ~2.5 min, ops ~4 min, dense 10k ~1.5 min; dense 100k
is 3.5-9.5 min per distribution when the hnswlib graphs are not cached, so run
the sections separately, with --workdir shared between scale and ops.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path

import numpy as np
from store_bench.common import now, peak_rss_mb
from store_bench.concurrency import child_conc
from store_bench.data import load_beir
from store_bench.section_dense import section_dense
from store_bench.section_keyword import section_keyword
from store_bench.section_ops import section_ops
from store_bench.section_scale import child_build, child_query, section_scale


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", type=Path, default=Path("../shared/data/beir/scifact"))
    ap.add_argument("--sections", default="keyword,dense,scale,ops")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--dense-sizes", default="10000,100000")
    ap.add_argument("--dense-dist", default="random,lowrank")
    ap.add_argument("--hnsw-m", default="16,32")
    ap.add_argument("--hnsw-ef", default="64,128")
    ap.add_argument("--skip-lance-ann", action="store_true")
    ap.add_argument("--scale-n", type=int, default=100_000)
    ap.add_argument("--ops-parts", default="conc,scale", help="conc: multi-process experiment; scale: 100k-chunk ops")
    ap.add_argument("--workdir", default=None, help="scratch dir (default: a fresh temp dir, removed at exit)")
    ap.add_argument("--cache-dir", default=os.path.join(tempfile.gettempdir(), "dayshift_store_bench_cache"))
    ap.add_argument("--_child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args._child:
        c = args._child
        if c[0] == "build":
            r = child_build(c[1], c[2])
        elif c[0] == "query":
            r = child_query(c[1], c[2], int(c[3]))
        elif c[0] == "conc":
            r = child_conc(*c[1:])
        elif c[0] == "baseline":
            r = {"peak_rss_mb": peak_rss_mb()}
        print(json.dumps(r))
        return

    args.dense_sizes = [int(x) for x in args.dense_sizes.split(",")]
    args.hnsw_m = [int(x) for x in args.hnsw_m.split(",")]
    args.dense_dist = args.dense_dist.split(",")
    args.hnsw_ef = [int(x) for x in args.hnsw_ef.split(",")]
    own_workdir = args.workdir is None
    if own_workdir:
        args.workdir = tempfile.mkdtemp(prefix="dayshift_store_bench_")
    os.makedirs(args.workdir, exist_ok=True)
    sections = args.sections.split(",")
    t0 = now()
    print(
        f"# dayshift embedded-store candidates  (python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, "
        f"numpy {np.__version__}, {os.cpu_count()} cpus)"
    )
    for mod in ["tantivy", "lancedb", "hnswlib", "bm25s"]:
        try:
            m = __import__(mod)
            print(f"#   {mod} {getattr(m, '__version__', '?')}")
        except ImportError:
            print(f"#   {mod} not installed")
    print(
        f"#   load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (other processes share the machine)"
    )
    docs, queries, qrels = load_beir(args.dataset)
    try:
        for s in sections:
            ts = now()
            if s == "keyword":
                _, tq, tqr = load_beir(args.dataset, "train")
                section_keyword(args, docs, queries, qrels, (tq, tqr))
            elif s == "dense":
                section_dense(args)
            elif s == "scale":
                section_scale(args, docs, queries)
            elif s == "ops":
                section_ops(args, docs, queries)
            else:
                raise SystemExit(f"unknown section {s}")
            print(
                f"\n(section {s}: {now() - ts:.0f}s; load average now {' '.join(f'{x:.1f}' for x in os.getloadavg())})"
            )
    finally:
        if own_workdir:
            shutil.rmtree(args.workdir, ignore_errors=True)
    print(f"\n(total {now() - t0:.0f}s)")


if __name__ == "__main__":
    main()
