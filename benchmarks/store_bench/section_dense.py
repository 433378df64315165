"""The dense section: exact numpy against hnswlib and LanceDB on random and low-rank vectors.

Part of benchmarks/store_candidates.py (run that script; see its docstring)."""

import importlib.util
import json
import math
import os
import shutil
import statistics
import tempfile
from pathlib import Path

import numpy as np

from store_bench.common import DIM, K, du, note, now, pct, print_table
from store_bench.data import random_unit


def lowrank_unit(n: int, dim: int = DIM, seed: int = 0, rank: int = 32, noise: float = 0.3) -> np.ndarray:
    """Synthetic 'embedding-like' vectors: a random rank-32 subspace plus 30% isotropic noise, unit norm.

    Indicative only: real sentence embeddings also have a low intrinsic dimension, which is what makes
    graph ANN indexes reach high recall on them; uniform random vectors are the worst case.
    """
    basis = np.random.default_rng(12345).standard_normal((rank, dim), dtype=np.float32)
    rng = np.random.default_rng(seed)
    y = rng.standard_normal((n, rank), dtype=np.float32) @ basis
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    e = rng.standard_normal((n, dim), dtype=np.float32)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    x = y + noise * e
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def blas_limit(n):
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(n)
    except ImportError:
        import contextlib

        return contextlib.nullcontext()


