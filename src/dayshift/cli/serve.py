"""`dayshift serve`: the API, its OpenAPI docs and the web UI on one port; `dayshift keys`: API keys."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dayshift.assemble import open_key_ring
from dayshift.settings import Settings


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on (service.host).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (service.port).")] = None,
    log_level: Annotated[str, typer.Option("--log-level")] = "info",
) -> None:
    """Serve the API and the web UI (http://127.0.0.1:8000 by default)."""
    import uvicorn

    from dayshift.service.app import check_bind, create_app
    from dayshift.service.logs import configure_logging

    settings: Settings = ctx.obj
    host = host or settings.service.host
    port = port if port is not None else settings.service.port
    keys = open_key_ring(settings)
    check_bind(settings, host=host, open_auth=settings.service.admin_key is None and keys.active_count() == 0)
    keys.close()
    configure_logging(level=log_level.upper())
    typer.secho(f"dayshift: http://{host}:{port}  (API docs at /docs)", err=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None, access_log=False,
                timeout_graceful_shutdown=30)


keys_app = typer.Typer(help="Create, list and revoke API keys (each belongs to one tenant).", no_args_is_help=True)


@keys_app.command("create")
def create(
    ctx: typer.Context,
    tenant: Annotated[str, typer.Option("--tenant", help="The tenant this key reads and writes.")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Create a key. It is shown once; only its hash is kept."""
    settings: Settings = ctx.obj
    ring = open_key_ring(settings)
    key, info = ring.create(tenant)
    ring.close()
    if as_json:
        typer.echo(json.dumps({"key": key, "key_id": info.key_id, "tenant": info.tenant}))
        return
    typer.echo(key)
    typer.secho(f"key {info.key_id}… for tenant {tenant}: store it now, it is not shown again", err=True)


@keys_app.command("list")
def list_keys(ctx: typer.Context) -> None:
    """Every key's id, tenant and state (never the key itself)."""
    settings: Settings = ctx.obj
    ring = open_key_ring(settings)
    table = Table("key id", "tenant", "created", "revoked")
    for info in ring.list():
        table.add_row(info.key_id, info.tenant, info.created_at[:19], (info.revoked_at or "")[:19])
    ring.close()
    Console().print(table)


@keys_app.command("revoke")
def revoke(ctx: typer.Context, key_id: Annotated[str, typer.Argument(help="The key id `keys list` shows.")]) -> None:
    """Revoke a key; requests with it fail within 5 seconds."""
    settings: Settings = ctx.obj
    ring = open_key_ring(settings)
    found = ring.revoke(key_id)
    ring.close()
    if not found:
        typer.secho(f"no active key {key_id}; `dayshift keys list` shows them", fg="red", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")
