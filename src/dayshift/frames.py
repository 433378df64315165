"""dayshift's records as pandas DataFrames, for notebooks: traces, eval runs, LLM usage.

    import dayshift.frames as frames
    df = frames.traces(".dayshift", since="7d")          # one row per request (a data dir, Settings, or a trace URL)
    runs = frames.eval_runs(".dayshift")                 # one row per eval run; frames.eval_results: per case
    calls = frames.usage(".dayshift", since="24h")       # one row per model call, from the usage ledger
    frames.write(df, "traces.parquet")                   # Parquet or CSV, by the suffix

Columns and dtypes are fixed (TRACE_COLUMNS, EVAL_RUN_COLUMNS, EVAL_RESULT_COLUMNS, USAGE_COLUMNS say
what each holds), so a notebook written against one release reads the next. Times are UTC. Text
columns hold what the trace database holds (PII-redacted under trace.store_text = "redacted").
Traces are read with one SQL statement, the JSON fields picked apart by the database, so 100,000
traces take seconds (benchmarks/traces_export.py).

Left out: the debugger's detail and the full retrieved list (GET /v1/traces/{id} and
`dayshift traces show` have them); the usage ledger is read from its table directly
(llm/accounting.py's schema) because its protocol only sums.
"""

from __future__ import annotations

import json
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from dayshift.errors import ConfigError

if TYPE_CHECKING:
    import pandas as pd

    from dayshift.settings import Settings

__all__ = ["EVAL_RESULT_COLUMNS", "EVAL_RUN_COLUMNS", "STAGES", "TRACE_COLUMNS", "USAGE_COLUMNS", "eval_results",
           "eval_runs", "traces", "usage", "write"]

STAGES = ("embed", "keyword", "dense", "hybrid", "fuse", "rerank", "select", "generate", "check")

