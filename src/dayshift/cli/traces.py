"""`dayshift traces`: the trace debugger, and traces as a file.

    dayshift traces list --since 24h --abstained         # newest first: time, id, tenant, verdict, question
    dayshift traces show ID                              # chunks with keyword/dense/fused scores and ranks, the
                                                         # excerpts and prompt sent, the draft, the support, the verdict
    dayshift traces replay ID --prompt qa@candidate --set retrieve.mode=keyword    # before and after, side by side
    dayshift traces why ID --chunk docs/guide.md:3       # its terms, scores, ranks and the cut-offs
    dayshift traces export --out traces.parquet --since 7d                      # or .csv (dayshift.frames.traces)

All read the trace database of the data dir (or trace.url), across tenants (this is the operator's
tool); `replay` and `why` open the trace's tenant's index and models.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dayshift.cli.monitor import open_traces
from dayshift.errors import ConfigError
from dayshift.settings import Settings
from dayshift.trace.record import TraceQuery
from dayshift.trace.store import StoredTrace

traces_app = typer.Typer(help="The trace debugger: list, show, replay and explain traces; export them.",
                         no_args_is_help=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _since(text: str | None) -> object:
    from dayshift.frames import moment

    try:
        return moment(text)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None


def _get(settings: Settings, trace_id: str) -> StoredTrace:
    with open_traces(settings) as store:
        found = store.get(trace_id, tenant=None)
    if found is None:
        raise ConfigError(f"no trace {trace_id} in the trace database; `dayshift traces list` shows the recent ones")
    return found


@traces_app.command("list")
def list_cmd(
    ctx: typer.Context,
    since: Annotated[str | None, typer.Option("--since", help="24h, 7d, or a UTC date or time.")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="One tenant's traces.")] = None,
    route: Annotated[str | None, typer.Option("--route", help="/v1/ask, /v1/search, /v1/chat/completions")] = None,
    abstained: Annotated[bool | None, typer.Option("--abstained/--answered", help="Only abstentions, or answers.")]
    = None,
    feedback: Annotated[str | None, typer.Option("--feedback", help="up, down, none or any")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500)] = 20,
    as_json: JsonOption = False,
) -> None:
    """The latest traces, newest first."""
    settings: Settings = ctx.obj
    query = TraceQuery(tenant=tenant, since=_since(since), route=route, abstained=abstained,  # type: ignore[arg-type]
                       feedback=feedback, limit=limit)  # type: ignore[arg-type]
    with open_traces(settings) as store:
        found = store.query(query)
    if as_json:
        typer.echo(json.dumps([t.to_json() for t in found], indent=2, default=str))
        return
    from dayshift.debugger.views import trace_table

    Console(highlight=False).print(trace_table(found))


@traces_app.command("show")
def show(ctx: typer.Context, trace_id: Annotated[str, typer.Argument(help="The trace id.")],
         as_json: JsonOption = False) -> None:
    """One trace's anatomy: retrieval scores and ranks, excerpts, the prompt as rendered, draft, support, verdict."""
    found = _get(ctx.obj, trace_id)
    if as_json:
        typer.echo(json.dumps(found.to_json(), indent=2, default=str))
        return
    from dayshift.debugger.views import print_trace

    print_trace(found, Console(highlight=False))


@traces_app.command("replay")
def replay_cmd(
    ctx: typer.Context,
    trace_id: Annotated[str, typer.Argument(help="The trace id.")],
    prompt: Annotated[str | None, typer.Option("--prompt", help="Another prompt: qa@candidate, qa@3.")] = None,
    assignments: Annotated[list[str] | None, typer.Option(
        "--set", help="A setting to change, repeatable: retrieve.mode=keyword, answer.k=8.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Answer the trace's question again as it was and with the change, and show the differences side by side."""
    from dayshift.debugger.replay import replay

    settings: Settings = ctx.obj
    result = replay(settings, _get(settings, trace_id).record, prompt=prompt, overrides=assignments or [])
    if as_json:
        typer.echo(json.dumps({"trace_id": result.trace_id, "question": result.question, "flipped": result.flipped,
                               "recorded_matches": result.recorded_matches, "before": asdict(result.before),
                               "after": asdict(result.after),
                               "differences": [asdict(d) for d in result.differences()]}, indent=2, default=str))
        return
    from dayshift.debugger.views import print_replay

    print_replay(result, Console(highlight=False))


@traces_app.command("why")
def why(
    ctx: typer.Context,
    trace_id: Annotated[str, typer.Argument(help="The trace id.")],
    chunk: Annotated[str, typer.Option("--chunk", help="A chunk id (doc_id:ordinal), as `traces show` lists them.")],
    as_json: JsonOption = False,
) -> None:
    """Why a chunk was or was not retrieved for this trace's question: its terms, scores, ranks and the cut-offs."""
    from dayshift.debugger.why import explain_chunk

    settings: Settings = ctx.obj
    explanation = explain_chunk(settings, _get(settings, trace_id).record, chunk)
    if as_json:
        data = asdict(explanation)
        data["chunk"] = explanation.chunk.indexed_text if explanation.chunk else None
        data["lines"] = explanation.lines()
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    from dayshift.debugger.views import print_explanation

    print_explanation(explanation, Console(highlight=False))


@traces_app.command("export")
def export(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="traces.parquet or traces.csv")],
    since: Annotated[str | None, typer.Option("--since", help="24h, 7d, or a UTC date or time.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="A UTC date or time.")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="One tenant's traces.")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="parquet or csv (default: from --out)")] = None,
) -> None:
    """Write traces as Parquet or CSV, one row per request (the columns of dayshift.frames.TRACE_COLUMNS)."""
    from dayshift import frames

    settings: Settings = ctx.obj
    frame = frames.traces(settings, since=since, until=until, tenant=tenant)
    frames.write(frame, out, format=fmt)
    typer.echo(f"wrote {len(frame):,} traces to {out}")
