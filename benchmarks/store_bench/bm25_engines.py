"""BM25 scored in numpy/scipy: counts, sparse matrices, term ids kept in SQLite; bm25s; query timing.

Part of benchmarks/store_candidates.py (run that script; see its docstring)."""

import json
import os
import sqlite3
import statistics
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from store_bench.common import K, now, pct
from store_bench.keyword_engines import Analyzer


class CountIndex:
    """Token counts (title and body separately) on a shared vocabulary."""

    def __init__(self, analyzer: Analyzer, rows=None):
        self.analyzer = analyzer
        if rows is not None:
            self.fit([analyzer(r["title"]) for r in rows], [analyzer(r["text"]) for r in rows])

    def fit(self, title_toks, body_toks):
        vocab: dict[str, int] = {}

        def csr(lists):
            indptr = np.zeros(len(lists) + 1, dtype=np.int64)
            idx = []
            for i, toks in enumerate(lists):
                idx.extend(vocab.setdefault(t, len(vocab)) for t in toks)
                indptr[i + 1] = len(idx)
            return indptr, np.asarray(idx, dtype=np.int32)

        tp, ti = csr(title_toks)
        bp, bi = csr(body_toks)
        v, n = len(vocab), len(body_toks)

        def mat(indptr, idx):
            m = sp.csr_matrix((np.ones(len(idx), np.float32), idx, indptr), shape=(n, v))
            m.sum_duplicates()
            return m

        self.vocab, self.T, self.B, self.n = vocab, mat(tp, ti), mat(bp, bi), n
        return self