# column -> (dtype, meaning)
TRACE_COLUMNS: dict[str, tuple[str, str]] = {
    "trace_id": ("string", "the trace's id (GET /v1/traces/{id}, `dayshift traces show`)"),
    "started_at": ("datetime64[us, UTC]", "when the request started"),
    "tenant": ("category", "the tenant the API key belongs to"),
    "route": ("category", "/v1/ask, /v1/search, /v1/chat/completions"),
    "status": ("category", "ok, error or cancelled"),
    "http_status": ("int16", "the HTTP status returned"),
    "latency_ms": ("float64", "the whole request"),
    **{f"{s}_ms": ("float64", f"the {s} stage; NaN when it did not run") for s in STAGES},
    "query": ("string", "the question or search query; <NA> when text is not stored"),
    "answer": ("string", "what the user was shown"),
    "prompt": ("category", "name@version of the prompt that answered"),
    "model": ("category", "the model that answered (a fallback, if one did)"),
    "index_version": ("category", "the tenant's index version when it ran: sync-<run>@<finished>"),
    "confidence": ("float64", "the answer's confidence; NaN for searches"),
    "abstained": ("boolean", "said \"I don't know\"; <NA> for searches"),
    "abstain_reason": ("string", "why it abstained"),
    "input_tokens": ("int64", "prompt tokens of the model call"),
    "output_tokens": ("int64", "completion tokens"),
    "cost_usd": ("float64", "the model call's cost"),
    "retries": ("int16", "model attempts beyond the first, fallbacks included"),
    "n_retrieved": ("int16", "chunks retrieved"),
    "top_score": ("float64", "the best retrieved chunk's score"),
    "top_chunk_id": ("string", "the best retrieved chunk"),
    "top_doc_id": ("string", "its document"),
    "rating": ("category", "the latest feedback: up, down, or <NA>"),
    "feedback_comment": ("string", "that feedback's comment"),
    "errors": ("string", "error messages, joined with ' | '"),
    "request_id": ("string", "X-Request-ID, as in the logs"),
}
EVAL_RUN_COLUMNS: dict[str, tuple[str, str]] = {
    "run_id": ("string", "the run (data_dir/evals/runs/<run_id>.json)"),
    "started_at": ("datetime64[us, UTC]", "when it started"),
    "prompt": ("category", "name@vN"), "prompt_hash": ("string", "sha256 of the prompt file"),
    "model": ("category", "the reader"), "index_version": ("category", "the index it ran against"),
    "settings_hash": ("string", "hash of the settings that shape answers"),
    "dataset": ("category", "the dataset file"), "dataset_hash": ("string", "its content hash"),
    "repeats": ("int16", "runs per case"), "k": ("int16", "chunks retrieved per answer"),
    "cases": ("int32", "distinct cases"), "results": ("int32", "cases x repeats"),
    "pass_rate": ("float64", "share of results that passed"), "mean_score": ("float64", "mean case score"),
    **{name: ("float64", "mean over the results that have it") for name in (
        "exact_match", "f1", "semantic_similarity", "groundedness", "citation_precision", "recall_at_k", "mrr",
        "ndcg_at_k", "abstention_correct", "json_valid")},
    "latency_p50_ms": ("float64", "median latency of uncached results"),
    "input_tokens": ("int64", "all results"), "output_tokens": ("int64", "all results"),
    "cost_usd": ("float64", "all results"), "cached": ("int32", "results served from the eval cache"),
    "errors": ("int32", "results that failed"), "seconds": ("float64", "wall time of the run"),
}
EVAL_RESULT_COLUMNS: dict[str, tuple[str, str]] = {
    "run_id": ("string", "the run"), "prompt": ("category", "name@vN"), "case_id": ("string", "the case"),
    "repeat": ("int16", "0-based repeat"), "kind": ("category", "answer, abstain or retrieval"),
    "passed": ("boolean", "the case passed"), "abstained": ("boolean", "said \"I don't know\""),
    "confidence": ("float64", "the answer's confidence"), "answer": ("string", "the answer text"),
    "latency_ms": ("float64", "the case's time"), "input_tokens": ("int64", ""), "output_tokens": ("int64", ""),
    "cost_usd": ("float64", ""), "cached": ("boolean", "served from the eval cache"), "error": ("string", ""),
    **{f"score_{name}": ("float64", f"the {name} score; NaN where it does not apply") for name in (
        "exact_match", "f1", "semantic_similarity", "groundedness", "citation_precision", "recall_at_k", "mrr",
        "ndcg_at_k", "abstention_correct", "json_valid")},
}
USAGE_COLUMNS: dict[str, tuple[str, str]] = {
    "at": ("datetime64[us, UTC]", "when the call was booked"),
    "tenant": ("category", 'the tenant ("-" for calls made without one)'),
    "model": ("category", "the model called"),
    "input_tokens": ("int64", ""), "output_tokens": ("int64", ""),
    "usage_source": ("category", "backend (reported) or tokenizer (counted by dayshift)"),
    "cost_usd": ("float64", "priced from the price table"), "cost_known": ("boolean", "False: no price, booked at $0"),
    "request_id": ("string", "the request that made the call, when known"),
}
_SPAN = re.compile(r"^(\d+)([dhm])$")


def _pandas() -> Any:
    try:
        import pandas as pd
    except ImportError as exc:
        raise ConfigError('DataFrames need pandas: pip install "dayshift[pandas]"') from exc
    return pd


def _settings(source: Any) -> Settings:
    from dayshift.settings import Settings, load_settings

    if isinstance(source, Settings):
        return source
    return load_settings(data_dir=Path(source)) if source is not None else load_settings()


def moment(value: datetime | str | None, *, now: datetime | None = None) -> datetime | None:
    """A UTC datetime from a datetime, '7d' / '24h' / '90m' before now, or an ISO date or time; None stays None."""
    if value is None or isinstance(value, datetime):
        return value if value is None or value.tzinfo else value.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    span = _SPAN.match(value.strip().lower())
    if span:
        return now - timedelta(**{{"d": "days", "h": "hours", "m": "minutes"}[span.group(2)]: int(span.group(1))})
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(f'"{value}" is not a time: use 7d, 24h, 90m, or an ISO date or time (UTC)') from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _typed(pd: Any, rows: dict[str, Any], columns: dict[str, tuple[str, str]]) -> pd.DataFrame:
    frame = pd.DataFrame({name: rows.get(name, []) for name in columns})
    for name, (dtype, _) in columns.items():
        if dtype.startswith("datetime64"):
            frame[name] = pd.to_datetime(frame[name], utc=True, format="ISO8601").astype(dtype)
        elif dtype.startswith("int"):
            frame[name] = frame[name].fillna(0).astype(dtype)
        else:
            frame[name] = frame[name].astype(dtype)
    return frame


# -- traces -----------------------------------------------------------------------------------------------


