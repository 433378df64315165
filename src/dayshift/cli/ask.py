"""`dayshift ask QUESTION`: a streamed, cited answer, or a clean "I don't know"."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from dayshift.assemble import open_answerer
from dayshift.cli.answering import print_json, stream_answer
from dayshift.cli.tracing import traced
from dayshift.retrieve.filters import parse_filters
from dayshift.service.tracing import fill_answer
from dayshift.settings import Settings
from dayshift.trace.detail import recording


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
    with traced(settings, "dayshift ask", query=question, params={"where": where or []}) as trace, \
            recording() as seen:
        stream = answerer.ask(question, where=parse_filters(where or []), tenant=tenant)
        answer = stream.result() if as_json else stream_answer(stream, Console(highlight=False))
        if trace is not None:  # the service's trace shape (cli/tracing.py); off with trace.cli = false
            fill_answer(trace, answer, list(answer.retrieved), answerer=answerer, search=seen.result)
    if as_json:
        print_json(answer)
