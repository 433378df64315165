"""`dayshift finetune` and `dayshift models` through the console script, with the bundled models and a real index.

Six made-up documents (no model knows them beforehand), training questions from one eval set, and a
second eval set of other questions about the same documents to compare on. The run is tiny (short
pairs, a few steps): what is checked is the workflow -- the leakage refusal, the run record and
curves, registration as candidate, the gate, promotion that `search` picks up through
retrieve.rerank = "registry", and rollback -- not the model's quality (benchmarks/finetune.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("sentence_transformers", reason='needs the finetune extra: pip install "dayshift[finetune]"')
# Slow: two tiny training runs and a dozen CLI processes; a shared, loaded machine can take many minutes, hence the longer timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cli_runner import run

from dayshift.evals.cases import EvalCase, save_dataset

DOCS = {
    "bridges.md": "# Zorblax Bridge\n\nThe Zorblax Bridge over the river Tane was designed by Mara Quinn in 1887.\n",
    "lighthouses.md": "# Pellory Lighthouse\n\nThe Pellory Lighthouse stands on Gannet Rock; its lamp was lit in 1912.\n",
    "orchards.md": "# Quillon Orchards\n\nQuillon Orchards grow a pear called the Amber Vell in Marrow Dale.\n",
    "mines.md": "# Dunmere Mine\n\nThe Dunmere Mine produced tin until it flooded in 1931.\n",
    "canals.md": "# Hollin Canal\n\nThe Hollin Canal links Fenby to the sea through eleven locks.\n",
    "mills.md": "# Wexcombe Mill\n\nWexcombe Mill ground barley with a water wheel of sixteen feet.\n",
}
TRAIN = [("Who designed the Zorblax Bridge?", "bridges.md"), ("Where does the Pellory Lighthouse stand?",
         "lighthouses.md"), ("Which pear grows at Quillon Orchards?", "orchards.md"),
         ("What did the Dunmere Mine produce?", "mines.md"), ("How many locks has the Hollin Canal?", "canals.md"),
         ("What did Wexcombe Mill grind?", "mills.md")]
TEST = [("When did the Dunmere Mine flood?", "mines.md"), ("What river does the Zorblax Bridge cross?", "bridges.md"),
        ("When was the Pellory lamp first lit?", "lighthouses.md")]


def _cases(rows: list[tuple[str, str]], prefix: str) -> list[EvalCase]:
    return [EvalCase(id=f"{prefix}{i}", question=q, expected_answers=[], expected_sources=[f"corpus/{doc}"],
                     answerable=True) for i, (q, doc) in enumerate(rows)]


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("finetune")
    (root / "corpus").mkdir()
    for name, text in DOCS.items():
        (root / "corpus" / name).write_text(text)
    save_dataset(root / "train.jsonl", _cases(TRAIN, "t"))
    save_dataset(root / "test.jsonl", _cases(TEST, "e"))
    (root / "dayshift.toml").write_text('[retrieve]\nrerank = "registry"\n[finetune]\ntracker = "mlflow"\n')
    done = run(root / "data", "ingest", str(root / "corpus"))
    assert done.returncode == 0, done.stderr
    return root


def test_data_from_an_eval_set_then_a_leaky_run_is_refused_and_a_clean_one_registers(project: Path) -> None:
    data = project / "data"
    made = run(data, "finetune", "data", "--from-evals", str(project / "train.jsonl"), "--negatives", "2",
               "--out", str(project / "pairs.jsonl"), "--json")
    assert made.returncode == 0, made.stderr
    summary = json.loads(made.stdout)
    assert summary["examples"] == 6 and len(summary["data_hash"]) == 64
    first = json.loads((project / "pairs.jsonl").read_text().splitlines()[0])
    assert first["source"] == "eval" and first["positive_id"].startswith("corpus/") and len(first["negatives"]) == 2

    args = ["finetune", "reranker", "--pairs", str(project / "pairs.jsonl"), "--max-length", "48",
            "--batch-size", "6", "--eval-every", "1", "--validation-share", "0.34"]
    refused = run(data, *args, "--check-evals", str(project / "train.jsonl"))
    assert refused.returncode != 0 and "6 of 6 eval cases leak" in refused.stderr and "--allow-leakage" in refused.stderr

    trained = run(data, *args, "--check-evals", str(project / "test.jsonl"), "--json")
    assert trained.returncode == 0, trained.stderr
    assert "warning: 3 of 3 eval cases leak" in trained.stderr  # by passage: the same documents, other questions
    record = json.loads(trained.stdout)
    assert record["registered"] == "reranker@1" and Path(record["curve_png"]).is_file()
    assert record["tracker_run_id"] and (data / "mlruns").is_dir()
    card = json.loads(run(data, "models", "show", "reranker@1", "--json").stdout)
    assert 0.0 <= card["params"]["blend_weight"] <= 1.0 and card["params"]["max_length"] == 48


def test_compare_gates_and_promotes_search_uses_it_and_rollback_turns_it_off(project: Path) -> None:
    data, config = project / "data", ["--config", str(project / "dayshift.toml")]
    shown = run(data, "models", "show", "reranker@candidate", "--json")
    assert shown.returncode == 0, shown.stderr
    card = json.loads(shown.stdout)
    assert card["version"] == 1 and card["base_model"].endswith("model") and len(card["data_hash"]) == 64
    refused = run(data, "models", "promote", "reranker@1")
    assert refused.returncode != 0 and "has not passed the gate" in refused.stderr

    searched_off = run(data, *config, "search", "When did the Dunmere Mine flood?")
    assert searched_off.returncode != 0 and "no production re-ranker" in searched_off.stderr

    # k = 6, every document: a model trained for two steps ranks at random, and this test is about the workflow
    compared = run(data, "models", "compare", "reranker@production", "reranker@1", "--evals",
                   str(project / "test.jsonl"), "--k", "6", "--promote", "--json")
    assert compared.returncode == 0, compared.stderr + compared.stdout
    out = json.loads(compared.stdout)
    assert out["baseline"]["model"].endswith("off") and out["candidate"]["model"].endswith("-> 1")
    assert out["gate"]["gate_passed"] and out["promoted"] == "reranker@1"
    assert {"ndcg_at_k", "recall_at_k", "mrr", "latency_p50_ms", "memory_mb"} <= set(out["candidate"])

    searched = run(data, *config, "search", "When did the Dunmere Mine flood?", "--json")
    assert searched.returncode == 0, searched.stderr
    assert "corpus/mines.md" in searched.stdout

    listed = json.loads(run(data, "models", "list", "--json").stdout)
    assert listed == [{"name": "reranker", "versions": [1], "production": 1, "candidate": None, "history": []}]
    rolled = run(data, "models", "rollback", "reranker")
    assert rolled.returncode == 0 and "none (model off)" in rolled.stdout
