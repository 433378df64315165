"""`dayshift usage`: what the LLM calls cost, per tenant and model, from the usage ledger.

Reads the ledger dayshift.llm.accounting.UsageMeter writes: <data_dir>/usage.sqlite, or
the usage_calls table in Postgres when database.url is set.
`--export calls.parquet` (or .csv) writes one row per call instead (dayshift.frames.usage).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dayshift.assemble import open_ledger
from dayshift.llm.accounting import LEDGER_FILE, UsageRow
from dayshift.settings import Settings

_SPAN = re.compile(r"^(\d+)([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def usage(
    ctx: typer.Context,
    since: Annotated[
        str, typer.Option("--since", help='How far back: 7d, 24h, 90m, a UTC date YYYY-MM-DD, or "all".')
    ] = "30d",
    as_json: Annotated[bool, typer.Option("--json")] = False,
    export: Annotated[Path | None, typer.Option(
        "--export", help="Write one row per call to this .parquet or .csv file instead.")] = None,
) -> None:
    """Calls, tokens and cost per tenant and model."""
    settings: Settings = ctx.obj
    start = parse_since(since)
    if export is not None:
        from dayshift import frames

        calls = frames.usage(settings, since=start)
        frames.write(calls, export)
        typer.echo(f"wrote {len(calls):,} calls to {export}")
        return
    where, rows = str(settings.data_dir / LEDGER_FILE), list[UsageRow]()
    if settings.database.url is not None or (settings.data_dir / LEDGER_FILE).exists():  # never make an empty file
        ledger = open_ledger(settings)
        try:
            where, rows = ledger.where, ledger.summary(since=start)
        finally:
            ledger.close()
    if as_json:
        data = {
            "ledger": where,
            "since": start.isoformat() if start else None,
            "total_cost_usd": sum(r.cost_usd for r in rows),
            "rows": [_as_dict(r) for r in rows],
        }
        typer.echo(json.dumps(data, indent=2))
        return
    _print_table(rows, path=where, since=start)


def parse_since(text: str, *, now: datetime | None = None) -> datetime | None:
    """'7d', '24h', '90m' before now; 'YYYY-MM-DD' from that UTC midnight; 'all' -> None."""
    text = text.strip().lower()
    if text == "all":
        return None
    now = now or datetime.now(UTC)
    span = _SPAN.match(text)
    if span:
        return now - timedelta(**{_UNITS[span.group(2)]: int(span.group(1))})
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f'"{text}" is not a period: use 7d, 24h, 90m, a UTC date YYYY-MM-DD, or "all"', param_hint="--since"
        ) from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _as_dict(row: UsageRow) -> dict[str, object]:
    return {
        "tenant": row.tenant, "model": row.model, "calls": row.calls, "input_tokens": row.input_tokens,
        "output_tokens": row.output_tokens, "cost_usd": row.cost_usd, "cost_known": row.cost_known,
    }


def _print_table(rows: list[UsageRow], *, path: str, since: datetime | None) -> None:
    console = Console()
    window = f"since {since.isoformat(timespec='minutes')}" if since else "all time"
    if not rows:
        console.print(f"no LLM calls recorded {window} in {path}")
        return
    table = Table("tenant", "model", title=f"LLM usage, {window}")
    for heading in ("calls", "input tokens", "output tokens", "cost USD"):
        table.add_column(heading, justify="right")
    for row in rows:
        cost = f"{row.cost_usd:,.6f}" + ("" if row.cost_known else "*")
        table.add_row(
            row.tenant, row.model, f"{row.calls:,}", f"{row.input_tokens:,}", f"{row.output_tokens:,}", cost
        )
    table.add_section()
    table.add_row(
        "total", "", f"{sum(r.calls for r in rows):,}", f"{sum(r.input_tokens for r in rows):,}",
        f"{sum(r.output_tokens for r in rows):,}", f"{sum(r.cost_usd for r in rows):,.6f}", style="bold",
    )
    console.print(table)
    unpriced = sorted({r.model for r in rows if not r.cost_known})
    if unpriced:
        console.print(
            f"* no price for {', '.join(unpriced)}, so booked at $0: add each to a price file and set "
            "DAYSHIFT_LLM__PRICES_FILE (start from a copy of the shipped llm/prices.toml)."
        )
