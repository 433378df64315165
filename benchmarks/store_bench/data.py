"""BEIR loading, nDCG@10, the paired randomisation test, chunking and random vectors.

Part of benchmarks/store_candidates.py (run that script; see its docstring)."""

import gzip
import json
import math
from pathlib import Path

import numpy as np

from store_bench.common import DIM, K


def load_beir(path: Path, split: str = "test"):
    """(docs, queries, qrels) for a split; queries come from queries_<split>.jsonl or queries.jsonl."""
    corpus = path / "corpus.jsonl.gz"
    docs = []
    with (
        gzip.open(corpus, "rt", encoding="utf-8") if corpus.exists() else (path / "corpus.jsonl").open(encoding="utf-8")
    ) as f:
        for line in f:
            d = json.loads(line)
            docs.append((d["_id"], d.get("title") or "", d.get("text") or ""))
    qrels: dict[str, set[str]] = {}
    qrel_file = path / "qrels" / f"{split}.tsv"
    if not qrel_file.exists():
        return docs, [], {}
    with qrel_file.open(encoding="utf-8") as f:
        next(f)
        for line in f:
            qid, did, score = line.rstrip("\n").split("\t")
            if int(score) > 0:
                qrels.setdefault(qid, set()).add(did)
    qfile = path / f"queries_{split}.jsonl"
    if not qfile.exists():
        qfile = path / "queries.jsonl"
    queries = [(q["_id"], q["text"]) for q in map(json.loads, qfile.open(encoding="utf-8"))]
    queries = [(qid, t) for qid, t in queries if qid in qrels]
    return docs, queries, qrels


def ndcg_per_query(run: dict[str, list[str]], qrels: dict[str, set[str]]) -> np.ndarray:
    """nDCG@10 per query (binary relevance, log2 discount), in sorted-qid order."""
    out = []
    for qid in sorted(qrels):
        rel = qrels[qid]
        ranked = run.get(qid, [])[:K]
        dcg = sum(1.0 / math.log2(i + 2) for i, d in enumerate(ranked) if d in rel)
        idcg = sum(1.0 / math.log2(i + 2) for i in range(min(len(rel), K)))
        out.append(dcg / idcg)
    return np.array(out)


def ndcg10(run: dict[str, list[str]], qrels: dict[str, set[str]]) -> float:
    return float(ndcg_per_query(run, qrels).mean())


def paired_p(a: np.ndarray, b: np.ndarray, n: int = 20000, seed: int = 0) -> float:
    """Two-sided paired sign-flip randomisation test on per-query differences."""
    d = a - b
    if not np.any(d):
        return 1.0
    rng = np.random.default_rng(seed)
    signs = rng.choice([-1.0, 1.0], size=(n, len(d)))
    null = np.abs((signs * d).mean(axis=1))
    return float((np.sum(null >= abs(d.mean()) - 1e-12) + 1) / (n + 1))


def make_chunks(docs, n_target: int, words: int = 50, seed: int = 7):
    """SciFact split into ~50-word chunks; further copies drop 10% of words."""
    base = []
    for did, title, text in docs:
        toks = (title + "\n" + text).split()
        for i in range(0, len(toks), words):
            base.append((did, toks[i : i + words]))
    rng = np.random.default_rng(seed)
    rows = []
    copy = 0
    while len(rows) < n_target:
        for did, toks in base:
            if copy:
                keep = rng.random(len(toks)) >= 0.1
                toks = [t for t, k in zip(toks, keep) if k]
            doc_id = f"{did}~{copy}"
            rows.append(
                {
                    "id": len(rows),
                    "doc_id": doc_id,
                    "source": f"src{(int(did) * 31 + copy) % 100:02d}",
                    "title": "",
                    "text": " ".join(toks),
                }
            )
            if len(rows) >= n_target:
                break
        copy += 1
    return rows


def doc_rows(docs):
    return [
        {"id": i, "doc_id": did, "source": f"src{i % 100:02d}", "title": t, "text": x}
        for i, (did, t, x) in enumerate(docs)
    ]


def random_unit(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim), dtype=np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x
