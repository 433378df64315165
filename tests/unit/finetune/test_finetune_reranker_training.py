"""A real training run of the cross-encoder from the bundled MiniLM weights, kept tiny (a few steps of short
pairs): the run record, the curves, MLflow's local store, the registry re-ranker, and reproducibility."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("sentence_transformers", reason='needs the finetune extra: pip install "dayshift[finetune]"')
# Slow: four tiny training runs (seconds each on an idle core); a shared, loaded machine can take many minutes, hence the longer timeout.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
pytest.importorskip("mlflow", reason='needs the finetune extra: pip install "dayshift[finetune]"')

from dayshift.finetune.data import TrainingExample, data_hash
from dayshift.finetune.registry import ModelRegistry
from dayshift.finetune.registry.reranker import RegistryReranker
from dayshift.finetune.tracking import open_tracker
from dayshift.finetune.tracking.trackers import NoTracker
from dayshift.finetune.train_reranker import RerankerConfig, train_reranker
from dayshift.retrieve.rerank_cross_encoder import CrossEncoderReranker
from dayshift.types import Chunk, Hit

TOPICS = [
    ("How do I read a file in Rust?", "Use std::fs::read_to_string to read a whole file into a String."),
    ("What is a mutable reference?", "A mutable reference, &mut T, lets you change borrowed data."),
    ("How are errors returned?", "Functions that can fail return Result<T, E>, with Ok or Err."),
    ("What does cargo build do?", "cargo build compiles the package and its dependencies."),
    ("How do I declare a constant?", "Constants are declared with const and must have a type."),
    ("What is a closure?", "Closures are anonymous functions that can capture their environment."),
]


def _examples() -> list[TrainingExample]:
    out = []
    for i, (query, positive) in enumerate(TOPICS):
        others = [p for j, (_, p) in enumerate(TOPICS) if j != i][:2]
        out.append(TrainingExample(query=query, positive=positive, positive_id=f"d{i}", negatives=tuple(others),
                                   negative_ids=("x", "y"), source="eval"))
    return out


CONFIG = RerankerConfig(epochs=2, batch_size=6, max_length=48, eval_every=2, patience=5, negatives_per_query=1,
                        seed=5, learning_rate=1e-4)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, Path]:
    root = tmp_path_factory.mktemp("ft")
    examples = _examples()
    tracker = open_tracker("mlflow", data_dir=root, experiment="test", run_name="tiny", params={"n": len(examples)})
    run = train_reranker(examples[:4], examples[4:], config=CONFIG, run_dir=root / "run", tracker=tracker,
                         progress=False)
    tracker.finish()
    return run, root


def test_the_run_records_its_steps_curves_and_data(trained: tuple[object, Path]) -> None:
    run, _ = trained
    # 4 examples x (positive + 1 negative) = 8 pairs: batches of 6 and 2, twice; validated every 2 steps
    assert run.steps == 4 and run.stop_reason == "epochs"
    assert [step for step, _ in run.history.train] == [1, 2, 3, 4]
    assert [step for step, _ in run.history.validation] == [2, 4]
    assert run.data_hash == data_hash(_examples())
    assert run.best_step is not None and run.best_validation_loss is not None
    assert run.curve_png.read_bytes()[:4] == b"\x89PNG"
    record = json.loads((run.run_dir / "run.json").read_text())
    assert record["data_hash"] == run.data_hash and record["config"]["seed"] == 5


def test_mlflow_holds_the_losses_per_step(trained: tuple[object, Path]) -> None:
    run, root = trained
    import mlflow

    from dayshift.finetune.tracking.trackers import mlflow_uri

    assert (root / "mlruns" / "mlflow.db").is_file()
    client = mlflow.tracking.MlflowClient(tracking_uri=mlflow_uri(root / "mlruns"))
    history = client.get_metric_history(run.tracker_run_id, "train_loss")
    assert [m.step for m in history] == [s for s, _ in run.history.train]
    assert client.get_metric_history(run.tracker_run_id, "validation_loss")


def test_the_saved_model_loads_as_dayshifts_cross_encoder(trained: tuple[object, Path]) -> None:
    run, _ = trained
    scores = CrossEncoderReranker(model_path=run.model_dir, max_length=48).scores("What is a closure?",
                                                                                  [TOPICS[5][1], TOPICS[3][1]])
    assert scores.shape == (2,)


def test_the_same_seed_gives_the_same_losses(trained: tuple[object, Path], tmp_path: Path) -> None:
    run, _ = trained
    again = train_reranker(_examples()[:4], _examples()[4:], config=CONFIG, run_dir=tmp_path / "again",
                           tracker=NoTracker(), progress=False)
    # history.train is (step, loss) pairs: the same steps, and the same loss at each
    assert [step for step, _ in again.history.train] == [step for step, _ in run.history.train]
    assert [loss for _, loss in again.history.train] == pytest.approx([loss for _, loss in run.history.train], rel=1e-4)
    assert [loss for _, loss in again.history.validation] == pytest.approx(
        [loss for _, loss in run.history.validation], rel=1e-4)
    # and the seed is what decides them: another seed draws another head and pair order
    other = train_reranker(_examples()[:4], _examples()[4:], config=replace(CONFIG, seed=6),
                           run_dir=tmp_path / "other", tracker=NoTracker(), progress=False)
    assert [loss for _, loss in other.history.train] != pytest.approx([loss for _, loss in run.history.train],
                                                                       rel=1e-4)


def test_a_time_budget_stops_the_run_and_says_so(tmp_path: Path) -> None:
    config = RerankerConfig(epochs=50, batch_size=2, max_length=32, eval_every=100, max_minutes=0.0001, seed=1,
                            negatives_per_query=1)
    run = train_reranker(_examples()[:4], _examples()[4:], config=config, run_dir=tmp_path / "budget",
                         tracker=NoTracker(), progress=False)
    assert run.stop_reason == "time budget" and run.steps == 1
    assert run.history.validation and run.history.validation[-1][0] == 1  # the final weights were still validated


def test_the_registry_reranker_follows_promotion_without_a_restart(trained: tuple[object, Path],
                                                                   tmp_path: Path) -> None:
    run, _ = trained
    registry = ModelRegistry(tmp_path / "models")
    for weight in (1.0, 0.0):  # version 2 ignores the model: production order comes back unchanged
        registry.register(name="reranker", kind="reranker", model_dir=run.model_dir, base_model="minilm",
                          data_hash=run.data_hash, params={"max_length": 48, "blend_weight": weight})
    registry.promote("reranker@1")
    reranker = RegistryReranker(data_dir=tmp_path)
    hits = [Hit(chunk=_chunk(i, text), score=1.0 - 0.1 * i, source="hybrid") for i, (_, text) in enumerate(TOPICS)]
    assert reranker.version == 1 and len(reranker.rerank("What is a closure?", hits, k=3)) == 3
    registry.promote("reranker@2")
    ranked = reranker.rerank("What is a closure?", hits, k=6)
    assert reranker.version == 2
    assert [h.chunk.doc_id for h in ranked] == [h.chunk.doc_id for h in hits]
    registry.rollback("reranker")
    assert reranker.version == 1


def _chunk(i: int, text: str) -> Chunk:
    return Chunk(chunk_id=f"d{i}:0", doc_id=f"d{i}", doc_version="1", source=f"d{i}.md", title="", text=text,
                 section=(), page=None, char_start=0, char_end=len(text), ordinal=0, ingested_at=0.0)