class SparseBM25:
    """Eager BM25 (like bm25s): per-(doc, term) scores precomputed, CSC by term."""

    def __init__(
        self, counts: CountIndex, k1=1.2, b=0.75, method="lucene", title_weight=1.0, delta=None, title_in_length=True
    ):
        # title_in_length=True: the title counts w times in tf AND in the length (= title repeated w times);
        # False: w times in tf only, length unweighted (how FTS5 applies bm25() column weights).
        self.k1, self.b, self.method, self.tw, self.til = k1, b, method, title_weight, title_in_length
        self.analyzer, self.vocab, self.n = counts.analyzer, counts.vocab, counts.n
        tf = (counts.B + counts.T * np.float32(title_weight)).tocsr()
        tf.sum_duplicates()
        tf.eliminate_zeros()
        n = self.n
        if title_in_length:
            dl = np.asarray(tf.sum(axis=1)).ravel()
        else:
            dl = np.asarray(counts.B.sum(axis=1)).ravel() + np.asarray(counts.T.sum(axis=1)).ravel()
        avgdl = dl.mean()
        df = np.bincount(tf.indices, minlength=tf.shape[1]).astype(np.float64)
        rowdl = np.repeat(dl, np.diff(tf.indptr))
        t = tf.data.astype(np.float64)
        norm = 1 - b + b * rowdl / avgdl
        if method == "lucene":  # Lucene >= 8 / bm25s default
            idf = np.log1p((n - df + 0.5) / (df + 0.5))
            s = t / (t + k1 * norm)
        elif method == "robertson_floor":  # exactly FTS5's bm25(): idf floored at 1e-6
            idf = np.log((n - df + 0.5) / (df + 0.5))
            idf[idf <= 0] = 1e-6
            s = t * (k1 + 1) / (t + k1 * norm)
        elif method == "atire":
            idf = np.log(n / df)
            s = t * (k1 + 1) / (t + k1 * norm)
        elif method == "bm25l":
            d = 0.5 if delta is None else delta
            idf = np.log((n + 1) / (df + 0.5))
            c = t / norm
            s = (k1 + 1) * (c + d) / (k1 + c + d)
        elif method == "bm25+":
            d = 1.0 if delta is None else delta
            idf = np.log((n + 1) / df)
            s = (k1 + 1) * t / (k1 * norm + t) + d
        else:
            raise ValueError(method)
        s = (s * idf[tf.indices]).astype(np.float32)
        self.S = sp.csr_matrix((s, tf.indices, tf.indptr), shape=tf.shape).tocsc()
        self.alive = None

    @property
    def label(self):
        s = f"e. numpy sparse BM25 {self.method} k1={self.k1:g} b={self.b:g} ({self.analyzer.name})"
        if self.tw != 1.0:
            s += f", title x{self.tw:g}" + ("" if self.til else " (tf only)")
        return s

    def search(self, text, k=K):
        ids = [self.vocab[t] for t in self.analyzer(text) if t in self.vocab]
        if not ids:
            return []
        ip, ind, dat = self.S.indptr, self.S.indices, self.S.data
        buf = getattr(self, "_buf", None)
        if buf is None:
            # reused accumulator: a fresh n-sized array per query costs page faults (glibc mmaps
            # allocations > 128 KiB), which at 100k docs was ~60% of the query time
            buf = self._buf = np.zeros(self.n, dtype=np.float64)
        parts = []
        for i in ids:  # within one posting list doc ids are unique, so fancy-index += is exact
            sl = slice(ip[i], ip[i + 1])
            buf[ind[sl]] += dat[sl]
            parts.append(ind[sl])
        cand = parts[0] if len(parts) == 1 else np.concatenate(parts)
        vals = buf[cand]
        buf[cand] = 0.0
        if self.alive is not None:
            vals = np.where(self.alive[cand], vals, 0.0)
        # a doc appears once per matched query term, so the top k*len(ids) entries hold >= k distinct docs
        kk = min(len(cand), k * len(ids))
        top = np.argpartition(-vals, kk - 1)[:kk] if kk < len(cand) else np.arange(len(cand))
        order = top[np.lexsort((cand[top], -vals[top]))]  # score desc, then doc id (deterministic ties)
        out, seen = [], set()
        for j in order:
            d = int(cand[j])
            if d not in seen and vals[j] > 0:
                seen.add(d)
                out.append(d)
                if len(out) == k:
                    break
        return out

    def save(self, path):
        os.makedirs(path, exist_ok=True)
        np.savez(
            Path(path) / "bm25.npz",
            data=self.S.data,
            indices=self.S.indices,
            indptr=self.S.indptr,
            shape=np.array(self.S.shape),
        )
        terms = [None] * len(self.vocab)
        for t, i in self.vocab.items():
            terms[i] = t
        (Path(path) / "vocab.json").write_text(json.dumps(terms))

    @classmethod
    def load(cls, path, analyzer):
        self = cls.__new__(cls)
        z = np.load(Path(path) / "bm25.npz")
        self.S = sp.csc_matrix((z["data"], z["indices"], z["indptr"]), shape=tuple(z["shape"]))
        self.n = self.S.shape[0]
        self.vocab = {t: i for i, t in enumerate(json.loads((Path(path) / "vocab.json").read_text()))}
        self.analyzer, self.alive = analyzer, None
        self.k1, self.b, self.method, self.tw = 1.2, 0.75, "lucene", 1.0
        return self


