"""The ops section: deletes, incremental adds, filters and vector storage at scale.

Part of benchmarks/store_candidates.py (run that script; see its docstring)."""

import importlib.util
import json
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path

import numpy as np

from store_bench.bm25_engines import CountIndex, SparseBM25, TermStoreBM25, time_queries
from store_bench.common import DIM, K, du, mb, note, now, print_table
from store_bench.concurrency import conc_experiment, fmt_conc, med_ms
from store_bench.data import doc_rows, random_unit
from store_bench.keyword_engines import Analyzer, Fts5, Lance, Tantivy, fts_or_query
from store_bench.section_scale import load_rows, prepare_scale, run_child, store_path


def section_ops(args, docs, queries):
    Path(args.cache_dir).mkdir(parents=True, exist_ok=True)
    has = {m: importlib.util.find_spec(m) is not None for m in ["tantivy", "lancedb", "hnswlib"]}
    an = Analyzer("nltk179", "english", "w1")
    tmp = Path(tempfile.mkdtemp(prefix="ops_", dir=args.workdir))
    conc_rows = []

    # ---- (1) concurrent readers and writers, small store (SciFact docs) so contention is visible
    rows_small = doc_rows(docs)
    for journal in ["wal", "delete"] if "conc" in args.ops_parts else []:
        p = tmp / f"conc_{journal}.db"
        e = Fts5("stems", an)
        e.build(rows_small, str(p))
        e.close()
        con = sqlite3.connect(p)
        con.execute(f"PRAGMA journal_mode={journal.upper()}")
        con.close()
        for wait in ["nowait", "wait5s"]:
            kind = f"sqlite_{journal}_{wait}"
            res = conc_experiment(args, kind, p, ["reader", "writer", "writer"])
            for role, r in res:
                conc_rows.append(
                    [
                        f"SQLite journal={journal.upper()} busy_timeout={'0' if wait == 'nowait' else '5s'}",
                        role,
                        fmt_conc(r),
                    ]
                )
    if has["lancedb"] and "conc" in args.ops_parts:
        p = tmp / "conc_lance"
        Lance().build(rows_small, str(p))
        for role, r in conc_experiment(args, "lancedb", p, ["reader", "writer", "writer"]):
            conc_rows.append(["LanceDB (read_consistency_interval=0)", role, fmt_conc(r)])
        import lancedb

        tbl = lancedb.connect(str(p)).open_table("chunks")
        st = tbl.stats()
        frag = st.get("fragment_stats", {}).get("num_fragments") if isinstance(st, dict) else None
        t = now()
        tbl.optimize()
        conc_rows.append(
            [
                "LanceDB after writes",
                "-",
                (
                    f"{len(tbl.list_versions())} versions, {frag} fragments; "
                    f"optimize() {now() - t:.2f}s; unindexed rows before optimize are brute-force scanned"
                ),
            ]
        )
    if has["tantivy"] and "conc" in args.ops_parts:
        p = tmp / "conc_tantivy"
        Tantivy("en_stem").build(rows_small, str(p))
        for role, r in conc_experiment(args, "tantivy", p, ["reader", "writer", "writer2"]):
            conc_rows.append(["tantivy", role, fmt_conc(r)])
    if conc_rows:
        print_table(
            "Ops (1): one reader + two writers in separate processes for 4 s (5 chunks per write txn)",
            ["store", "process", "result"],
            conc_rows,
        )
    if "scale" not in args.ops_parts:
        shutil.rmtree(tmp, ignore_errors=True)
        return

    # ---- (2)-(6) at scale
    work = prepare_scale(args, docs, queries)
    rows = load_rows(work)
    n = len(rows)
    for name in ["fts5_stems", "fts5_porter"] + (["tantivy"] if has["tantivy"] else []):
        if not Path(store_path(work, name)).exists():
            note(f"ops: building {name} (run --sections scale first to reuse)")
            run_child(args, "build", name, work)
    V = random_unit(n, DIM, seed=0)  # same seed as the dense section -> hnswlib cache is reusable
    src = np.array([int(r["source"][3:]) for r in rows], dtype=np.int16)
    docs_by_id: dict[str, list[int]] = {}
    for r in rows:
        docs_by_id.setdefault(r["doc_id"], []).append(r["id"])
    victims = [d for d in list(docs_by_id)[1000 : 1000 + 20 * 97 : 97]]
    qtexts = [t for _, t in queries]
    ops = []

    # SQLite design store: copy stems.db, add vectors table
    dbp = tmp / "design.db"
    shutil.copy(store_path(work, "fts5_stems"), dbp)
    con = sqlite3.connect(dbp, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    size0 = os.path.getsize(dbp)
    t = now()
    con.execute("BEGIN")
    con.execute("CREATE TABLE vec(id INTEGER PRIMARY KEY, v BLOB)")
    con.executemany("INSERT INTO vec VALUES(?,?)", ((i, V[i].tobytes()) for i in range(n)))
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    ops.append(
        [
            "vectors",
            "SQLite BLOB table, float32",
            f"insert {n} vectors {now() - t:.1f}s; +{mb(os.path.getsize(dbp) - size0)} MB on disk",
        ]
    )
    for _rep in range(2):
        t = now()
        c2 = sqlite3.connect(dbp)
        ids, blobs = zip(*c2.execute("SELECT id, v FROM vec ORDER BY id"))
        M = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), DIM)
        load_s = now() - t
        c2.close()
    ops.append(["startup", "SQLite vec BLOBs -> numpy matrix", f"{load_s:.2f}s for {n} x {DIM} (warm page cache)"])
    del M

    # (2) delete-by-document
    def sql_delete(i):
        d = victims[i]
        con.execute("BEGIN")
        con.execute("DELETE FROM fts WHERE rowid IN (SELECT id FROM chunks WHERE doc_id=?)", (d,))
        con.execute("DELETE FROM vec WHERE id IN (SELECT id FROM chunks WHERE doc_id=?)", (d,))
        con.execute("DELETE FROM chunks WHERE doc_id=?", (d,))
        con.execute("COMMIT")

    m, mx = med_ms(sql_delete, len(victims))
    ops.append(
        [
            "(2) delete doc",
            "SQLite (b): chunks + FTS5 + vec rows, 1 txn",
            f"median {m:.2f} ms, max {mx:.1f} ms ({len(docs_by_id[victims[0]])} chunks/doc)",
        ]
    )
    pcon = sqlite3.connect(store_path(work, "fts5_porter"), isolation_level=None)

    def sql_delete_ext(i):
        d = victims[i]
        pcon.execute("BEGIN")
        pcon.execute("INSERT INTO fts(fts, rowid, body) SELECT 'delete', id, body FROM chunks WHERE doc_id=?", (d,))
        pcon.execute("DELETE FROM chunks WHERE doc_id=?", (d,))
        pcon.execute("COMMIT")

    m, mx = med_ms(sql_delete_ext, len(victims))
    ops.append(
        ["(2) delete doc", "SQLite (a): external-content FTS5 'delete' + chunks", f"median {m:.2f} ms, max {mx:.1f} ms"]
    )
    if has["tantivy"]:
        tv = Tantivy("en_stem")
        tv.open(store_path(work, "tantivy"))
        w = tv.index.writer(heap_size=100_000_000, num_threads=1)

        def tv_delete(i):
            w.delete_documents_by_term("doc_id", victims[i])
            w.commit()

        m, mx = med_ms(tv_delete, len(victims))
        ops.append(
            ["(2) delete doc", "tantivy delete_documents_by_term + commit", f"median {m:.1f} ms, max {mx:.1f} ms"]
        )
    lance_tbl = None
    if has["lancedb"]:
        lp = tmp / "lance_ops"
        t = now()
        le = Lance()
        le.build(rows, str(lp), vectors=V)
        lance_build = now() - t
        lance_tbl = le.tbl
        ops.append(["size", "LanceDB text + vectors + FTS index", f"{mb(du(lp))} MB; build {lance_build:.1f}s"])

        def lance_delete(i):
            lance_tbl.delete(f"doc_id = '{victims[i]}'")

        m, mx = med_ms(lance_delete, len(victims))
        ops.append(
            [
                "(2) delete doc",
                "LanceDB table.delete(doc_id = X)",
                f"median {m:.1f} ms, max {mx:.1f} ms (each = new version)",
            ]
        )
    hnsw = None
    if has["hnswlib"]:
        import hnswlib

        f = Path(args.cache_dir) / f"hnsw_random_n{n}_M16_ef200.bin"
        hnsw = hnswlib.Index(space="ip", dim=DIM)
        if f.exists():
            t = now()
            hnsw.load_index(str(f), max_elements=n + 1000, allow_replace_deleted=False)
            ops.append(
                ["startup", f"hnswlib load_index N={n} M=16", f"{now() - t:.2f}s, file {mb(f.stat().st_size)} MB"]
            )
        else:
            note(f"ops: no cached hnswlib graph for n={n}; building M=16 (slow; run --sections dense first)")
            hnsw.init_index(max_elements=n + 1000, ef_construction=200, M=16, random_seed=0)
            hnsw.set_num_threads(2)
            t = now()
            hnsw.add_items(V, np.arange(n))
            ops.append(["build", f"hnswlib N={n} M=16 efC=200", f"{now() - t:.1f}s"])
            hnsw.save_index(str(f))
            Path(str(f)[:-4] + ".json").write_text(json.dumps({"build_s": now() - t}))
        hnsw.set_ef(64)
        hnsw.set_num_threads(1)

        def hn_delete(i):
            for cid in docs_by_id[victims[i]]:
                hnsw.mark_deleted(cid)

        m, mx = med_ms(hn_delete, len(victims))
        ops.append(["(2) delete doc", "hnswlib mark_deleted (tombstone, in memory)", f"median {m:.3f} ms"])
    t = now()
    counts = CountIndex(an, rows)
    spe = SparseBM25(counts)
    full_build = now() - t
    alive = np.ones(n, bool)

    def sp_delete(i):
        alive[docs_by_id[victims[i]]] = False
        spe.alive = alive

    m, _ = med_ms(sp_delete, len(victims))
    t = now()
    SparseBM25(counts)
    rebuild = now() - t
    ops.append(
        [
            "(2) delete doc",
            "numpy sparse: tombstone mask (idf/avgdl stale)",
            f"median {m:.3f} ms; exact removal = rebuild scores {rebuild:.2f}s (from cached counts)",
        ]
    )

    # (3) incremental add of one document (5 chunks)
    new_texts = [rows[i]["text"] for i in range(5)]

    def sql_add(i):
        base = 50_000_000 + i * 10
        con.execute("BEGIN")
        for j, text in enumerate(new_texts):
            rid = base + j
            con.execute("INSERT INTO chunks VALUES(?,?,?,?,?)", (rid, f"new{i}", "src01", "", text))
            con.execute("INSERT INTO fts(rowid, body) VALUES(?,?)", (rid, " ".join(an(text))))
            con.execute("INSERT INTO vec VALUES(?,?)", (rid, V[j].tobytes()))
        con.execute("COMMIT")

    m, mx = med_ms(sql_add, 20)
    ops.append(
        ["(3) add doc", "SQLite (b): analyse + chunks + FTS5 + vec, 1 txn", f"median {m:.2f} ms, max {mx:.1f} ms"]
    )
    if has["tantivy"]:
        import tantivy

        def tv_add(i):
            for j, text in enumerate(new_texts):
                w.add_document(
                    tantivy.Document(id=60_000_000 + i * 10 + j, doc_id=f"new{i}", source="src01", body=text)
                )
            w.commit()

        m, mx = med_ms(tv_add, 20)
        tv.index.reload()
        ops.append(
            [
                "(3) add doc",
                "tantivy add 5 + commit",
                f"median {m:.1f} ms, max {mx:.1f} ms; segments now {tv.index.searcher().num_segments}",
            ]
        )
    if lance_tbl is not None:

        def lance_add(i):
            lance_tbl.add(
                [
                    {
                        "id": 70_000_000 + i * 10 + j,
                        "doc_id": f"new{i}",
                        "source": "src01",
                        "body": text,
                        "vector": V[j],
                    }
                    for j, text in enumerate(new_texts)
                ]
            )

        m, mx = med_ms(lance_add, 20)
        _, p50_before, _ = time_queries(
            lambda q, k: (
                lance_tbl.search(q.replace('"', " "), query_type="fts").limit(k).select(["id", "_score"]).to_arrow()
            ),
            [(str(i), t) for i, t in enumerate(qtexts[:100])],
            1,
        )
        t = now()
        lance_tbl.optimize()
        opt = now() - t
        _, p50_after, _ = time_queries(
            lambda q, k: (
                lance_tbl.search(q.replace('"', " "), query_type="fts").limit(k).select(["id", "_score"]).to_arrow()
            ),
            [(str(i), t) for i, t in enumerate(qtexts[:100])],
            1,
        )
        ops.append(
            [
                "(3) add doc",
                "LanceDB table.add(5 rows)",
                (
                    f"median {m:.1f} ms, max {mx:.1f} ms; FTS p50 {p50_before:.1f} ms "
                    f"with 100 unindexed rows -> optimize() {opt:.1f}s -> {p50_after:.1f} ms"
                ),
            ]
        )
    if hnsw is not None:

        def hn_add(i):
            hnsw.add_items(V[i * 5 : (i + 1) * 5], np.arange(n + i * 5, n + (i + 1) * 5))

        m, mx = med_ms(hn_add, 20)
        ops.append(["(3) add doc", "hnswlib add_items(5 vectors), M=16 efC=200", f"median {m:.2f} ms, max {mx:.1f} ms"])
        t = now()
        f2 = tmp / "h.bin"
        hnsw.save_index(str(f2))
        ops.append(["persist", "hnswlib save_index (full rewrite)", f"{now() - t:.2f}s, {mb(f2.stat().st_size)} MB"])
    ops.append(
        [
            "(3) add doc",
            "numpy sparse: no incremental add; rebuild",
            f"analyse+count+score all {n} chunks {full_build:.1f}s; scores only {rebuild:.2f}s",
        ]
    )

    # (4) metadata filter: source = X (~1% of chunks) for keyword and dense
    fl = []
    fq = [(str(i), t) for i, t in enumerate(qtexts)]
    sql_unf = "SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT ?"
    sql_f = (
        "SELECT fts.rowid FROM fts JOIN chunks ON chunks.id = fts.rowid WHERE fts MATCH ? AND chunks.source = ? "
        "ORDER BY rank LIMIT ?"
    )

    def fts_s(text, k, filt=None):
        q = fts_or_query(an(text))
        if filt is None:
            return [r[0] for r in con.execute(sql_unf, (q, k))]
        return [r[0] for r in con.execute(sql_f, (q, filt, k))]

    for label, fn in [("none", lambda t, k: fts_s(t, k)), ("source=src07 (~1%)", lambda t, k: fts_s(t, k, "src07"))]:
        res, p50, p99 = time_queries(fn, fq, args.reps)
        fl.append(["FTS5 (b) + JOIN chunks", label, f"{p50:.2f}", f"{p99:.2f}", ""])
    tsp = store_path(work, "termstore_lazy")
    if os.path.exists(tsp):
        ts = TermStoreBM25(an)
        ts.open(tsp)

        def ts_f(text, k, source="src07"):
            ids = np.fromiter((r[0] for r in con.execute("SELECT id FROM chunks WHERE source=?", (source,))), np.int64)
            mask = np.zeros(ts.n, bool)
            mask[ids[ids < ts.n]] = True  # row ids are positions here (0..n-1)
            return ts.search(text, k, allowed=mask)

        for label, fn in [("none", ts.search), ("source=src07 (~1%), ids from SQL per query", ts_f)]:
            res, p50, p99 = time_queries(fn, fq, args.reps)
            fl.append(["f. term-id BLOBs -> in-memory lazy BM25", label, f"{p50:.2f}", f"{p99:.2f}", ""])
    if has["tantivy"]:
        tv.index.reload()
        tv.searcher = tv.index.searcher()
        tq = tantivy.Query

        def tv_f(text, k):
            q = tv.parse(text)
            if q is None:
                return []
            qq = tq.boolean_query(
                [(tantivy.Occur.Must, tq.term_query(tv.index.schema, "source", "src07")), (tantivy.Occur.Must, q)]
            )
            return tv.search(text, k, query=qq)

        for label, fn in [("none", tv.search), ("source=src07 (~1%)", tv_f)]:
            res, p50, p99 = time_queries(fn, fq, args.reps)
            fl.append(["tantivy", label, f"{p50:.2f}", f"{p99:.2f}", ""])
    if lance_tbl is not None:
        le.tbl = lance_tbl
        for label, fn in [
            ("none", le.search),
            ("source=src07 (~1%)", lambda t, k: le.search(t, k, where="source = 'src07'")),
        ]:
            res, p50, p99 = time_queries(fn, fq, args.reps)
            fl.append(["LanceDB FTS (prefilter)", label, f"{p50:.2f}", f"{p99:.2f}", ""])
    # dense filters
    Qv = random_unit(200, DIM, seed=1)
    dq = [(str(i), i) for i in range(len(Qv))]
    mask = src == 7
    sel_ids = np.nonzero(mask)[0]

    def exact_f(i, k, m=None):
        q = Qv[i]
        if m is None:
            s = V @ q
            top = np.argpartition(-s, k)[:k]
            return top[np.argsort(-s[top])].tolist()
        sub = V[sel_ids]  # gather + matmul (what a per-query filtered scan costs)
        s = sub @ q
        top = np.argpartition(-s, k)[:k]
        return sel_ids[top[np.argsort(-s[top])]].tolist()

    def sql_exact_f(i, k):
        q = Qv[i]
        ids, blobs = zip(
            *con.execute("SELECT c.id, v.v FROM chunks c JOIN vec v ON v.id = c.id WHERE c.source = ?", ("src07",))
        )
        sub = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), DIM)
        s = sub @ q
        top = np.argpartition(-s, k)[:k]
        return [ids[j] for j in top[np.argsort(-s[top])]]

    for label, fn in [("none", lambda i, k: exact_f(i, k)), ("source=src07 (~1%)", lambda i, k: exact_f(i, k, True))]:
        _, p50, p99 = time_queries(fn, dq, args.reps)
        fl.append(["dense exact numpy (in-memory matrix, mask)", label, f"{p50:.2f}", f"{p99:.2f}", ""])
    _, p50, p99 = time_queries(sql_exact_f, dq, args.reps)
    fl.append(
        [
            "dense exact, vectors read from SQLite per query",
            "source=src07 (~1%)",
            f"{p50:.2f}",
            f"{p99:.2f}",
            f"{len(sel_ids)} candidates",
        ]
    )
    if hnsw is not None:
        allowed = set(sel_ids.tolist())
        gt = [set(exact_f(i, K, True)) for i in range(len(Qv))]
        for ef in [64, 512]:
            hnsw.set_ef(ef)
            res, p50, p99 = time_queries(
                lambda i, k: hnsw.knn_query(Qv[i], k=k, num_threads=1, filter=lambda x: x in allowed)[0][0].tolist(),
                dq,
                1,
            )
            rec = np.mean([len(set(res[str(i)]) & gt[i]) / K for i in range(len(Qv))])
            fl.append(
                [
                    f"hnswlib filter=callable ef={ef}, 1 rep",
                    "source=src07 (~1%)",
                    f"{p50:.2f}",
                    f"{p99:.2f}",
                    f"recall@10 {rec:.3f}",
                ]
            )
        hnsw.set_ef(64)
        _, p50, p99 = time_queries(lambda i, k: hnsw.knn_query(Qv[i], k=k, num_threads=1), dq, args.reps)
        fl.append(["hnswlib ef=64", "none", f"{p50:.2f}", f"{p99:.2f}", ""])
    if lance_tbl is not None:
        for label, where in [("none", None), ("source=src07 (~1%)", "source = 'src07'")]:

            def lv(i, k, where=where):
                s = lance_tbl.search(Qv[i]).distance_type("dot").limit(k).select(["id"])
                if where:
                    s = s.where(where, prefilter=True)
                return s.to_arrow()["id"].to_pylist()

            _, p50, p99 = time_queries(lv, dq, 1)
            fl.append(["LanceDB vector flat (prefilter), 1 rep", label, f"{p50:.2f}", f"{p99:.2f}", ""])
    con.close()
    print_table(
        f"Ops (2)(3)(5)(6): {n} chunks, one document = {len(docs_by_id[victims[0]])} chunks",
        ["op", "store", "result"],
        ops,
    )
    print_table(
        f"Ops (4): metadata filter cost, {n} chunks, {len(fq)} keyword / {len(dq)} dense queries",
        ["store", "filter", "p50 ms", "p99 ms", "note"],
        fl,
    )
    shutil.rmtree(tmp, ignore_errors=True)
