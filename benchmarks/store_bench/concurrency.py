"""The concurrency experiment of the ops section: readers during writes, one process per role.

Part of benchmarks/store_candidates.py (run that script; see its docstring)."""

import json
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

from store_bench.common import now, pct
from store_bench.keyword_engines import Analyzer, fts_or_query

ENTRY = Path(__file__).resolve().parents[1] / "store_candidates.py"  # the script children run


def child_conc(kind, role, path, duration, seed):
    """One participant of a concurrency experiment; prints a JSON summary."""
    duration = float(duration)
    lat, errors, seen = [], {}, []
    queries = ["vitamin deficiency", "cancer cell proliferation", "insulin resistance obesity", "gene expression"]
    an = Analyzer("nltk179", "english", "w1")
    start = now()
    ops = 0
    if kind.startswith("sqlite"):
        # the journal mode (wal | delete) was set on the file by the parent
        timeout = 0.0 if kind.endswith("nowait") else 5.0
        con = sqlite3.connect(path, timeout=timeout, isolation_level=None)
        con.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
        if role == "reader":
            while now() - start < duration:
                t = now()
                try:
                    q = fts_or_query(an(queries[ops % len(queries)]))
                    con.execute("BEGIN")
                    list(con.execute("SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT 10", (q,)))
                    seen.append(con.execute("SELECT count(*) FROM chunks").fetchone()[0])
                    con.execute("COMMIT")
                    lat.append((now() - t) * 1000)
                except sqlite3.OperationalError as e:
                    errors[str(e)] = errors.get(str(e), 0) + 1
                    if con.in_transaction:
                        con.execute("ROLLBACK")
                    time.sleep(0.001)
                ops += 1
        else:
            while now() - start < duration:
                t = now()
                try:
                    con.execute("BEGIN IMMEDIATE")
                    for j in range(5):
                        # words that the reader's queries do not match, so its result sets stay the same size
                        text = f"zqxnew{ops} chunk{j} written by writer{seed} during the concurrency experiment"
                        rid = con.execute(
                            "INSERT INTO chunks(doc_id, source, title, body) VALUES(?,?,?,?)",
                            (f"w{seed}-{ops}", "srcW", "", text),
                        ).lastrowid
                        con.execute("INSERT INTO fts(rowid, body) VALUES(?,?)", (rid, " ".join(an(text))))
                    con.execute("COMMIT")
                    lat.append((now() - t) * 1000)
                except sqlite3.OperationalError as e:
                    errors[str(e)] = errors.get(str(e), 0) + 1
                    if con.in_transaction:
                        con.execute("ROLLBACK")
                    time.sleep(0.001)  # an application would back off before retrying
                ops += 1
        return {
            "ops": ops,
            "ok": len(lat),
            "errors": errors,
            "p50": pct(lat)[0] if lat else None,
            "p99": pct(lat)[1] if lat else None,
            "max_ms": max(lat) if lat else None,
            "rows_seen_growth": (seen[-1] - seen[0]) if seen else None,
        }
    if kind == "lancedb":
        import datetime

        import lancedb

        db = lancedb.connect(path, read_consistency_interval=datetime.timedelta(0))
        tbl = db.open_table("chunks")
        versions = set()
        if role == "reader":
            while now() - start < duration:
                t = now()
                try:
                    tbl.search(queries[ops % len(queries)], query_type="fts").limit(10).select(
                        ["id", "_score"]
                    ).to_arrow()
                    seen.append(tbl.count_rows())
                    versions.add(tbl.version)
                    lat.append((now() - t) * 1000)
                except Exception as e:  # noqa: BLE001
                    errors[str(e)[:120]] = errors.get(str(e)[:120], 0) + 1
                ops += 1
        else:
            base = 10_000_000 + int(seed) * 1_000_000
            while now() - start < duration:
                t = now()
                try:
                    tbl.add(
                        [
                            {
                                "id": base + ops * 5 + j,
                                "doc_id": f"w{seed}-{ops}",
                                "source": "srcW",
                                "body": f"zqxnew{ops} chunk{j} written by writer{seed}",
                            }
                            for j in range(5)
                        ]
                    )
                    lat.append((now() - t) * 1000)
                except Exception as e:  # noqa: BLE001
                    errors[str(e)[:120]] = errors.get(str(e)[:120], 0) + 1
                ops += 1
        return {
            "ops": ops,
            "ok": len(lat),
            "errors": errors,
            "p50": pct(lat)[0] if lat else None,
            "p99": pct(lat)[1] if lat else None,
            "max_ms": max(lat) if lat else None,
            "rows_seen_growth": (seen[-1] - seen[0]) if seen else None,
            "versions_seen": len(versions),
        }
    if kind == "tantivy":
        import tantivy

        idx = tantivy.Index.open(path)
        if role == "writer":
            w = idx.writer(heap_size=50_000_000, num_threads=1)
            while now() - start < duration:
                t = now()
                w.add_document(
                    tantivy.Document(id=20_000_000 + ops, doc_id=f"t{ops}", source="srcW", body=f"zqxnew{ops} chunk")
                )
                w.commit()
                lat.append((now() - t) * 1000)
                ops += 1
            return {
                "ops": ops,
                "ok": len(lat),
                "errors": errors,
                "p50": pct(lat)[0],
                "p99": pct(lat)[1],
                "max_ms": max(lat),
            }
        if role == "writer2":
            time.sleep(1.0)
            try:
                idx.writer(heap_size=50_000_000, num_threads=1)
                return {"second_writer": "opened"}
            except Exception as e:  # noqa: BLE001
                return {"second_writer": f"refused: {str(e)[:150]}"}
        while now() - start < duration:
            t = now()
            idx.reload()
            s = idx.searcher()
            seen.append(s.num_docs)
            s.search(idx.parse_query("vitamin deficiency", ["body"]), 10, count=False)
            lat.append((now() - t) * 1000)
            ops += 1
        return {
            "ops": ops,
            "ok": len(lat),
            "errors": errors,
            "p50": pct(lat)[0],
            "p99": pct(lat)[1],
            "max_ms": max(lat),
            "rows_seen_growth": seen[-1] - seen[0],
        }
    raise ValueError(kind)


