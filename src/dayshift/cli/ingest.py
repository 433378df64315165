"""`dayshift ingest PATH...`: sync folders or files into the index, with a report."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from functools import partial
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from dayshift.assemble import open_embedder, open_ingestor
from dayshift.cli.progress import RichProgress
from dayshift.ingest.report import SyncReport
from dayshift.ingest.sync import Engine
from dayshift.settings import Settings

ENGINE_HELP = 'Load, chunk and embed here, or in Ray tasks (pip install "dayshift\\[ray]").'
ADDRESS_HELP = (
    'With --engine ray: "auto" (a running cluster), "ray://host:10001" (a remote one), "local" (start one here); '
    "default: RAY_ADDRESS, else a running cluster, else a new one. Every node must see the files at the same path."
)


def _split(value: str | None) -> list[str] | None:
    return [v.strip() for v in value.split(",") if v.strip()] if value is not None else None


def ingest(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Folders or files: PDF, HTML, Markdown, MediaWiki XML, CSV, JSONL, SQLite, text.")],
    name: Annotated[str | None, typer.Option(help="Source name prefix (default: the folder's name).")] = None,
    text_columns: Annotated[str | None, typer.Option(help="Tabular: columns holding the text, comma-separated.")] = None,
    metadata_columns: Annotated[str | None, typer.Option(help="Tabular: columns kept as metadata.")] = None,
    id_column: Annotated[str | None, typer.Option(help="Tabular: the row id column.")] = None,
    title_column: Annotated[str | None, typer.Option(help="Tabular: the title column.")] = None,
    tables: Annotated[str | None, typer.Option(help="SQLite: tables to read (default: all).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    progress: Annotated[bool, typer.Option(help="Show progress bars.")] = True,
    engine: Annotated[Literal["local", "ray"], typer.Option(help=ENGINE_HELP)] = "local",
    address: Annotated[str | None, typer.Option(help=ADDRESS_HELP)] = None,
) -> None:
    """Ingest documents; re-running syncs changes (added, updated, unchanged, deleted, failed)."""
    settings: Settings = ctx.obj
    overrides = {
        "text_columns": _split(text_columns),
        "metadata_columns": _split(metadata_columns),
        "id_column": id_column,
        "title_column": title_column,
        "tables": _split(tables),
    }
    ingest_settings = settings.ingest.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    run_settings = settings.model_copy(update={"ingest": ingest_settings})
    ingestor = open_ingestor(run_settings)
    reports: list[SyncReport] = []
    bars = RichProgress(enabled=progress and sys.stderr.isatty())
    with _engine(engine, address, run_settings) as chosen, bars:
        for path in paths:
            reports.append(ingestor.sync(path, name=name if len(paths) == 1 else None, progress=bars, engine=chosen))
    if as_json:
        typer.echo(json.dumps([_as_json(r) for r in reports], indent=2))
    else:
        for report in reports:
            _print(report)
    if any(not r.ok for r in reports):
        raise typer.Exit(1)


@contextmanager
def _engine(kind: str, address: str | None, settings: Settings) -> Iterator[Engine | None]:
    """None (the local engine), or the Ray engine while connected to its cluster."""
    if kind == "local":
        if address is not None:
            raise typer.BadParameter("--address goes with --engine ray")
        yield None
        return
    from dayshift.ingest.distributed import RayEngine, ray_session

    embed_only = Settings.model_construct(embed=settings.embed)  # the workers get no other secret
    with ray_session(address):
        yield RayEngine(embedder_factory=partial(open_embedder, embed_only))


def _as_json(report: SyncReport) -> dict[str, object]:
    data = asdict(report)
    data["counts"] = report.counts()
    return data


def _print(report: SyncReport) -> None:
    console = Console()
    c = report.counts()
    console.print(
        f"[bold]{report.root}[/]: {c['files']} files in {report.seconds:.1f}s -- "
        f"[green]{c['added']} added[/], [cyan]{c['updated']} updated[/], {c['unchanged']} unchanged, "
        f"[yellow]{c['deleted']} deleted[/], [red]{c['failed']} failed[/]; "
        f"{c['chunks_written']} chunks written ({c['chunks_embedded']} embedded, {c['chunks_cached']} from cache)"
    )
    for old in report.moved_from:
        console.print(f"{old} no longer exists and held these source names: taken as this folder, moved here",
                      markup=False, highlight=False)
    if report.duplicates:
        exact = sum(1 for d in report.duplicates if d.kind == "exact")
        console.print(f"skipped {len(report.duplicates)} duplicates ({exact} exact, {len(report.duplicates) - exact} near)")
        for dup in report.duplicates[:5]:
            console.print(f"  {dup.doc_id} = {dup.of_doc_id} ({dup.kind}, {dup.similarity:.2f})")
    if report.unsupported:
        console.print(f"{len(report.unsupported)} files with no loader were skipped (e.g. {report.unsupported[0]})")
    if report.failed:
        table = Table("file", "problem", "what to do", title="Failed files", title_style="bold red")
        for failure in report.failed:
            table.add_row(failure.source, f"{failure.kind}: {failure.reason}", failure.fix)
        console.print(table)