class TermStoreBM25:
    """The proposed design: analysed term ids per chunk stored in SQLite (uint32 BLOB), and an
    in-memory BM25 index rebuilt from them on open. Term frequencies and lengths are kept, and
    BM25 (FTS5's formula: Robertson idf floored at 1e-6) is computed at query time, so N, avgdl
    and df can change with adds/deletes without re-scoring anything."""

    label = "f. SQLite term-id BLOBs -> in-memory lazy BM25"

    def __init__(self, analyzer: Analyzer, k1=1.2, b=0.75):
        self.analyzer, self.k1, self.b = analyzer, k1, b

    def build(self, rows, path):
        con = sqlite3.connect(path)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("CREATE TABLE vocab(id INTEGER PRIMARY KEY, term TEXT UNIQUE)")
        con.execute("CREATE TABLE terms(id INTEGER PRIMARY KEY, ids BLOB)")
        vocab: dict[str, int] = {}
        an = self.analyzer
        with con:
            con.executemany(
                "INSERT INTO terms VALUES(?,?)",
                (
                    (
                        r["id"],
                        np.fromiter(
                            (
                                vocab.setdefault(t, len(vocab))
                                for t in an((r["title"] + "\n" + r["text"]) if r["title"] else r["text"])
                            ),
                            np.uint32,
                        ).tobytes(),
                    )
                    for r in rows
                ),
            )
            con.executemany("INSERT INTO vocab VALUES(?,?)", ((i, t) for t, i in vocab.items()))
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
        self.open(path)

    def open(self, path):
        con = sqlite3.connect(path)
        self.vocab = {t: i for i, t in con.execute("SELECT id, term FROM vocab")}
        ids, blobs = zip(*con.execute("SELECT id, ids FROM terms ORDER BY id"))
        con.close()
        self.row_ids = np.asarray(ids, dtype=np.int64)
        lens = np.fromiter((len(b_) // 4 for b_ in blobs), np.int64, len(blobs))
        flat = np.frombuffer(b"".join(blobs), np.uint32)
        n, v = len(blobs), max(len(self.vocab), int(flat.max()) + 1 if len(flat) else 0)
        tf = sp.csr_matrix((np.ones(len(flat), np.float32), (np.repeat(np.arange(n), lens), flat)), shape=(n, v))
        tf.sum_duplicates()
        self.tf = tf.tocsc()
        self.dl = lens.astype(np.float32)
        self.df = np.diff(self.tf.indptr).astype(np.float64)
        self.n = n
        self._buf = np.zeros(n, np.float64)
        self.refresh_stats()

    def refresh_stats(self):
        n, df = self.n, self.df
        idf = np.log((n - df + 0.5) / (df + 0.5))
        idf[idf <= 0] = 1e-6
        self.idf = idf
        self.norm = (self.k1 * (1 - self.b + self.b * self.dl / self.dl.mean())).astype(np.float32)

    def search(self, text, k=K, allowed: np.ndarray | None = None):
        qids = [self.vocab[t] for t in self.analyzer(text) if t in self.vocab]
        if not qids:
            return []
        ip, ind, dat, buf, k1 = self.tf.indptr, self.tf.indices, self.tf.data, self._buf, self.k1
        parts = []
        for i in qids:
            sl = slice(ip[i], ip[i + 1])
            d, f = ind[sl], dat[sl]
            buf[d] += self.idf[i] * f * (k1 + 1) / (f + self.norm[d])
            parts.append(d)
        cand = parts[0] if len(parts) == 1 else np.concatenate(parts)
        vals = buf[cand]
        buf[cand] = 0.0
        if allowed is not None:  # boolean mask over positions, e.g. from a SQL filter
            keep = allowed[cand]
            cand, vals = cand[keep], vals[keep]
            if not len(cand):
                return []
        kk = min(len(cand), k * len(qids))
        top = np.argpartition(-vals, kk - 1)[:kk] if kk < len(cand) else np.arange(len(cand))
        order = top[np.lexsort((cand[top], -vals[top]))]
        out, seen = [], set()
        for j in order:
            d = int(cand[j])
            if d not in seen:
                seen.add(d)
                out.append(int(self.row_ids[d]))
                if len(out) == k:
                    break
        return out

    def close(self):
        pass


def bm25s_engine(rows, analyzer, k1=1.2, b=0.75, method="lucene"):
    import bm25s

    toks = [analyzer((r["title"] + "\n" + r["text"]) if r["title"] else r["text"]) for r in rows]
    m = bm25s.BM25(k1=k1, b=b, method=method)
    m.index(toks, show_progress=False)

    class E:
        label = f"bm25s {bm25s.__version__} {method} k1={k1:g} b={b:g} ({analyzer.name})"

        def search(self, text, k=K):
            q = analyzer(text)
            if not q:
                return []
            kk = min(k, len(rows))
            res, _ = m.retrieve([q], k=kk, show_progress=False, n_threads=1)
            return res[0].tolist()

    return E()


def time_queries(search, queries, reps=3, k=K, budget_s=40.0):
    """Run all queries `reps` times (fewer if one pass exceeds budget_s/reps);
    return (results of last rep, median p50, median p99)."""
    p50s, p99s, res = [], [], {}
    t0 = now()
    for r in range(reps):
        if r and now() - t0 > budget_s * r / reps:
            break
        lat = []
        for qid, text in queries:
            t = now()
            res[qid] = search(text, k)
            lat.append((now() - t) * 1000)
        p50, p99 = pct(lat)
        p50s.append(p50)
        p99s.append(p99)
    return res, statistics.median(p50s), statistics.median(p99s)


def to_docids(res, rows):
    return {qid: [rows[i]["doc_id"] for i in ids] for qid, ids in res.items()}