def traces(source: Any = None, *, since: datetime | str | None = None, until: datetime | str | None = None,
           tenant: str | None = None, route: str | None = None) -> pd.DataFrame:
    """One row per trace started in [since, until), oldest first; columns as TRACE_COLUMNS.

    `source`: a data dir, Settings, or a trace database URL (sqlite:///..., postgresql+psycopg://...).
    """
    from dayshift.trace.schema import feedback as fb_table
    from dayshift.trace.schema import traces as table
    from dayshift.trace.store import create_trace_engine, default_trace_url

    pd = _pandas()
    if isinstance(source, str) and "://" in source:
        url = source
    else:
        settings = _settings(source)
        url = settings.trace.url or default_trace_url(settings.data_dir)
        if settings.trace.url is None and not (settings.data_dir / "traces.sqlite").exists():
            raise ConfigError(f"no trace database at {settings.data_dir / 'traces.sqlite'}: traces are written by "
                              "`dayshift serve`; pass the server's data dir, or a trace URL")
    t = table.c
    where = []
    if (start := moment(since)) is not None:
        where.append(t.started_at >= start)
    if (end := moment(until)) is not None:
        where.append(t.started_at < end)
    if tenant is not None:
        where.append(t.tenant == tenant)
    if route is not None:
        where.append(t.route == route)
    stage_cols = [t.stages_ms[s].as_float().label(f"{s}_ms") for s in STAGES]
    statement = sa.select(
        t.trace_id, t.started_at, t.tenant, t.route, t.status, t.http_status, t.latency_ms, *stage_cols, t.query,
        t.answer, t.prompt_name, t.prompt_version, t.model,
        t.params["index_version"].as_string().label("index_version"),
        t.confidence, t.abstained, t.abstain_reason, t.input_tokens, t.output_tokens, t.cost_usd, t.retries,
        sa.func.json_array_length(t.retrieved).label("n_retrieved"),
        t.retrieved[0]["score"].as_float().label("top_score"),
        t.retrieved[0]["chunk_id"].as_string().label("top_chunk_id"),
        t.retrieved[0]["doc_id"].as_string().label("top_doc_id"), t.errors, t.request_id,
    ).where(*where).order_by(t.started_at, t.trace_id)
    ratings = sa.select(fb_table.c.trace_id, fb_table.c.rating, fb_table.c.comment).join(
        table, table.c.trace_id == fb_table.c.trace_id).where(*where).order_by(fb_table.c.created_at, fb_table.c.id)
    engine = create_trace_engine(url)
    try:
        with engine.connect() as connection:
            result = connection.execute(statement)
            columns = {name: list(values) for name, values in zip(result.keys(), zip(*result.all()))} or {}
            latest = {row[0]: (row[1], row[2]) for row in connection.execute(ratings)}
    finally:
        engine.dispose()
    return _trace_frame(pd, columns, latest)


def _trace_frame(pd: Any, rows: dict[str, list[Any]], latest: dict[str, tuple[str, str]]) -> pd.DataFrame:
    ids = rows.get("trace_id", [])
    names, versions = rows.get("prompt_name", []), rows.get("prompt_version", [])
    rows["prompt"] = [f"{n or 'prompt'}@{v}" if v else None for n, v in zip(names, versions)]
    rows["started_at"] = [_utc(at) for at in rows.get("started_at", [])]
    rows["errors"] = [" | ".join(_json(e) or []) or None for e in rows.get("errors", [])]
    rows["abstained"] = [None if a is None else bool(a) for a in rows.get("abstained", [])]
    rows["rating"] = [latest.get(i, (None, None))[0] for i in ids]
    rows["feedback_comment"] = [latest.get(i, (None, None))[1] or None for i in ids]
    rows["n_retrieved"] = [n or 0 for n in rows.get("n_retrieved", [])]
    frame = _typed(pd, rows, TRACE_COLUMNS)
    frame["rating"] = frame["rating"].cat.set_categories(["up", "down"])
    return frame


def _utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


# -- eval runs --------------------------------------------------------------------------------------------


