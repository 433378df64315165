"""Shared helpers for the BEIR benchmarks: loading, metrics, timing."""

from __future__ import annotations

import gzip
import json
import math
import statistics
from collections.abc import Iterable, Sequence
from pathlib import Path


def load_corpus(dataset: Path, *, limit: int | None = None) -> list[dict[str, str]]:
    with gzip.open(dataset / "corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        docs = [json.loads(line) for line in handle]
    return docs[:limit] if limit else docs


def load_queries(dataset: Path) -> dict[str, str]:
    with (dataset / "queries_test.jsonl").open(encoding="utf-8") as handle:
        return {q["_id"]: q["text"] for q in map(json.loads, handle)}


def load_qrels(dataset: Path, *, corpus_ids: set[str] | None = None) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    lines = (dataset / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]
    for line in lines:
        query_id, doc_id, score = line.split("\t")
        if corpus_ids is None or doc_id in corpus_ids:
            qrels.setdefault(query_id, {})[doc_id] = int(score)
    return qrels


def ndcg_at(ranked: Sequence[str], relevant: dict[str, int], k: int = 10) -> float:
    dcg = sum(1.0 / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if relevant.get(d, 0) > 0)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return dcg / ideal if ideal else 0.0


def recall_at(ranked: Sequence[str], relevant: dict[str, int], k: int = 100) -> float:
    hits = sum(1 for d in ranked[:k] if relevant.get(d, 0) > 0)
    return hits / len(relevant) if relevant else 0.0


def doc_ranking(doc_ids: Iterable[str]) -> list[str]:
    """Chunk hits -> documents, each at the rank of its best chunk."""
    return list(dict.fromkeys(doc_ids))


def percentile_ms(seconds: Sequence[float], q: float) -> float:
    ordered = sorted(seconds)
    index = min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index] * 1000.0


def median_ms(seconds: Sequence[float]) -> float:
    return statistics.median(seconds) * 1000.0
