"""`dayshift eval`: datasets, runs and the release gate for prompts.

    dayshift eval import --squad dev-v2.0.json.gz --corpus corpus/ --out evals/squad.jsonl
    dayshift eval harvest --since 7d --out evals/harvested.jsonl     # negative feedback and abstentions, for review
    dayshift eval run --prompt qa@3 --dataset evals/squad.jsonl      # every case through the pipeline, scored
    dayshift eval gate --baseline production --candidate qa@3 --dataset evals/squad.jsonl --repeats 3
    dayshift eval export --out runs.parquet [--cases]                # saved runs as a table (dayshift.frames)

`gate` exits 0 when the candidate breaks no case that passed under the
baseline (and moves its `production` label, unless --no-promote), 1 when it is
blocked, 2 when it could not run.
"""

from __future__ import annotations

import getpass
import json
import subprocess
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dayshift.cli.eval_data import harvest_cmd, import_cmd
from dayshift.cli.progress import RichProgress
from dayshift.evals.cases import load_dataset
from dayshift.evals.run import EvalRun
from dayshift.settings import Settings

eval_app = typer.Typer(help="Eval datasets, eval runs and the release gate for prompts.", no_args_is_help=True)
eval_app.command("import")(import_cmd)
eval_app.command("harvest")(harvest_cmd)

DatasetOption = Annotated[Path, typer.Option("--dataset", help="An eval dataset (JSONL).")]
RepeatsOption = Annotated[int, typer.Option("--repeats", min=1, help="Runs per case; a case fails if most fail.")]
WorkersOption = Annotated[
    int | None, typer.Option("--workers", min=1, help="Parallel worker processes (default: one per core).")
]
MinF1Option = Annotated[float, typer.Option("--min-f1", min=0.0, max=1.0, help="Token F1 at which an answer passes.")]
NoCacheOption = Annotated[bool, typer.Option("--no-cache", help="Call the model for every case, ignoring the cache.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


@eval_app.command("run")
def run(
    ctx: typer.Context,
    prompt: Annotated[str, typer.Option("--prompt", help="The prompt: qa, qa@3, qa@production.")],
    dataset: DatasetOption,
    repeats: RepeatsOption = 1,
    workers: WorkersOption = None,
    min_f1: MinF1Option = 0.5,
    no_cache: NoCacheOption = False,
    as_json: JsonOption = False,
) -> None:
    """Run every accepted case of the dataset through the pipeline with one prompt, and score it."""
    from dayshift.evals.run import run_eval, runs_dir

    settings: Settings = ctx.obj
    data = load_dataset(dataset)
    with RichProgress(enabled=not as_json) as progress:
        progress.start("cases", total=len(data.accepted()) * repeats)
        result = run_eval(settings, data, prompt=prompt, repeats=repeats, workers=workers, min_f1=min_f1,
                          use_cache=not no_cache, on_result=lambda _: progress.advance("cases"))
    saved = runs_dir(settings) / f"{result.run_id}.json"
    if as_json:
        typer.echo(json.dumps({"run_id": result.run_id, "path": str(saved), "config": result.to_json()["config"],
                               "summary": result.summary()}, indent=2))
        return
    _print_run(result)
    typer.echo(f"saved {saved}")


def _print_run(run: EvalRun) -> None:
    summary, config = run.summary(), run.config
    table = Table(title=f"{config.prompt} on {Path(config.dataset).name}: {summary['cases']} cases x {config.repeats}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name in ("pass_rate", "mean_score", "exact_match", "f1", "semantic_similarity", "recall_at_k", "mrr",
                 "ndcg_at_k", "groundedness", "citation_precision", "abstention_correct", "json_valid"):
        value = summary.get(name)
        table.add_row(name.replace("_", " "), "-" if value is None else f"{value:.3f}")
    table.add_row("latency p50 ms", "-" if summary["latency_p50_ms"] is None else f"{summary['latency_p50_ms']:.0f}")
    table.add_row("tokens in / out", f"{summary['input_tokens']} / {summary['output_tokens']}")
    table.add_row("cost USD", f"{summary['cost_usd']:.4f}")
    table.add_row("from cache", f"{summary['cached']} of {summary['results']}")
    table.add_row("errors", str(summary["errors"]))
    table.add_row("cases per minute", f"{summary['cases_per_min']:.1f}")
    Console().print(table)
    typer.echo(f"model {config.model}, index {config.index_version}, settings {config.settings_hash}, "
               f"prompt hash {config.prompt_hash[:12]}")


@eval_app.command("gate")
def gate(
    ctx: typer.Context,
    candidate: Annotated[str, typer.Option("--candidate", help="The prompt to release: qa@3 or qa@candidate.")],
    dataset: DatasetOption,
    baseline: Annotated[
        str, typer.Option("--baseline", help="What it must not break: a label (production), a version or a ref.")
    ] = "production",
    repeats: RepeatsOption = 1,
    workers: WorkersOption = None,
    min_f1: MinF1Option = 0.5,
    no_cache: NoCacheOption = False,
    promote: Annotated[
        bool, typer.Option("--promote/--no-promote", help="Move the candidate's production label when it passes.")
    ] = True,
    report: Annotated[Path, typer.Option("--report", help="Folder for gate-report.md and gate-report.html.")] = Path(
        "eval-report"
    ),
    as_json: JsonOption = False,
) -> None:
    """Fail if any case that passes under the baseline fails under the candidate, even if the average improves."""
    from dayshift.evals.gate import run_gate
    from dayshift.evals.report import write_reports

    settings: Settings = ctx.obj
    data = load_dataset(dataset)
    with RichProgress(enabled=not as_json) as progress:
        progress.start("cases", total=len(data.accepted()) * repeats * 2)  # baseline, then candidate
        result = run_gate(settings, data, baseline=baseline, candidate=candidate, repeats=repeats, workers=workers,
                          min_f1=min_f1, promote=promote, use_cache=not no_cache,
                          on_result=lambda _: progress.advance("cases"))
    write_reports(result, report)
    from dayshift.evals.gate_log import append_gate

    append_gate(settings.data_dir, result, dataset=str(dataset), actor=getpass.getuser(), commit=_head_commit())
    if as_json:
        typer.echo(json.dumps(result.to_json(), indent=2))
    else:
        _print_gate(result, report)
    raise typer.Exit(0 if result.passed else 1)


def _head_commit() -> str:
    """The commit checked out here (what the gate ran against), or "" outside git."""
    try:
        done = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


@eval_app.command("export")
def export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="runs.parquet or runs.csv")],
    cases: Annotated[bool, typer.Option("--cases", help="One row per case result instead of one per run.")] = False,
    fmt: Annotated[str | None, typer.Option("--format", help="parquet or csv (default: from --out)")] = None,
) -> None:
    """Write the saved eval runs as Parquet or CSV (dayshift.frames.eval_runs, or eval_results with --cases)."""
    from dayshift import frames

    settings: Settings = ctx.obj
    frame = frames.eval_results(settings) if cases else frames.eval_runs(settings)
    frames.write(frame, out, format=fmt)
    typer.echo(f"wrote {len(frame):,} {'case results' if cases else 'runs'} to {out}")


