"""`dayshift ask QUESTION`: a streamed, cited answer, or a clean "I don't know"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from dayshift.assemble import open_answerer
from dayshift.cli.answering import print_json, stream_answer
from dayshift.cli.tracing import traced
from dayshift.errors import ConfigError
from dayshift.retrieve.filters import parse_filters
from dayshift.service.tracing import fill_answer
from dayshift.settings import Settings
from dayshift.trace.detail import recording


def read_schema(path: Path) -> dict[str, Any]:
    """A JSON schema file, or a ConfigError naming the file and what is wrong with it."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the schema ({exc.strerror}); pass an existing JSON file") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: not JSON ({exc}); the schema must be a JSON object") from None
    if not isinstance(value, dict):
        raise ConfigError(f'{path}: a schema is a JSON object such as {{"type": "object", "properties": {{...}}}}')
    return value


def ask(
    ctx: typer.Context,
    question: Annotated[str, typer.Argument(help="The question.")],
    where: Annotated[
        list[str] | None,
        typer.Option("--where", help="Filter the sources, repeatable: source=nist, page>=3."),
    ] = None,
    tenant: Annotated[str | None, typer.Option(help="Tenant to book the cost to (budgets apply).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON (no streaming).")] = False,
    schema: Annotated[
        Path | None,
        typer.Option("--schema", help="A JSON schema file: answer with JSON valid against it (printed as JSON).",
                     dir_okay=False),
    ] = None,
) -> None:
    """Answer from the indexed documents, citing them, or say "I don't know"."""
    settings: Settings = ctx.obj
    conditions = parse_filters(where or [])
    if schema is not None:
        wanted = read_schema(schema)
        answer = open_answerer(settings).ask_json(question, schema=wanted, where=conditions, tenant=tenant)
        print_json(answer)
        return
    answerer = open_answerer(settings)
    with traced(settings, "dayshift ask", query=question, params={"where": where or []}) as trace, \
            recording() as seen:
        stream = answerer.ask(question, where=conditions, tenant=tenant)
        answer = stream.result() if as_json else stream_answer(stream, Console(highlight=False))
        if trace is not None:  # the service's trace shape (cli/tracing.py); off with trace.cli = false
            fill_answer(trace, answer, list(answer.retrieved), answerer=answerer, search=seen.result)
    if as_json:
        print_json(answer)
