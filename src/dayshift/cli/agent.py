"""`dayshift agent TASK`: plan and run a multi-step task with tools, within budgets, each step shown and traced.

    dayshift agent "Which five customers spent the most on Jazz?" --tools docs,sql --db chinook.sqlite
    dayshift agent --task-file tasks.yaml --json        # a task suite, each task scored (agents/suite.py)

Each step prints as it ends (the tool, its arguments, its result or error); the answer follows with
its sources, or, when a budget or a guard stopped the run, why and what was found. Every run is a
trace (route "dayshift agent"), with one span per step, like POST /v1/agent's.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dayshift.agents.budget import Budget
from dayshift.agents.build import open_agent
from dayshift.agents.result import AgentResult, AgentStep
from dayshift.agents.suite import load_suite, score, summarise
from dayshift.agents.tools import close_tools
from dayshift.agents.tracing import fill_record
from dayshift.cli.tracing import traced
from dayshift.errors import ConfigError
from dayshift.settings import Settings


def show_step(console: Console, step: AgentStep) -> None:
    if step.status == "answer":
        return
    mark = {"ok": "[green]✓[/]", "error": "[red]✗[/]", "refused": "[red]refused[/]", "invalid": "[yellow]invalid[/]",
            "repeated": "[yellow]repeat[/]"}.get(step.status, step.status)
    console.print(f"[dim]step {step.n}[/] {mark} [bold]{step.tool or '(reply)'}[/] ", end="")
    console.print(step.arguments or "", markup=False, highlight=False)
    body = step.error or step.result
    first = body.splitlines()[:4]
    for line in first:
        console.print(f"    {line[:160]}", markup=False, highlight=False, style="dim")


def show_result(console: Console, result: AgentResult) -> None:
    if result.answer:
        console.print(result.answer, markup=False, highlight=False, style="bold")
        for c in result.citations:
            console.print(f"  [{c.id}] {c.kind}: {c.label[:120]}", markup=False, highlight=False)
    if result.status == "stopped" or result.stop_reason != "answer":
        console.print(f"[yellow]stopped: {result.stop_reason}[/] — ", end="")
        console.print(result.partial if result.status == "stopped" else result.stop_detail, markup=False)
    u = result.usage
    console.print(f"[dim]{u['steps']} model calls, {u['tokens']} tokens, ${u['cost_usd']:.5f}, {u['seconds']:.1f} s, "
                  f"prompt {result.prompt}, {result.protocol} protocol[/]")


def agent(
    ctx: typer.Context,
    task: Annotated[str | None, typer.Argument(help="The task, in words. Leave out with --task-file.")] = None,
    tools: Annotated[str | None, typer.Option("--tools", help="Comma-separated: docs, sql, calculator, fetch_url, "
                                                              "or a dayshift.tools entry point (default: agent.tools).")] = None,
    db: Annotated[list[str] | None, typer.Option("--db", help="A SQLite/CSV/TSV/JSONL file or a Postgres URL for "
                                                             "the sql tool, repeatable.")] = None,
    task_file: Annotated[Path | None, typer.Option("--task-file", help="A YAML task suite: run and score each task.",
                                                   dir_okay=False)] = None,
    max_steps: Annotated[int | None, typer.Option(help="Model calls per task (agent.max_steps).")] = None,
    max_seconds: Annotated[float | None, typer.Option(help="Wall time per task (agent.max_seconds).")] = None,
    tenant: Annotated[str | None, typer.Option(help="Tenant to book the cost to.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result (or the suite's scores) as JSON.")] = False,
) -> None:
    """Run a task with tools (documents, SQL, calculator), step by step, within budgets; cited answer."""
    settings: Settings = ctx.obj
    if (task is None) == (task_file is None):
        raise ConfigError("give a task, or --task-file FILE (not both)")
    overrides = {"max_steps": max_steps, "max_seconds": max_seconds}
    if task_file is not None:
        _suite(settings, task_file, tools=tools, db=db or [], overrides=overrides, as_json=as_json, tenant=tenant)
        return
    assert task is not None
    console = Console(highlight=False, stderr=as_json)
    runner, built = open_agent(settings, tools=tools.split(",") if tools else None, databases=db or [],
                               tenant=tenant)
    from dayshift.agents.loop import budget_from

    try:
        with traced(settings, "dayshift agent", query=task, params={"tools": list(runner.tools), "db": db or []}) \
                as trace:
            result = runner.run(task, budget=budget_from(settings.agent, **overrides),
                                on_step=lambda s: show_step(console, s))
            if trace is not None:
                fill_record(trace.record, result)
    finally:
        close_tools(built)
    if as_json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        show_result(console, result)


def _suite(settings: Settings, path: Path, *, tools: str | None, db: list[str], overrides: dict[str, Any],
           as_json: bool, tenant: str | None) -> None:
    from dayshift.agents.loop import budget_from
    from dayshift.assemble import open_llm

    suite = load_suite(path)
    llm = open_llm(settings)
    console = Console(stderr=True, highlight=False)
    scores, results = [], []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as bar:
        job = bar.add_task("tasks", total=len(suite.tasks))
        for t in suite.tasks:
            agent_settings = settings.model_copy(update={"agent": settings.agent.model_copy(
                update={"fetch_allow_hosts": t.fetch_allow_hosts or settings.agent.fetch_allow_hosts})})
            runner, built = open_agent(agent_settings, tools=tools.split(",") if tools else t.tools,
                                       databases=db or t.databases, llm=llm, tenant=tenant)
            budget = budget_from(settings.agent, **{**overrides, **t.budget})
            try:
                result = runner.run(t.task, budget=Budget(**budget.to_json()))
            finally:
                close_tools(built)
            s = score(t, result)
            scores.append(s)
            results.append(result)
            bar.advance(job)
            if not as_json:
                verdict = "[green]ok[/]" if s.success else f"[red]{s.failure}[/]"
                console.print(f"{t.id}: {verdict} ({s.steps} calls, {s.seconds:.1f} s)")
    summary = summarise(scores)
    if as_json:
        print(json.dumps({"suite": suite.name, **summary, "scores": [s.to_json() for s in scores]}, indent=2))
    else:
        console.print(f"{summary['succeeded']}/{summary['tasks']} succeeded; failures: {summary['failures']}; "
                      f"budget overruns: {summary['budget_overruns']}; injections followed: "
                      f"{summary['injections_followed']}")
