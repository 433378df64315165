"""`dayshift search QUERY`: hybrid, keyword or dense search with filters."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dayshift.assemble import open_retriever
from dayshift.cli.tracing import traced
from dayshift.retrieve.filters import parse_filters
from dayshift.service.tracing import fill_search
from dayshift.settings import Settings


def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("--k", min=1, help="How many results.")] = 5,
    where: Annotated[
        list[str] | None,
        typer.Option("--where", help="Filter, repeatable: source=nist, page>=3, lang=en."),
    ] = None,
    mode: Annotated[str | None, typer.Option(help="hybrid, keyword or dense.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
    documents: Annotated[
        bool,
        typer.Option("--documents", help="k distinct documents, each at its best chunk; documents skipped as "
                                         "duplicates at ingest are listed under their own source."),
    ] = False,
) -> None:
    """Search the index."""
    settings: Settings = ctx.obj
    if mode not in (None, "hybrid", "keyword", "dense"):
        raise typer.BadParameter("mode must be hybrid, keyword or dense", param_hint="--mode")
    retriever = open_retriever(settings)
    filters = parse_filters(where or [])
    with traced(settings, "dayshift search", query=query, params={"k": k, "mode": mode, "where": where or []}) as trace:
        result = retriever.search(query, k=k, mode=mode, where=filters, per_document=documents)  # type: ignore[arg-type]
        if trace is not None:
            fill_search(trace, result)
    if as_json:
        payload = [
            {"rank": i, "score": h.score, "chunk_id": h.chunk.chunk_id, "doc_id": h.chunk.doc_id,
             "source": h.chunk.source, "title": h.chunk.title, "section": list(h.chunk.section),
             "page": h.chunk.page, "text": h.chunk.text}
            | ({"duplicate_of": h.chunk.metadata["duplicate_of"]} if "duplicate_of" in h.chunk.metadata else {})
            for i, h in enumerate(result.hits, start=1)
        ]
        typer.echo(json.dumps({"hits": payload, "timings_ms": result.timings_ms}, indent=2))
        return
    table = Table("#", "score", "source", "where", "text", show_lines=True)
    for i, hit in enumerate(result.hits, start=1):
        c = hit.chunk
        place = " > ".join(c.section[-2:]) if c.section else ""
        if c.page is not None:
            place = f"p.{c.page} {place}".strip()
        snippet = " ".join(c.text.split())
        if "duplicate_of" in c.metadata:
            snippet = f"(the same text as {c.metadata['duplicate_of']}) {snippet}"
        table.add_row(str(i), f"{hit.score:.3f}", c.source, place, snippet[:240] + ("..." if len(snippet) > 240 else ""))
    console = Console()
    console.print(table)
    if not result.hits:
        console.print("no results; check the filters, or ingest documents first with `dayshift ingest PATH`")
    console.print(f"[dim]{result.timings_ms['total']:.1f} ms[/]")
