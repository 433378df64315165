"""The `dayshift` command. One module per command group; this one only wires them.

Settings are built here once (dayshift.toml, DAYSHIFT_* variables, flags) and
handed to the commands through the Typer context.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from dayshift.cli import (
    agent,
    ask,
    calibrate,
    demo,
    doctor,
    ingest,
    monitor,
    search,
    serve,
    standup,
    status,
    store,
    usage,
)
from dayshift.cli.evals import eval_app
from dayshift.cli.finetune import finetune_app
from dayshift.cli.help_text import fix_help_rendering
from dayshift.cli.models import models_app
from dayshift.cli.prompts import prompts_app
from dayshift.cli.review import review
from dayshift.cli.traces import traces_app
from dayshift.errors import DayshiftError
from dayshift.settings import load_settings
from dayshift.tenancy import tenant_settings

fix_help_rendering()  # PATHS..., and no <bool> beside flags (cli/help_text.py)

app = typer.Typer(
    name="dayshift",
    help="Ingest documents, search them, and answer questions from them with citations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option("--config", help="A dayshift.toml to read.")] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Where the index lives (DAYSHIFT_DATA_DIR).")
    ] = None,
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Work on this tenant's documents (the service's tenants).")
    ] = None,
) -> None:
    overrides = {"data_dir": data_dir} if data_dir else {}
    settings = load_settings(config, **overrides)
    ctx.obj = tenant_settings(settings, tenant) if tenant else settings


app.command("ingest")(ingest.ingest)
app.command("search")(search.search)
app.command("status")(status.status)
app.command("doctor")(doctor.doctor)
app.command("usage")(usage.usage)
app.command("ask")(ask.ask)
app.command("agent")(agent.agent)
app.command("demo")(demo.demo)
app.command("calibrate")(calibrate.calibrate)
app.command("serve")(serve.serve)
app.command("standup")(standup.standup)
app.add_typer(serve.keys_app, name="keys")
app.add_typer(store.store_app, name="store")
app.add_typer(monitor.monitor_app, name="monitor")
app.add_typer(prompts_app, name="prompts")
app.add_typer(eval_app, name="eval")
app.add_typer(traces_app, name="traces")
app.add_typer(finetune_app, name="finetune")
app.add_typer(models_app, name="models")
app.command("review")(review)


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # models ship in packages; never reach for a hub
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        app()
    except DayshiftError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(2)
