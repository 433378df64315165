"""`dayshift finetune`: training data from what you have, and training runs that report their curves.

    dayshift finetune data --from-corpus --out pairs.jsonl          # doc2query with the local reader, filtered
    dayshift finetune data --from-evals evals/qa.jsonl --from-traces --since 30d --out pairs.jsonl
    dayshift finetune reranker --pairs pairs.jsonl [--max-minutes 20] [--check-evals evals/qa.jsonl]

Each run writes data_dir/finetune/runs/<run>/ (run.json, loss.png, model/), logs to the tracker of
[finetune] tracker (MLflow by default, `mlflow ui --backend-store-uri sqlite:///<data_dir>/mlruns/mlflow.db`), and registers
the model as the registry's `candidate`: `dayshift models compare` then `promote` put it in production.
Everything heavy is imported when a command runs, so `dayshift --help` never loads torch.
Left out here: `finetune embedder` and `finetune reader` (docs/finetune.md says what exists of them).
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from dayshift.errors import ConfigError
from dayshift.settings import Settings

finetune_app = typer.Typer(help="Training data and fine-tuning runs (needs the finetune extra).",
                           no_args_is_help=True)  # fmt: skip
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _err(message: str) -> None:
    typer.secho(message, err=True, fg=typer.colors.YELLOW)


@finetune_app.command("data")
def data(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="The JSONL file of training examples to write.")],
    from_corpus: Annotated[bool, typer.Option("--from-corpus", help="doc2query over the indexed chunks.")] = False,
    from_evals: Annotated[list[Path] | None, typer.Option("--from-evals", help="An eval set (JSONL).")] = None,
    from_traces: Annotated[bool, typer.Option("--from-traces", help="Rated traces (thumbs up and down).")] = False,
    since: Annotated[str, typer.Option("--since", help="Traces of this window: 30d, 24h, or a UTC date.")] = "30d",
    reader: Annotated[str | None, typer.Option("--reader", help="The local reader drafting questions.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many chunks (doc2query).")] = None,
    keep_within: Annotated[int, typer.Option("--keep-within", help="Keep a question if its chunk ranks in this top.")] = 10,
    negatives: Annotated[int, typer.Option("--negatives", help="Hard negatives per example.")] = 3,
    as_json: JsonOption = False,
) -> None:
    """Write training examples: synthetic questions over your chunks, eval cases, rated traces."""
    from dayshift.finetune.data import data_hash, write_examples

    settings: Settings = ctx.obj
    if not (from_corpus or from_evals or from_traces):
        raise typer.BadParameter("name at least one source: --from-corpus, --from-evals FILE or --from-traces")
    from dayshift.assemble import open_retriever

    retriever = open_retriever(settings)
    search = _searcher(retriever, k=max(keep_within, negatives + 1))
    examples: list[Any] = []
    summary: dict[str, Any] = {}
    if from_corpus:
        found, summary["corpus"] = _from_corpus(settings, retriever, search, reader=reader, limit=limit,
                                                keep_within=keep_within, negatives=negatives)  # fmt: skip
        examples += found
    for path in from_evals or []:
        found = _from_evals(path, retriever, search, negatives=negatives)
        summary[f"evals:{path}"] = {"examples": len(found)}
        examples += found
    if from_traces:
        found, summary["traces"] = _from_traces(settings, retriever, since=since)
        examples += found
    if not examples:
        raise ConfigError("no training examples came out of the sources given; see the counts above, and add data")
    write_examples(out, examples)
    summary.update(examples=len(examples), out=str(out), data_hash=data_hash(examples))
    typer.echo(json.dumps(summary, indent=2) if as_json else
               f"{len(examples)} examples written to {out} (data {summary['data_hash'][:12]}): "
               + ", ".join(f"{k} {v}" for k, v in summary.items() if isinstance(v, dict)))  # fmt: skip


def _searcher(retriever: Any, *, k: int) -> Any:
    def search(query: str) -> list[tuple[str, str]]:
        return [(h.chunk.doc_id, h.chunk.indexed_text) for h in retriever.search(query, k=k, per_document=True).hits]

    return search


def _from_corpus(settings: Settings, retriever: Any, search: Any, *, reader: str | None, limit: int | None,
                 keep_within: int, negatives: int) -> tuple[list[Any], dict[str, Any]]:  # fmt: skip
    from dayshift.assemble import open_llm
    from dayshift.cli.progress import RichProgress
    from dayshift.finetune.data.synthetic import Passage, SyntheticReport, synthetic_examples
    from dayshift.llm.base import ChatRequest, Message

    passages = [Passage(doc_id=c.doc_id, chunk_id=c.chunk_id, text=c.indexed_text)
                for _, chunks, _ in retriever.store.export_documents() for c in chunks]  # fmt: skip
    random.Random(settings.finetune.seed).shuffle(passages)
    passages = passages[:limit] if limit else passages
    llm_settings = settings.llm.model_copy(update={"model": reader}) if reader else settings.llm
    llm = open_llm(settings.model_copy(update={"llm": llm_settings}))

    def draft(prompt: str) -> str:
        return llm.complete(ChatRequest(messages=(Message(role="user", content=prompt),), max_tokens=48)).text

    report = SyntheticReport()
    with RichProgress() as progress:
        progress.start("doc2query", total=len(passages))
        found = list(synthetic_examples(passages, draft=draft, search=search, keep_within=keep_within,
                                        negatives=negatives, report=report,
                                        on_passage=lambda: progress.advance("doc2query")))  # fmt: skip
    return found, {"drafted": report.drafted, "kept": report.kept, "not_questions": report.unusable,
                   "did_not_find_own_chunk": report.not_found}  # fmt: skip


def _document_texts(retriever: Any) -> dict[str, str]:
    return {doc_id: chunks[0].indexed_text for doc_id, chunks, _ in retriever.store.export_documents() if chunks}


def _from_evals(path: Path, retriever: Any, search: Any, *, negatives: int) -> list[Any]:
    from dayshift.evals.cases import load_dataset
    from dayshift.finetune.data.from_evals import eval_examples

    texts = _document_texts(retriever)
    return list(eval_examples(load_dataset(path), document_text=texts.get, search=search, negatives=negatives))


def _from_traces(settings: Settings, retriever: Any, *, since: str) -> tuple[list[Any], dict[str, Any]]:
    from dayshift.cli.monitor import _window_start, open_traces
    from dayshift.finetune.data.from_traces import TraceReport, trace_examples

    now = datetime.now(UTC)
    chunks = {c.chunk_id: (c.doc_id, c.indexed_text) for _, cs, _ in retriever.store.export_documents() for c in cs}
    report = TraceReport()
    with open_traces(settings) as store:
        found = trace_examples(store.scan(_window_start(since, now=now), now, tenant=settings.store.namespace),
                               chunk_text=chunks.get, report=report)  # fmt: skip
    return found, {"rated": report.rated, "positives": report.positives,
                   "thumbs_down_without_positive": report.unmatched_down}  # fmt: skip


@finetune_app.command("reranker")
def reranker(
    ctx: typer.Context,
    pairs: Annotated[Path, typer.Option("--pairs", help="Training examples from `dayshift finetune data`.")],
    epochs: Annotated[int, typer.Option("--epochs", min=1)] = 1,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 16,
    learning_rate: Annotated[float, typer.Option("--learning-rate")] = 3e-5,
    max_length: Annotated[int, typer.Option("--max-length", help="Query + passage tokens.")] = 160,
    max_minutes: Annotated[float | None, typer.Option("--max-minutes", help="Stop training after this long.")] = None,
    validation_share: Annotated[float, typer.Option("--validation-share")] = 0.1,
    eval_every: Annotated[int, typer.Option("--eval-every", help="Steps between validation passes.")] = 25,
    patience: Annotated[int, typer.Option("--patience", help="Validation passes without a new best.")] = 4,
    seed: Annotated[int | None, typer.Option("--seed", help="Default: [finetune] seed.")] = None,
    check_evals: Annotated[Path | None, typer.Option("--check-evals", help="Refuse if this eval set leaks in.")] = None,
    allow_leakage: Annotated[bool, typer.Option("--allow-leakage", help="Train despite leaked questions.")] = False,
    name: Annotated[str, typer.Option("--name", help="The registry name.")] = "reranker",
    as_json: JsonOption = False,
) -> None:
    """Train a cross-encoder from the bundled MiniLM weights; register it as the candidate."""
    from dayshift.finetune.data import read_examples, split_examples
    from dayshift.finetune.tracking import open_tracker
    from dayshift.finetune.train_reranker import RerankerConfig, train_reranker

    settings: Settings = ctx.obj
    seed = settings.finetune.seed if seed is None else seed
    examples = read_examples(pairs)
    notes = _leakage_notes(examples, check_evals, allow_leakage=allow_leakage)
    train, validation = split_examples(examples, validation_share=validation_share, seed=seed)
    config = RerankerConfig(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate, max_length=max_length,
                            max_minutes=max_minutes, eval_every=eval_every, patience=patience, seed=seed)  # fmt: skip
    run_name = f"{name}-{datetime.now(UTC).strftime('%Y%m%d-%H%M%S')}"
    run_dir = settings.data_dir / "finetune" / "runs" / run_name
    tracker = open_tracker(settings.finetune.tracker, data_dir=settings.data_dir, experiment=f"dayshift-{name}",
                           run_name=run_name, params={**asdict(config), "pairs": str(pairs)})  # fmt: skip
    try:
        run = train_reranker(train, validation, config=config, run_dir=run_dir, tracker=tracker)
    except BaseException:
        tracker.finish(status="FAILED")
        raise
    weight, table = _fit_blend(settings, run, validation, max_length=max_length)
    tracker.log_metrics({f"validation_ndcg_at_10_blend_{w}": v for w, v in table.items()}, step=run.steps)
    tracker.finish()
    card = _register(settings, run, name=name, notes=notes, max_length=max_length, blend_weight=weight)
    _report_run(run, card, as_json=as_json)


def _fit_blend(settings: Settings, run: Any, validation: list[Any], *, max_length: int
               ) -> tuple[float, dict[float, float]]:  # fmt: skip
    """The blend weight (train_reranker/blend.py) with the best nDCG@10 on the validation queries, re-ranking
    production's own candidates for them; 1.0 (the model alone) when none of them finds a candidate."""
    import numpy as np

    from dayshift.cli.models import first_stage_retriever
    from dayshift.finetune.train_reranker.blend import RankedQuery, fit_weight
    from dayshift.retrieve.rerank_cross_encoder import CrossEncoderReranker

    retriever = first_stage_retriever(settings, reranker=None)
    model = CrossEncoderReranker(model_path=run.model_dir, max_length=max_length)
    positives: dict[str, set[str]] = {}
    for example in validation:
        positives.setdefault(example.query, set()).add(example.positive_id)
    queries = []
    for query, relevant in positives.items():
        hits = retriever.search(query, k=settings.retrieve.rerank_candidates, per_document=True).hits
        if hits:
            queries.append(RankedQuery(
                first_stage=np.array([h.score for h in hits]),
                cross=model.scores(query, [h.chunk.indexed_text for h in hits]),
                gains=np.array([1.0 if h.chunk.doc_id in relevant else 0.0 for h in hits]),
                ideal_gains=tuple(1.0 for _ in relevant)))
    return fit_weight(queries) if queries else (1.0, {})