def _runs(source: Any) -> list[Any]:
    from dayshift.evals.run import load_run, runs_dir

    folder = Path(source) if isinstance(source, str | Path) and Path(source).name == "runs" else runs_dir(
        _settings(source))
    return [load_run(path) for path in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def eval_runs(source: Any = None) -> pd.DataFrame:
    """One row per saved eval run (data_dir/evals/runs), oldest first; columns as EVAL_RUN_COLUMNS."""
    from dataclasses import asdict

    pd = _pandas()
    rows: dict[str, list[Any]] = {name: [] for name in EVAL_RUN_COLUMNS}
    for run in sorted(_runs(source), key=lambda r: r.started_at):
        values = {**asdict(run.config), **run.summary(), "run_id": run.run_id, "started_at": run.started_at,
                  "seconds": run.seconds}
        for name in rows:
            rows[name].append(values.get(name))
    return _typed(pd, rows, EVAL_RUN_COLUMNS)


def eval_results(source: Any = None) -> pd.DataFrame:
    """One row per case result of every saved eval run; columns as EVAL_RESULT_COLUMNS."""
    pd = _pandas()
    rows: dict[str, list[Any]] = {name: [] for name in EVAL_RESULT_COLUMNS}
    for run in sorted(_runs(source), key=lambda r: r.started_at):
        for r in run.results:
            values = {"run_id": run.run_id, "prompt": run.config.prompt, "case_id": r.case_id, "repeat": r.repeat,
                      "kind": r.kind, "passed": r.passed, "abstained": r.abstained, "confidence": r.confidence,
                      "answer": r.answer, "latency_ms": r.latency_ms, "input_tokens": r.input_tokens,
                      "output_tokens": r.output_tokens, "cost_usd": r.cost_usd, "cached": r.cached, "error": r.error,
                      **{f"score_{k}": v for k, v in r.scores.items()}}
            for name in rows:
                rows[name].append(values.get(name))
    return _typed(pd, rows, EVAL_RESULT_COLUMNS)


# -- usage ------------------------------------------------------------------------------------------------

_USAGE_SQL = ("SELECT at_s, tenant, model, input_tokens, output_tokens, usage_source, cost_usd, cost_known, "
              "request_id FROM {table} WHERE at_s >= {mark} AND at_s < {mark} ORDER BY at_s, id")


def usage(source: Any = None, *, since: datetime | str | None = None,
          until: datetime | str | None = None) -> pd.DataFrame:
    """One row per LLM call booked in [since, until) in the usage ledger; columns as USAGE_COLUMNS."""
    from dayshift.llm.accounting import LEDGER_FILE

    pd = _pandas()
    settings = _settings(source)
    start, end = moment(since), moment(until)
    bounds = (start.timestamp() if start else -1e18, end.timestamp() if end else 1e18)
    if settings.database.url is not None:
        fetched = _usage_postgres(settings, bounds)
    else:
        path = settings.data_dir / LEDGER_FILE
        fetched = []
        if path.exists():
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
                fetched = db.execute(_USAGE_SQL.format(table="calls", mark="?"), bounds).fetchall()
    names = ("at", "tenant", "model", "input_tokens", "output_tokens", "usage_source", "cost_usd", "cost_known",
             "request_id")
    rows = {name: list(values) for name, values in zip(names, zip(*fetched))} if fetched else {}
    rows["at"] = [datetime.fromtimestamp(at, UTC) for at in rows.get("at", [])]
    rows["cost_known"] = [bool(k) for k in rows.get("cost_known", [])]
    return _typed(pd, rows, USAGE_COLUMNS)


def _usage_postgres(settings: Settings, bounds: tuple[float, float]) -> list[tuple[Any, ...]]:
    import psycopg

    from dayshift.postgres import schema_name

    table = f'"{schema_name(settings.store.namespace)}".usage_calls'
    with psycopg.connect(settings.database.url) as connection:  # type: ignore[arg-type]
        return connection.execute(_USAGE_SQL.format(table=table, mark="%s"), bounds).fetchall()


# -- writing ----------------------------------------------------------------------------------------------


def write(frame: pd.DataFrame, path: str | Path, *, format: str | None = None) -> Path:  # noqa: A002
    """Write `frame` as Parquet (needs pyarrow) or CSV, chosen by `format` or the file's suffix."""
    path = Path(path)
    kind = (format or path.suffix.lstrip(".")).lower()
    if kind == "parquet":
        try:
            frame.to_parquet(path, index=False)
        except ImportError as exc:
            raise ConfigError('Parquet needs pyarrow: pip install "dayshift[pandas]", or write .csv') from exc
    elif kind == "csv":
        frame.to_csv(path, index=False)
    else:
        raise ConfigError(f"{path}: cannot tell the format; end the name in .parquet or .csv, or pass --format")
    return path