def conc_experiment(args, kind, path, roles, duration=4.0):
    procs = []
    for i, role in enumerate(roles):
        cmd = [
            sys.executable,
            str(ENTRY),
            "--_child",
            "conc",
            kind,
            role,
            str(path),
            str(duration),
            str(i),
        ]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    res = []
    for role, p in zip(roles, procs):
        o, e = p.communicate(timeout=120)
        if p.returncode != 0:
            res.append((role, {"crash": e[-500:]}))
        else:
            res.append((role, json.loads(o.strip().splitlines()[-1])))
    return res


def fmt_conc(r):
    if "crash" in r:
        return "crash: " + r["crash"][-200:].replace("\n", " ")
    if "second_writer" in r:
        return "second writer: " + r["second_writer"]
    errs = sum(r["errors"].values())
    s = (
        f"{r['ok']}/{r['ops']} ok, p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, max {r['max_ms']:.0f} ms"
        if r["ok"]
        else f"0/{r['ops']} ok"
    )
    if errs:
        s += f"; {errs} errors ({'; '.join(f'{k}: {v}' for k, v in list(r['errors'].items())[:2])})"
    if r.get("rows_seen_growth") is not None:
        s += f"; reader saw +{r['rows_seen_growth']} rows"
    if r.get("versions_seen"):
        s += f" across {r['versions_seen']} versions"
    return s


def med_ms(fn, n):
    lat = []
    for i in range(n):
        t = now()
        fn(i)
        lat.append((now() - t) * 1000)
    return statistics.median(lat), max(lat)
