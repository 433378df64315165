"""`dayshift eval import` and `dayshift eval harvest`: where eval datasets come from.

    dayshift eval import --squad dev-v2.0.json.gz --corpus squad2-corpus --out evals/squad2.jsonl --articles 2 --limit 100
    dayshift eval import --beir beir/scifact --corpus scifact-corpus --out evals/scifact.jsonl --distractors 500
    dayshift eval harvest --since 7d [--out evals/harvested.jsonl] [--tenant acme]

Both add to the dataset file: a case whose id or question it already holds is
skipped, so running either again adds only what is new. Both print what they
wrote and the command to run next.
"""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from dayshift.evals.cases import add_cases, dataset_dir
from dayshift.evals.harvest import harvest, window_start
from dayshift.evals.importers import ImportResult, import_beir, import_squad
from dayshift.settings import Settings
from dayshift.tenancy import check_tenant

__all__ = ["harvest_cmd", "import_cmd"]


def import_cmd(
    ctx: typer.Context,
    corpus: Annotated[Path, typer.Option("--corpus", help="Folder to write the documents to (then ingest it).")],
    out: Annotated[Path, typer.Option("--out", help="The dataset (JSONL) to add the cases to.")],
    squad: Annotated[Path | None, typer.Option("--squad", help="A SQuAD 2.0 file (.json or .json.gz).")] = None,
    beir: Annotated[Path | None, typer.Option("--beir", help="A BEIR folder: corpus.jsonl, queries.jsonl, qrels/.")]
    = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most this many cases, sampled.")] = None,
    articles: Annotated[int | None, typer.Option("--articles", min=1, help="SQuAD: this many articles, sampled.")]
    = None,
    distractors: Annotated[int | None, typer.Option(
        "--distractors", min=0, help="BEIR: write only the judged documents and this many others (default: all).")]
    = None,
    split: Annotated[str, typer.Option("--split", help="BEIR: the qrels split.")] = "test",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the samples: the same seed, the same cases.")] = 0,
) -> None:
    """Import SQuAD 2.0 or BEIR: write the corpus to ingest and add its questions as eval cases."""
    settings: Settings = ctx.obj
    if (squad is None) == (beir is None):
        raise typer.BadParameter("give one of --squad FILE or --beir FOLDER", param_hint="--squad/--beir")
    if squad is not None:
        if distractors is not None:
            raise typer.BadParameter("--distractors goes with --beir", param_hint="--distractors")
        result = import_squad(squad, corpus_dir=corpus, limit=limit, articles=articles, seed=seed)
        what = f"{result.documents} article{'s' if result.documents != 1 else ''}"
    else:
        if articles is not None:
            raise typer.BadParameter("--articles goes with --squad", param_hint="--articles")
        assert beir is not None
        result = import_beir(beir, corpus_dir=corpus, split=split, limit=limit, seed=seed, distractors=distractors)
        what = f"{result.documents} documents (corpus.jsonl)"
    added = add_cases(out, result.cases)
    typer.echo(f"wrote {what} to {corpus}")
    typer.echo(f"added {added} of {len(result.cases)} cases to {out}{_skipped(len(result.cases) - added)}")
    typer.echo(f"next: {_ingest_command(settings, result)}")


def _skipped(n: int) -> str:
    return f" ({n} already there, or asking a question already asked)" if n else ""


def _ingest_command(settings: Settings, result: ImportResult) -> str:
    """The ingest that gives the corpus the document ids the cases expect (no --name: the folder's own)."""
    data_dir = [] if settings.data_dir == Settings.model_fields["data_dir"].default else [
        "--data-dir", str(settings.data_dir)]
    return shlex.join(["dayshift", *data_dir, "ingest", str(result.corpus_dir)])


def harvest_cmd(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", help="Traces started since: 7d, 24h, 90m, or a UTC date or time.")]
    = "7d",
    out: Annotated[Path | None, typer.Option("--out", help="The dataset to add candidates to "
                                                           "(default: harvested.jsonl in the eval folder).")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Only this tenant's traces (default: all).")] = None,
) -> None:
    """Turn traces with negative feedback or an abstention into candidate cases, for a person to review."""
    from dayshift.cli.monitor import open_traces

    settings: Settings = ctx.obj
    if tenant is not None:
        check_tenant(tenant)
    path = out or dataset_dir(settings) / "harvested.jsonl"
    now = datetime.now(UTC)
    with open_traces(settings) as store:
        report = harvest(store, path, since=window_start(since, now=now), until=now, tenant=tenant)
    typer.echo(
        f"{report.scanned} traces since {since}: {report.candidates} with negative feedback or an abstention; "
        f"added {report.added} candidate{'s' if report.added != 1 else ''} to {path}"
        + (f" ({report.known} already there)" if report.known else "")
        + (f"; {report.repeated} asked again in the window, kept as one case" if report.repeated else "")
        + (f"; {report.without_text} had no stored question (trace.store_text)" if report.without_text else "")
    )
    typer.echo("next: review them on the web UI's Review page (dayshift serve, then /review): accept or "
               "reject each, with its expected answers")
