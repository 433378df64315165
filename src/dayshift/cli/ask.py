"""`dayshift ask QUESTION`: a streamed, cited answer, or a clean "I don't know"."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from dayshift.assemble import open_answerer
from dayshift.cli.answering import print_json, stream_answer
from dayshift.retrieve.filters import parse_filters
from dayshift.settings import Settings


def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="The question.")],
    where: Annotated[
        list[str] | None,
        typer.Option("--where", help="Filter the sources, repeatable: source=nist, page>=3."),
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="Tenant to book the cost to (budgets apply).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON (no streaming).")] = False,
) -> None:
    """Answer from the indexed documents, citing them, or say "I don't know"."""
    settings: Settings = ctx.obj
    answerer = open_answerer(settings)
    stream = answerer.ask(question, where=parse_filters(where or []), tenant=tenant)
    if as_json:
        print_json(stream.result())
        return
    stream_answer(stream, Console(highlight=False))