def section_dense(args):
    out: list[list] = []
    cache = Path(args.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    for dist in args.dense_dist:
        for n in args.dense_sizes:
            dense_one(args, dist, n, cache, out)
    print_table(
        f"Dense ANN, unit vectors dim {DIM}, 200 queries, single-query latency, recall@10 vs exact "
        "(random = uniform on the sphere, worst case; lowrank = rank-32 + noise, embedding-like)",
        ["N dist", "method", "build s", "recall@10", "p50 ms", "p99 ms", "disk MB"],
        out,
    )


def dense_one(args, dist: str, n: int, cache: Path, out: list[list], nq: int = 200) -> None:
    gen = {"random": random_unit, "lowrank": lowrank_unit}[dist]
    X = gen(n, DIM, seed=0)
    Q = gen(nq, DIM, seed=1)
    gt = np.argsort(-(Q @ X.T), axis=1)[:, :K]
    tag = f"{n} {dist}"

    def measure(fn, reps=args.reps):
        p50s, p99s = [], []
        got = None
        for _ in range(reps):
            lat = []
            got = []
            for q in Q:
                t = now()
                got.append(fn(q))
                lat.append((now() - t) * 1000)
            a, b_ = pct(lat)
            p50s.append(a)
            p99s.append(b_)
        rec = float(np.mean([len(set(map(int, g)) & set(t.tolist())) / K for g, t in zip(got, gt)]))
        return rec, statistics.median(p50s), statistics.median(p99s)

    def exact(q):
        s = X @ q
        top = np.argpartition(-s, K)[:K]
        return top[np.argsort(-s[top])]

    for threads, label in [(1, "1 BLAS thread"), (os.cpu_count(), "default BLAS threads")]:
        with blas_limit(threads):
            rec, p50, p99 = measure(exact)
        out.append(
            [
                tag,
                f"exact numpy matmul float32, {label}",
                "-",
                f"{rec:.3f}",
                f"{p50:.2f}",
                f"{p99:.2f}",
                f"{X.nbytes / 1e6:.0f} (raw)",
            ]
        )
    t = now()
    for i in range(0, nq, 50):
        s_ = Q[i : i + 50] @ X.T
        np.argpartition(-s_, K, axis=1)
    out.append(
        [tag, "exact numpy, batches of 50 queries", "-", "1.000", f"{(now() - t) * 1000 / nq:.2f} (per q)", "-", "-"]
    )
    note(f"dense {tag}: exact p50={p50:.2f}ms")
    if importlib.util.find_spec("hnswlib") is None:
        note("hnswlib missing: skipped")
    else:
        for M in args.hnsw_m:
            index, build_s, load_s, f = hnsw_cached(cache, dist, n, M, X)
            index.set_num_threads(1)
            for ef in args.hnsw_ef:
                index.set_ef(ef)
                rec, p50, p99 = measure(lambda q, index=index: index.knn_query(q, k=K, num_threads=1)[0][0])
                out.append(
                    [
                        tag,
                        f"hnswlib M={M} efC=200 ef={ef}",
                        f"{build_s:.1f} (2 thr)",
                        f"{rec:.3f}",
                        f"{p50:.3f}",
                        f"{p99:.3f}",
                        f"{du(f) / 1e6:.0f} (load {load_s:.2f}s)",
                    ]
                )
                note(f"hnswlib {tag} M={M} ef={ef}: recall={rec:.3f} p50={p50:.3f}ms")
    if args.skip_lance_ann:
        return
    try:
        import lancedb
        import pyarrow as pa
    except ImportError:
        note("lancedb missing: skipped")
        return
    d = Path(tempfile.mkdtemp(prefix="lv_", dir=args.workdir))
    tbl = lancedb.connect(str(d)).create_table(
        "v",
        data=pa.table(
            {"id": pa.array(np.arange(n)), "vector": pa.FixedSizeListArray.from_arrays(pa.array(X.reshape(-1)), DIM)}
        ),
    )

    def lsearch(q, **kw):
        s_ = tbl.search(q).distance_type("dot").limit(K).select(["id", "_distance"])
        for k_, v in kw.items():
            s_ = getattr(s_, k_)(v)
        return s_.to_arrow()["id"].to_numpy()

    flat_reps = args.reps if n < 50_000 else 1  # ~0.2 s/query at 100k: one pass is enough
    rec, p50, p99 = measure(lsearch, reps=flat_reps)
    out.append(
        [
            tag,
            f"LanceDB flat (no index){'' if flat_reps == args.reps else ', 1 rep'}",
            "-",
            f"{rec:.3f}",
            f"{p50:.2f}",
            f"{p99:.2f}",
            f"{du(d) / 1e6:.0f}",
        ]
    )
    parts = max(1, round(math.sqrt(n)))
    for itype, extra, qkw_list in [
        ("IVF_PQ", {"num_sub_vectors": 48}, [{"nprobes": 20}, {"nprobes": 20, "refine_factor": 10}]),
        ("IVF_HNSW_SQ", {}, [{"nprobes": 20}]),
    ]:
        t = now()
        try:
            tbl.create_index(metric="dot", index_type=itype, num_partitions=parts, replace=True, **extra)
        except Exception as e:  # noqa: BLE001
            note(f"lancedb {itype} failed: {e}")
            continue
        bs = now() - t
        for qkw in qkw_list:
            rec, p50, p99 = measure(lambda q, qkw=qkw: lsearch(q, **qkw))
            out.append(
                [
                    tag,
                    f"LanceDB {itype} parts={parts} " + " ".join(f"{a}={b}" for a, b in qkw.items()),
                    f"{bs:.1f}",
                    f"{rec:.3f}",
                    f"{p50:.2f}",
                    f"{p99:.2f}",
                    f"{du(d) / 1e6:.0f}",
                ]
            )
            note(f"lance {itype} {tag} {qkw}: recall={rec:.3f} p50={p50:.2f}ms")
    shutil.rmtree(d, ignore_errors=True)


def hnsw_cached(cache: Path, dist: str, n: int, M: int, X: np.ndarray):
    """hnswlib graph (efC=200) for X, from --cache-dir when built before: (index, build_s, load_s, file)."""
    import hnswlib

    f = cache / f"hnsw_{dist}_n{n}_M{M}_ef200.bin"
    meta = cache / f"hnsw_{dist}_n{n}_M{M}_ef200.json"
    index = hnswlib.Index(space="ip", dim=DIM)
    if f.exists() and meta.exists():
        t = now()
        index.load_index(str(f), max_elements=n)
        load_s = now() - t
        note(f"hnswlib {dist} n={n} M={M} loaded from cache ({load_s:.1f}s); build time from cache meta")
        return index, json.loads(meta.read_text())["build_s"], load_s, f
    note(f"hnswlib {dist} n={n} M={M}: building ...")
    index.init_index(max_elements=n, ef_construction=200, M=M, random_seed=0)
    index.set_num_threads(2)
    t = now()
    index.add_items(X, np.arange(n))
    build_s = now() - t
    index.save_index(str(f))
    meta.write_text(json.dumps({"build_s": build_s}))
    t = now()
    hnswlib.Index(space="ip", dim=DIM).load_index(str(f), max_elements=n)
    return index, build_s, now() - t, f