def _print_gate(result: object, report: Path) -> None:
    from dayshift.evals.gate import GateResult

    assert isinstance(result, GateResult)
    console = Console()
    style = "green" if result.passed else "red"
    verdict = "PASSED" if result.passed else "BLOCKED"
    console.print(f"[bold {style}]{verdict}[/]: {result.candidate.config.prompt} against "
                  f"{result.baseline.config.prompt} on {len(result.diffs)} cases")
    console.print(f"pass rate {result.pass_rate('baseline'):.1%} -> {result.pass_rate('candidate'):.1%}, "
                  f"mean score {result.mean_score('baseline'):.3f} -> {result.mean_score('candidate'):.3f}")
    console.print(f"broken {len(result.broken)}, fixed {len(result.fixed)}, flaky {len(result.flaky)}")
    if result.broken:
        table = Table(title="broken cases (passed under the baseline, fail under the candidate)")
        for column in ("case", "question", "baseline answer", "candidate answer"):
            table.add_column(column, overflow="fold")
        for d in result.broken[:20]:
            table.add_row(d.case_id, d.question, d.baseline.answer, d.candidate.answer)
        console.print(table)
        if len(result.broken) > 20:
            console.print(f"... and {len(result.broken) - 20} more in the report")
    for note in result.notes:
        console.print(f"note: {note}")
    if result.promoted:
        console.print(f"{result.candidate.config.prompt} is now production")
    console.print(f"report: {report / 'gate-report.md'}, {report / 'gate-report.html'}")
