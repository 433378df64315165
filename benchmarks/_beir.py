"""Shared helpers for the BEIR benchmarks: loading, metrics, timing."""

from __future__ import annotations

import gzip
import json
import math
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path


def _open(dataset: Path, *names: str):  # type: ignore[no-untyped-def]
    """The first of `names` in the dataset folder (plain or .gz), opened as text."""
    for name in names:
        for path in (dataset / name, dataset / f"{name}.gz"):
            if path.is_file():
                return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")
    raise FileNotFoundError(f"{dataset}: none of {', '.join(names)} (.gz or not); is this a BEIR dataset folder?")


def load_corpus(dataset: Path, *, limit: int | None = None) -> list[dict[str, str]]:
    """corpus.jsonl(.gz): {"_id", "title", "text"} per line, as BEIR ships it (ids may repeat texts)."""
    with _open(dataset, "corpus.jsonl") as handle:
        docs = [json.loads(line) for line in handle if line.strip()]
    return docs[:limit] if limit else docs


def load_queries(dataset: Path) -> dict[str, str]:
    """queries_test.jsonl when the folder has the test split alone, else BEIR's queries.jsonl."""
    with _open(dataset, "queries_test.jsonl", "queries.jsonl") as handle:
        return {q["_id"]: q["text"] for q in map(json.loads, handle) if q}


def load_qrels(dataset: Path, *, corpus_ids: set[str] | None = None) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    lines = (dataset / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]
    for line in lines:
        query_id, doc_id, score = line.split("\t")
        if corpus_ids is None or doc_id in corpus_ids:
            qrels.setdefault(query_id, {})[doc_id] = int(score)
    return qrels


def ndcg_at(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    """nDCG@k with graded gains (the qrels' scores, as pytrec_eval and BEIR compute it); 0-scored qrels
    count for nothing."""
    dcg = sum(max(relevant.get(d, 0), 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    gains = sorted((g for g in relevant.values() if g > 0), reverse=True)[:k]
    ideal = sum(g / math.log2(i + 2) for i, g in enumerate(gains))
    return dcg / ideal if ideal else 0.0


def recall_at(ranked: Sequence[str], relevant: dict[str, int], k: int = 100) -> float:
    wanted = {d for d, g in relevant.items() if g > 0}
    return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0


def beir_ranking(doc_ids: Iterable[str], *, query_id: str, aliases: dict[str, list[str]] | None = None) -> list[str]:
    """Chunk hits -> documents as BEIR ranks them: each document at the rank of its best chunk, followed by
    the documents dropped as its duplicates (`aliases`: kept id -> duplicate ids, the same text), and never
    the query's own id (BEIR's ignore_identical_ids: a query that is itself a corpus document)."""
    ranked: list[str] = []
    for doc_id in dict.fromkeys(doc_ids):
        for one in (doc_id, *(aliases or {}).get(doc_id, ())):
            if one != query_id and one not in ranked:
                ranked.append(one)
    return ranked


def doc_ranking(doc_ids: Iterable[str]) -> list[str]:
    """Chunk hits -> documents, each at the rank of its best chunk."""
    return list(dict.fromkeys(doc_ids))


def percentile_ms(seconds: Sequence[float], q: float) -> float:
    ordered = sorted(seconds)
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index] * 1000.0


def median_ms(seconds: Sequence[float]) -> float:
    return statistics.median(seconds) * 1000.0


# Published nDCG@10 and recall@100 on each dataset's test split, for the table's "publ." columns:
# keyword = BM25 (Elasticsearch) in the BEIR paper (Thakur et al., 2021, tables 2 and 9); dense =
# all-MiniLM-L6-v2 on the MTEB leaderboard (nDCG@10 only; MTEB's CQADupStack is the 12 forums' mean).
PUBLISHED: dict[str, dict[str, dict[str, float]]] = {
    name: {"keyword": {"ndcg_at_10": bm25, "recall_at_100": bm25_recall}, "dense": {"ndcg_at_10": minilm}}
    for name, (bm25, bm25_recall, minilm) in {
        "scifact": (0.665, 0.908, 0.6451),
        "nfcorpus": (0.325, 0.250, 0.3159),
        "fiqa": (0.236, 0.539, 0.3687),
        "arguana": (0.315, 0.942, 0.5017),
        "scidocs": (0.158, 0.356, 0.2164),
        "trec-covid": (0.656, 0.498, 0.4725),
        "quora": (0.789, 0.973, 0.8756),
        "webis-touche2020": (0.367, 0.538, 0.1690),
        "climate-fever": (0.213, 0.436, 0.2027),
        "dbpedia-entity": (0.313, 0.398, 0.3233),
        "nq": (0.329, 0.760, 0.4387),
        "hotpotqa": (0.603, 0.740, 0.4651),
        "fever": (0.753, 0.931, 0.5193),
    }.items()
}
