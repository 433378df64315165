"""dayshift.frames: traces, eval runs and usage as typed DataFrames; Parquet and CSV; the CLI exports."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

pd = pytest.importorskip("pandas", reason='needs pandas: pip install "dayshift[pandas]"')
pytest.importorskip("pyarrow", reason='needs pyarrow: pip install "dayshift[pandas]"')

from dayshift import frames  # noqa: E402
from dayshift.errors import ConfigError  # noqa: E402
from dayshift.evals.run import CaseResult, EvalRun, RunConfig  # noqa: E402
from dayshift.llm.accounting import Ledger  # noqa: E402
from dayshift.llm.base import Usage  # noqa: E402
from dayshift.settings import load_settings  # noqa: E402
from dayshift.trace.record import Feedback, RetrievedChunk, TraceRecord  # noqa: E402
from dayshift.trace.store import TraceStore, default_trace_url  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from cli_runner import run  # noqa: E402

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def record(i: int, **changes: object) -> TraceRecord:
    fields = dict(trace_id=f"{i:032x}", tenant="acme" if i % 2 else "globex", route="/v1/ask",
                  started_at=T0 + timedelta(minutes=i), latency_ms=100.0 + i,
                  stages_ms={"embed": 2.5, "generate": 90.0},
                  query=f"question {i}", answer=f"answer {i} [1]", prompt_name="answer", prompt_version="v2",
                  model="smollm2", retrieved=[RetrievedChunk(1, f"doc{i}.md:0", f"doc{i}.md", "v1", 0.9),
                                              RetrievedChunk(2, "b.md:3", "b.md", "v1", 0.4)],
                  confidence=0.8, abstained=False, input_tokens=300, output_tokens=20, cost_usd=0.001,
                  params={"index_version": "sync-3@2025-03-01T00:00:00Z"})
    fields.update(changes)
    return TraceRecord(**fields)  # type: ignore[arg-type]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    with TraceStore(default_trace_url(tmp_path)) as store:
        store.write([record(i) for i in range(6)] + [
            record(6, route="/v1/search", abstained=None, confidence=None, answer=None, prompt_name=None,
                   prompt_version=None, model=None, retrieved=[], stages_ms={"hybrid": 3.0}, errors=["boom", "bang"])])
        store.add_feedback(Feedback(f"{1:032x}", "acme", "up", "", created_at=T0 + timedelta(hours=1)))
        store.add_feedback(Feedback(f"{1:032x}", "acme", "down", "wrong year", created_at=T0 + timedelta(hours=2)))
    return tmp_path


def test_traces_have_the_documented_columns_and_dtypes(data_dir: Path) -> None:
    df = frames.traces(data_dir)
    assert list(df.columns) == list(frames.TRACE_COLUMNS)
    assert {c: str(t) for c, t in df.dtypes.items()} == {c: d for c, (d, _) in frames.TRACE_COLUMNS.items()}
    assert len(df) == 7 and df["started_at"].is_monotonic_increasing
    first = df[df["trace_id"] == f"{1:032x}"].iloc[0]
    assert (first["rating"], first["feedback_comment"]) == ("down", "wrong year")  # the latest counts
    assert first["prompt"] == "answer@v2" and first["top_chunk_id"] == "doc1.md:0" and first["n_retrieved"] == 2
    assert first["embed_ms"] == 2.5 and pd.isna(first["rerank_ms"]) and first["index_version"].startswith("sync-3")
    search = df[df["route"] == "/v1/search"].iloc[0]
    assert pd.isna(search["abstained"]) and search["n_retrieved"] == 0 and search["errors"] == "boom | bang"


def test_traces_filter_by_time_and_tenant(data_dir: Path) -> None:
    df = frames.traces(data_dir, since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=5), tenant="acme")
    assert list(df["trace_id"]) == [f"{3:032x}"]
    assert len(frames.traces(load_settings(data_dir=data_dir), since="2025-03-03T09:05")) == 2
    with pytest.raises(ConfigError, match="is not a time"):
        frames.traces(data_dir, since="yesterday")
    with pytest.raises(ConfigError, match="no trace database"):
        frames.traces(data_dir / "empty")


def test_parquet_and_csv_keep_the_rows(data_dir: Path, tmp_path: Path) -> None:
    df = frames.traces(data_dir)
    back = pd.read_parquet(frames.write(df, tmp_path / "t.parquet"))
    assert back["trace_id"].tolist() == df["trace_id"].tolist() and str(back["started_at"].dtype).endswith("UTC]")
    assert pd.read_csv(frames.write(df, tmp_path / "t.csv"))["latency_ms"].tolist() == df["latency_ms"].tolist()
    with pytest.raises(ConfigError, match="cannot tell the format"):
        frames.write(df, tmp_path / "t.xlsx")


def eval_run(run_id: str, prompt: str, passed: list[bool]) -> EvalRun:
    config = RunConfig(prompt=prompt, prompt_hash="h" * 64, model="smollm2", index_version="sync-1@x",
                       settings_hash="s" * 16, dataset="evals/qa.jsonl", dataset_hash="d", repeats=1, min_f1=0.5, k=5)
    results = [CaseResult(case_id=f"c{i}", repeat=0, passed=p, kind="answer", answer="x", abstained=False,
                          confidence=0.7, retrieved=["a"], cited=["a"], scores={"f1": 1.0 if p else 0.0},
                          latency_ms=50.0) for i, p in enumerate(passed)]
    return EvalRun(run_id=run_id, started_at=f"2025-03-0{len(passed)}T10:00:00+00:00", config=config,
                   results=results, seconds=2.0)


def test_eval_runs_and_results(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    folder = tmp_path / "evals" / "runs"
    eval_run("r1", "qa@v2", [True, False]).save(folder)
    eval_run("r2", "qa@v3", [True, True, True]).save(folder)
    runs = frames.eval_runs(settings)
    assert list(runs.columns) == list(frames.EVAL_RUN_COLUMNS)
    assert runs["run_id"].tolist() == ["r1", "r2"] and runs["pass_rate"].tolist() == [0.5, 1.0]
    results = frames.eval_results(settings)
    assert len(results) == 5 and results["score_f1"].sum() == 4.0 and results["score_mrr"].isna().all()
    assert str(results["passed"].dtype) == "boolean"
    done = run(tmp_path, "eval", "export", "--out", str(tmp_path / "runs.csv"))
    assert done.returncode == 0 and "wrote 2 runs" in done.stdout
    assert len(pd.read_csv(tmp_path / "runs.csv")) == 2


def test_usage_one_row_per_call_and_the_cli_export(tmp_path: Path) -> None:
    with Ledger(tmp_path / "usage.sqlite") as ledger:
        ledger.append(model="gpt-4o-mini", usage=Usage(100, 10), cost_usd=0.002, tenant="acme", at=T0)
        ledger.append(model="smollm2", usage=Usage(50, 5, "tokenizer"), cost_usd=0.0, tenant=None, cost_known=False,
                      at=T0 + timedelta(hours=1))
    calls = frames.usage(tmp_path)
    assert list(calls.columns) == list(frames.USAGE_COLUMNS) and calls["tenant"].tolist() == ["acme", "-"]
    assert calls["cost_known"].tolist() == [True, False] and calls["at"].iloc[0] == T0
    assert len(frames.usage(tmp_path, since=T0 + timedelta(minutes=30))) == 1
    done = run(tmp_path, "usage", "--since", "all", "--export", str(tmp_path / "calls.parquet"))
    assert done.returncode == 0 and "wrote 2 calls" in done.stdout


def test_traces_export_and_list_from_the_cli(data_dir: Path) -> None:
    done = run(data_dir, "traces", "export", "--out", str(data_dir / "t.parquet"), "--tenant", "acme")
    assert done.returncode == 0 and "wrote 3 traces" in done.stdout
    listed = run(data_dir, "traces", "list", "--limit", "3")
    assert listed.returncode == 0 and f"{6:032x}" in listed.stdout and "question 6" in listed.stdout
    shown = run(data_dir, "traces", "show", f"{1:032x}")
    assert shown.returncode == 0 and "written before dayshift recorded" in shown.stdout
    assert "feedback down wrong year" in shown.stdout
    missing = run(data_dir, "traces", "show", "nope")
    assert missing.returncode == 2 and "no trace nope" in missing.stderr


def test_every_column_is_documented() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "frames.md").read_text()
    for columns in (frames.TRACE_COLUMNS, frames.EVAL_RUN_COLUMNS, frames.EVAL_RESULT_COLUMNS, frames.USAGE_COLUMNS):
        for name, (dtype, _) in columns.items():
            assert f"| `{name}` | {dtype} |" in page, name
