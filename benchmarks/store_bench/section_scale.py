"""The scale section: ~100k chunks built and queried in child processes (build time, RSS, disk).

Part of benchmarks/store_candidates.py (run that script; see its docstring)."""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np

from store_bench.bm25_engines import CountIndex, SparseBM25, TermStoreBM25, bm25s_engine, time_queries
from store_bench.common import du, mb, note, now, peak_rss_mb, print_table
from store_bench.data import make_chunks
from store_bench.keyword_engines import Analyzer, Fts5, Lance, Tantivy

ENTRY = Path(__file__).resolve().parents[1] / "store_candidates.py"  # the script children run


SCALE_ENGINES = [
    "fts5_porter",
    "fts5_stems",
    "fts5_stems_col",
    "termstore_lazy",
    "tantivy",
    "lancedb",
    "sparse_numpy",
    "sparse_numpy_rebuild",
    "bm25s",
]


def engine_for(name):
    an = Analyzer("nltk179", "english", "w1")
    if name == "fts5_porter":
        return Fts5("porter")
    if name == "fts5_stems":
        return Fts5("stems", an)
    if name == "fts5_stems_col":
        return Fts5("stems", an, detail="column")
    if name == "tantivy":
        return Tantivy("en_stem")
    if name == "termstore_lazy":
        return TermStoreBM25(an)
    if name == "lancedb":
        return Lance()
    raise ValueError(name)


def store_path(work, name):
    return str(
        Path(work)
        / {
            "fts5_porter": "porter.db",
            "fts5_stems": "stems.db",
            "fts5_stems_col": "stems_col.db",
            "termstore_lazy": "terms.db",
        }.get(name, name)
    )


def load_rows(work):
    return [json.loads(line) for line in (Path(work) / "chunks.jsonl").open()]


def child_build(name, work):
    rows = load_rows(work)
    base_rss = peak_rss_mb()
    p = store_path(work, name)
    if os.path.isdir(p):
        shutil.rmtree(p)
    elif os.path.exists(p):
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(p + suffix):
                os.remove(p + suffix)
    t = now()
    if name == "sparse_numpy":
        an = Analyzer("nltk179", "english", "w1")
        e = SparseBM25(CountIndex(an, rows))
        e.save(p)
    elif name == "bm25s":
        e = bm25s_engine(rows, Analyzer("nltk179", "english", "w1"))
        return {"build_s": now() - t, "peak_rss_mb": peak_rss_mb(), "rss_before_mb": base_rss, "bytes": 0}
    else:
        e = engine_for(name)
        e.build(rows, p)
    build_s = now() - t
    size = du(p)
    if name.startswith("fts5"):
        size_note = f"{mb(size)} (chunks {mb(e.base_bytes)} + FTS {mb(size - e.base_bytes)})"
    else:
        size_note = mb(size)
    return {
        "build_s": build_s,
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_mb": base_rss,
        "bytes": size,
        "size": size_note,
    }


def child_query(name, work, reps):
    queries = json.loads((Path(work) / "queries.json").read_text())
    rss0 = peak_rss_mb()
    t0 = now()
    if name.startswith("fts5"):
        pass
    elif name == "tantivy":
        import tantivy  # noqa: F401
    elif name == "lancedb":
        import lancedb  # noqa: F401
    elif name.startswith("sparse") or name == "bm25s":
        import Stemmer  # noqa: F401
    import_s = now() - t0
    t = now()
    an = Analyzer("nltk179", "english", "w1")
    p = store_path(work, name)
    if name == "sparse_numpy":
        e = SparseBM25.load(p, an)
    elif name == "sparse_numpy_rebuild":  # cold start without a persisted matrix: re-read stems from SQLite
        con = sqlite3.connect(store_path(work, "fts5_stems"))
        toks = [r[0].split() for r in con.execute("SELECT body FROM fts ORDER BY rowid")]
        c = CountIndex(an).fit([[] for _ in toks], toks)
        e = SparseBM25(c)
    elif name == "bm25s":
        rows = load_rows(work)
        e = bm25s_engine(rows, an)
    else:
        e = engine_for(name)
        e.open(p)
    open_s = now() - t
    t = now()
    e.search(queries[0][1])
    first_ms = (now() - t) * 1000
    _, p50, p99 = time_queries(e.search, queries, reps)
    return {
        "import_s": import_s,
        "open_s": open_s,
        "first_ms": first_ms,
        "p50": p50,
        "p99": p99,
        "peak_rss_mb": peak_rss_mb(),
        "rss_start_mb": rss0,
    }


def run_child(args, *cargs, timeout=600):
    cmd = [sys.executable, str(ENTRY), "--_child", *map(str, cargs)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if r.returncode != 0:
        raise RuntimeError(f"child {cargs} failed:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def available(name):
    mod = {"tantivy": "tantivy", "lancedb": "lancedb", "bm25s": "bm25s"}.get(name)
    if not mod:
        return True
    try:
        __import__(mod)
        return True
    except ImportError:
        return False


def prepare_scale(args, docs, queries):
    work = Path(args.workdir) / f"scale_{args.scale_n}"
    work.mkdir(parents=True, exist_ok=True)
    if not (work / "chunks.jsonl").exists():
        rows = make_chunks(docs, args.scale_n)
        with (work / "chunks.jsonl").open("w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
        (work / "queries.json").write_text(json.dumps(queries))
    return work


def section_scale(args, docs, queries):
    work = prepare_scale(args, docs, queries)
    rows = load_rows(work)
    words = np.mean([len(r["text"].split()) for r in rows])
    out = []
    for name in SCALE_ENGINES:
        if not available(name):
            note(f"{name}: library missing, skipped")
            continue
        if name == "sparse_numpy_rebuild":
            b = {"build_s": float("nan"), "peak_rss_mb": float("nan"), "size": "(from stems.db)"}
        else:
            note(f"scale: building {name} ...")
            b = run_child(args, "build", name, work)
        note(f"scale: querying {name} ...")
        qr = run_child(args, "query", name, work, args.reps)
        out.append(
            [
                name,
                f"{b['build_s']:.1f}",
                f"{b['peak_rss_mb']:.0f}",
                b.get("size", "-"),
                f"{qr['import_s']:.2f}",
                f"{qr['open_s']:.3f}",
                f"{qr['first_ms']:.1f}",
                f"{qr['p50']:.2f}",
                f"{qr['p99']:.2f}",
                f"{qr['peak_rss_mb']:.0f}",
            ]
        )
    base = run_child(args, "baseline")
    print_table(
        f"Keyword at scale: {len(rows)} chunks (~{words:.0f} words each), {len(queries)} queries; each row = fresh processes "
        f"(python+numpy baseline RSS {base['peak_rss_mb']:.0f} MB)",
        [
            "engine",
            "build s",
            "build peak RSS MB",
            "disk MB",
            "import s",
            "open s",
            "1st query ms",
            "p50 ms",
            "p99 ms",
            "query peak RSS MB",
        ],
        out,
    )
