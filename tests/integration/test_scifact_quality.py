"""Retrieval quality floor on a SciFact subset, through the whole pipeline.

The subset is every document judged for the 300 test queries plus the first
400 others as distractors (about 730 documents), ingested from a JSONL export.
Floors sit a little under what this subset measured, so a regression in
analysis, chunking, embedding or fusion fails here.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from dayshift.assemble import open_embedder, open_ingestor, open_retriever
from dayshift.settings import load_settings

pytestmark = pytest.mark.slow


def _ndcg10(ranked: list[str], relevant: set[str]) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:10]) if d in relevant)
    return dcg / sum(1 / math.log2(i + 2) for i in range(min(len(relevant), 10)))


@pytest.fixture(scope="module")
def scifact_index(scifact_dir: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    import gzip

    qrels: dict[str, set[str]] = {}
    for line in (scifact_dir / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        query_id, doc_id, _ = line.split("\t")
        qrels.setdefault(query_id, set()).add(doc_id)
    judged = set().union(*qrels.values())
    with gzip.open(scifact_dir / "corpus.jsonl.gz", "rt") as handle:
        corpus = [json.loads(line) for line in handle]
    distractors = [d for d in corpus if d["_id"] not in judged][:400]
    subset = [d for d in corpus if d["_id"] in judged] + distractors
    root = tmp_path_factory.mktemp("scifact")
    (root / "export").mkdir()
    (root / "export" / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in subset))
    settings = load_settings(data_dir=root / "index")
    embedder = open_embedder(settings)
    report = open_ingestor(settings, embedder=embedder).sync(root / "export")
    assert report.ok and len(report.added) == len(subset)
    queries = {
        q["_id"]: q["text"] for q in map(json.loads, (scifact_dir / "queries_test.jsonl").read_text().splitlines())
    }
    return open_retriever(settings, embedder=embedder), queries, qrels


def _mean_ndcg(retriever, queries, qrels, mode: str) -> float:  # type: ignore[no-untyped-def]
    scores = []
    for query_id, relevant in qrels.items():
        hits = retriever.search(queries[query_id], k=50, mode=mode).hits
        ranked = list(dict.fromkeys(h.chunk.doc_id.rsplit("#", 1)[-1] for h in hits))
        scores.append(_ndcg10(ranked, relevant))
    return sum(scores) / len(scores)


def test_every_mode_clears_its_floor_and_hybrid_beats_both(scifact_index) -> None:  # type: ignore[no-untyped-def]
    retriever, queries, qrels = scifact_index
    keyword = _mean_ndcg(retriever, queries, qrels, "keyword")
    dense = _mean_ndcg(retriever, queries, qrels, "dense")
    hybrid = _mean_ndcg(retriever, queries, qrels, "hybrid")
    assert keyword >= 0.70, keyword
    assert dense >= 0.70, dense
    assert hybrid >= 0.76, hybrid
    assert hybrid > max(keyword, dense), (keyword, dense, hybrid)


def test_filters_restrict_results_to_matching_documents(scifact_index) -> None:  # type: ignore[no-untyped-def]
    retriever, _, _ = scifact_index
    from dayshift.retrieve.filters import parse_filters

    hits = retriever.search("vitamin D deficiency", k=10, where=parse_filters(["doc_id=*#4*"])).hits
    assert hits and all(h.chunk.doc_id.rsplit("#", 1)[-1].startswith("4") for h in hits)
    unfiltered = retriever.search("vitamin D deficiency", k=10).hits
    assert any(not h.chunk.doc_id.rsplit("#", 1)[-1].startswith("4") for h in unfiltered)
