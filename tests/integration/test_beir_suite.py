"""benchmarks/beir.py --datasets: two small BEIR-layout datasets through the whole pipeline, one summary."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import beir
import beir_suite

DOCS = [
    ("d1", "Tides", "The moon's gravity pulls the oceans and makes the tides rise and fall twice a day."),
    ("d2", "Volcanoes", "Magma rises through cracks in the crust and erupts as lava from volcanoes."),
    ("d3", "Bees", "Honey bees dance to tell the hive where the flowers with nectar are."),
    ("d4", "Owls", "Owls hunt at night and can hear the faintest rustle of a mouse in the grass."),
]


def write_dataset(folder: Path, *, query_is_document: bool) -> Path:
    folder.mkdir(parents=True)
    with gzip.open(folder / "corpus.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in DOCS)
    queries = [("q1", "why do tides rise and fall"), ("q2", "how do owls hunt at night")]
    if query_is_document:  # ArguAna-style: the query is itself a corpus document
        queries.append(("d3", DOCS[2][2]))
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": i, "text": t}) + "\n" for i, t in queries))
    (folder / "qrels").mkdir()
    rows = "q1\td1\t1\nq2\td4\t2\n" + ("d3\td3\t1\nd3\td2\t1\n" if query_is_document else "")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows, encoding="utf-8")
    return folder


@pytest.mark.slow
def test_two_datasets_one_summary_with_a_mean(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = write_dataset(tmp_path / "tiny-a", query_is_document=False)
    second = write_dataset(tmp_path / "tiny-b", query_is_document=True)
    beir_suite.main(f"{first},{second}", ["--no-peer", "--cache-dir", str(tmp_path / "cache")], as_json=True,
                    limit=None)  # fmt: skip
    results = json.loads(capsys.readouterr().out)
    assert set(results) == {"tiny-a", "tiny-b", "mean"}
    for name in ("tiny-a", "tiny-b"):
        entry = results[name]
        assert entry["deduplicated"] == 0 and entry["documents"] == len(DOCS)
        for mode in beir.MODES:
            assert set(entry[mode]) >= {"ndcg_at_10", "recall_at_100", "query_p50_ms", "query_p99_ms"}
    # d3 asks for itself and for d2: BEIR drops the hit on d3, so only d2 can count
    assert results["tiny-b"]["keyword"]["queries"] == 3
    assert results["tiny-a"]["keyword"]["recall_at_100"] == 1.0
    mean = results["mean"]
    for mode in beir.MODES:
        expected = (results["tiny-a"][mode]["ndcg_at_10"] + results["tiny-b"][mode]["ndcg_at_10"]) / 2
        assert mean[mode]["ndcg_at_10"] == pytest.approx(expected, abs=1e-4)
    assert (tmp_path / "cache" / "tiny-a-embed_cache.sqlite").is_file()  # a re-run embeds nothing


@pytest.mark.slow
def test_a_subset_is_marked_and_gets_no_published_figures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_dataset(tmp_path / "scifact", query_is_document=False)  # the name has published figures
    beir_suite.main(str(folder), ["--no-peer"], as_json=True, limit=3)
    entry = json.loads(capsys.readouterr().out)["scifact"]
    assert entry["documents"] == 3 and "published" not in entry and "first 3 documents" in entry["subset"]
    assert entry["keyword"]["queries"] == 1  # q2's only relevant document (d4) is outside the subset


def test_the_table_shows_ours_the_peer_and_the_published_figure() -> None:
    row = {"ndcg_at_10": 0.7, "recall_at_100": 0.9, "query_p50_ms": 12.0, "query_p99_ms": 20.0}
    peer = {"ndcg_at_10": 0.6, "recall_at_100": 0.8, "query_p50_ms": 30.0, "query_p99_ms": 40.0}
    entry = {m: row for m in beir.MODES} | {"deduplicated": 3, "llamaindex": {m: peer for m in beir.MODES},
                                            "published": beir_suite.PUBLISHED["scifact"]}  # fmt: skip
    text = beir_suite.table({"scifact": entry})
    keyword_line = next(line for line in text.splitlines() if line.startswith("scifact") and "keyword" in line)
    assert "0.7000" in keyword_line and "0.6000" in keyword_line and "0.665" in keyword_line and "0.908" in keyword_line


def test_an_unknown_dataset_names_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="layout.py"):
        beir_suite.resolve("no-such-set", root=tmp_path)
