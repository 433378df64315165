"""`dayshift standup --since 24h`: what changed, who changed it, what it affects; also atop `monitor report`.

    dayshift standup                          # the last 24 hours: prompts, models, index syncs, settings,
                                              # eval gates, alerts, budget burn
    dayshift standup --since 7d --json
    dayshift standup --webhook $SLACK_URL     # post it (cron it for 08:55)

Reads the data dir's traces, alert state (written by `dayshift monitor watch`), prompt registry, ingest
catalogs (every tenant's), eval runs and gate log, and the git history of ./dayshift.toml (or
--settings-file). Whatever is missing is simply not in the digest.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from dayshift.monitor.rules import Rules, load_rules
from dayshift.monitor.standup import Digest, StandupInputs, build_digest, digest_json, print_digest, slack_digest
from dayshift.settings import Settings

RulesOption = Annotated[Path | None, typer.Option("--rules", help="A rules file laid over the shipped rules.toml.")]


def standup(
    ctx: typer.Context,
    since: Annotated[str, typer.Option("--since", help="The window: 24h, 7d, or a UTC date or time.")] = "24h",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    webhook: Annotated[str | None, typer.Option(
        "--webhook", envvar="DAYSHIFT_STANDUP_WEBHOOK", show_envvar=True,
        help="Also post the digest to this Slack-compatible incoming webhook.")] = None,
    settings_file: Annotated[Path | None, typer.Option(
        "--settings-file", help="The settings file whose git history to read (default: ./dayshift.toml).")] = None,
    rules_file: RulesOption = None,
) -> None:
    """What changed since yesterday: prompt labels and gates, models, index syncs, settings, alerts, budget."""
    from dayshift.cli.monitor import _window_start

    settings: Settings = ctx.obj
    now = datetime.now(UTC)
    with ExitStack() as stack:
        digest = build_digest(gather_inputs(settings, load_rules(rules_file), stack, settings_file=settings_file),
                              since=_window_start(since, now=now), until=now)
    if webhook:
        post_digest(digest, webhook, rules=load_rules(rules_file))
    if as_json:
        typer.echo(json.dumps(digest_json(digest), indent=2))
    else:
        print_digest(digest, console=Console(highlight=False))


def post_digest(digest: Digest, url: str, *, rules: Rules) -> None:
    from dayshift.monitor.alerts import WebhookSink

    with WebhookSink(url, timeout_s=rules.webhook_timeout_s, retries=rules.webhook_retries) as sink:
        sink.post(slack_digest(digest))
    typer.secho("posted the digest", err=True)


def gather_inputs(settings: Settings, rules: Rules, stack: ExitStack, *,
                  settings_file: Path | None = None) -> StandupInputs:
    """Everything the digest reads, opened on `stack` (closed with it); what is absent stays empty."""
    from dayshift.cli.monitor import ALERT_STATE_FILE
    from dayshift.evals.gate_log import read_gates
    from dayshift.monitor.alerts import AlertState
    from dayshift.prompts import PromptRegistry
    from dayshift.trace.store import create_trace_engine, default_trace_url

    inputs = StandupInputs(gates=read_gates(settings.data_dir), registry=PromptRegistry.from_settings(settings),
                           daily_budget_usd=rules.daily_budget_usd, tenant_budgets_usd=dict(rules.tenant_budgets_usd))
    if settings.llm.tenant_daily_budget_usd:
        inputs.tenant_budgets_usd = {**{t: settings.llm.tenant_daily_budget_usd for t in _tenants(settings)},
                                     **inputs.tenant_budgets_usd}
    if settings.trace.url or (settings.data_dir / "traces.sqlite").exists():
        engine = create_trace_engine(settings.trace.url or default_trace_url(settings.data_dir))
        stack.callback(engine.dispose)
        inputs.engine = engine
    if (settings.data_dir / ALERT_STATE_FILE).exists():
        inputs.alerts = stack.enter_context(AlertState(settings.data_dir / ALERT_STATE_FILE))
    inputs.catalogs = _catalogs(settings, stack)
    inputs.eval_runs = _eval_runs(settings)
    candidate = settings_file or Path("dayshift.toml")
    inputs.settings_file = candidate if candidate.is_file() else None
    return inputs


def _tenants(settings: Settings) -> list[str]:
    folder = settings.data_dir / "tenants"
    return ["default", *sorted(p.name for p in folder.iterdir() if p.is_dir())] if folder.is_dir() else ["default"]


def _catalogs(settings: Settings, stack: ExitStack) -> dict[str, object]:
    from dayshift.assemble import CATALOG_FILE, open_catalog
    from dayshift.tenancy import tenant_settings

    out: dict[str, object] = {}
    for tenant in _tenants(settings):
        scoped = tenant_settings(settings, tenant)
        if settings.database.url is None and not (scoped.data_dir / CATALOG_FILE).exists():
            continue
        catalog = open_catalog(scoped)
        stack.callback(catalog.close)
        out[tenant] = catalog
    return out


def _eval_runs(settings: Settings) -> list[object]:
    from dayshift.errors import ConfigError
    from dayshift.evals.run import load_run, runs_dir

    runs = []
    for path in sorted(runs_dir(settings).glob("*.json")) if runs_dir(settings).is_dir() else []:
        try:
            runs.append(load_run(path))
        except ConfigError:
            continue
    return runs