def _leakage_notes(examples: list[Any], evals: Path | None, *, allow_leakage: bool) -> list[str]:
    if evals is None:
        return []
    from dayshift.evals.cases import load_dataset
    from dayshift.finetune.leakage import check_leakage

    report = check_leakage(load_dataset(evals).accepted(), examples)
    if report.question_leaks and not allow_leakage:
        shown = "; ".join(f"{leak.case_id}: {leak.detail}" for leak in report.question_leaks[:5])
        raise ConfigError(f"{report.summary()} -- {shown}. Remove those questions from the training data (or the "
                          f"eval set), or pass --allow-leakage to train anyway and have the run say so")  # fmt: skip
    if report.leaks:
        _err(f"warning: {report.summary()}")
        return [f"leakage against {evals}: {report.summary()}"]
    return []


def _register(settings: Settings, run: Any, *, name: str, notes: list[str], max_length: int,
              blend_weight: float) -> Any:  # fmt: skip
    from dayshift.finetune.registry import ModelRegistry, registry_root

    registry = ModelRegistry(registry_root(settings.data_dir))
    production = registry.aliases(name).get("production")
    if run.overfit.flagged:
        notes = [*notes, f"overfitting: {run.overfit.reason}"]
    return registry.register(
        name=name, kind="reranker", model_dir=run.model_dir, base_model=run.base_model, data_hash=run.data_hash,
        metrics={"best_validation_loss": run.best_validation_loss, "minutes": round(run.minutes, 2),
                 "steps": run.steps, "stop_reason": run.stop_reason, "overfit_flagged": run.overfit.flagged},
        parent=None if production is None else f"{name}@{production}", tracker_run_id=run.tracker_run_id,
        params={"max_length": max_length, "blend_weight": blend_weight}, run_dir=str(run.run_dir), notes=notes,
    )  # fmt: skip


def _report_run(run: Any, card: Any, *, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({**run.to_json(), "registered": f"{card.name}@{card.version}"}, indent=2))
        return
    typer.echo(f"trained in {run.minutes:.1f} min, {run.steps} steps ({run.stop_reason}); best validation loss "
               f"{run.best_validation_loss:.4f} at step {run.best_step}, restored")  # fmt: skip
    typer.echo(f"loss curves: {run.curve_png}")
    typer.echo(f"blend weight {card.params['blend_weight']} (cross-encoder share, chosen on the validation queries)")
    if run.overfit.flagged:
        typer.secho(f"OVERFITTING: {run.overfit.reason}", err=True, fg=typer.colors.RED)
    typer.echo(f"registered as {card.name}@{card.version} (candidate); next: dayshift models compare "
               f"{card.name}@production {card.name}@{card.version} --evals EVALS.jsonl")  # fmt: skip
