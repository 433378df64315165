"""benchmarks/beir.py on a BEIR-layout dataset that is not clean: duplicates in the corpus, queries that are
corpus documents, graded and zero-scored qrels. The whole pipeline runs (real embedder, real store)."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import _beir  # noqa: E402
import beir  # noqa: E402

DOCS = [
    ("d1", "Tides", "The moon's gravity pulls the oceans and makes the tides rise and fall twice a day."),
    ("d2", "Tides", "The moon's gravity pulls the oceans and makes the tides rise and fall twice a day."),  # = d1
    ("d3", "Volcanoes", "Magma rises through cracks in the crust and erupts as lava from volcanoes."),
    ("d4", "Lava", "Lava that erupts from a volcano cools into basalt rock along the coast."),
    ("d5", "Bees", "Honey bees dance to tell the hive where the flowers with nectar are."),
]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("beir-dirty")
    with gzip.open(folder / "corpus.jsonl.gz", "wt", encoding="utf-8") as handle:
        for _id, title, text in DOCS:
            handle.write(json.dumps({"_id": _id, "title": title, "text": text}) + "\n")
    queries = [("q1", "why do the tides rise and fall"), ("d3", DOCS[2][2]), ("q5", "how do bees find flowers")]
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in queries))
    (folder / "qrels").mkdir()
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td2\t1\nd3\td4\t1\nq5\td5\t2\nq5\td3\t0\n", encoding="utf-8")
    return folder


def test_a_dirty_dataset_runs_and_says_what_was_deduplicated(dataset: Path) -> None:
    results = beir.run(dataset, limit=None, baseline=False, log=False)
    assert results["documents"] == 5 and results["deduplicated"] == 1
    for mode in beir.MODES:
        r = results[mode]
        assert r["queries"] == 3
        # q1's relevant document is the duplicate that was dropped: found through the one kept
        assert r["recall_at_100"] == 1.0, (mode, r)
    assert "deduplicated" in beir.table(results)


def test_the_query_itself_is_never_a_hit_and_aliases_rank_with_their_document() -> None:
    ranked = _beir.beir_ranking(["d3", "d1", "d3", "d4"], query_id="d3", aliases={"d1": ["d2"]})
    assert ranked == ["d1", "d2", "d4"]
    # d3 is a query that is itself a corpus document: counting it would lift nDCG by a whole rank
    assert _beir.ndcg_at(ranked, {"d4": 1}) < _beir.ndcg_at(["d4"], {"d4": 1}) == 1.0


def test_graded_ndcg_and_zero_scored_qrels() -> None:
    assert _beir.ndcg_at(["a", "b"], {"a": 2, "b": 1}) == 1.0
    assert _beir.ndcg_at(["b", "a"], {"a": 2, "b": 1}) < 1.0
    assert _beir.ndcg_at(["x"], {"a": 0}) == 0.0 and _beir.recall_at(["a"], {"a": 1, "z": 0}) == 1.0
