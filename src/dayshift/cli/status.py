"""`dayshift status`: what is indexed, when it last synced, and what failed."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dayshift.ingest.catalog import Catalog
from dayshift.settings import Settings
from dayshift.store.embedded import EmbeddedStore


def status(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Documents, chunks, versions, last sync and failures."""
    settings: Settings = ctx.obj
    data = _collect(settings)
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    console = Console()
    console.print(f"[bold]index[/] {settings.data_dir.resolve()}")
    console.print(
        f"  {data['documents']} documents ({data['duplicates']} duplicates skipped), {data['chunks']} chunks, "
        f"{data['sources_ok']} files ok, {data['sources_failed']} failed; {data['size_mb']:.1f} MB; vectors: {data['space']}"
    )
    last = data["last_sync"]
    if last:
        console.print(f"  last sync {last['finished']} of {last['root']}: {last['counts']}")
    else:
        console.print("  never synced: run `dayshift ingest PATH`")
    if data["failures"]:
        table = Table("file", "problem", "what to do", title="Failing files", title_style="bold red")
        for f in data["failures"]:
            table.add_row(f["source"], f"{f['kind']}: {f['reason']}", f["fix"])
        console.print(table)


def _collect(settings: Settings) -> dict[str, object]:
    catalog = Catalog(settings.data_dir / "catalog.sqlite")
    index = settings.data_dir / "index.sqlite"
    stats = None
    if index.exists():
        import sqlite3

        meta = dict(sqlite3.connect(index).execute("SELECT key, value FROM meta").fetchall())
        store = EmbeddedStore(data_dir=settings.data_dir, space=meta["space"], dim=int(meta["dim"]))
        stats = store.stats()
        store.close()
    sources = catalog.sources()
    last = catalog.last_run()
    return {
        "documents": stats.documents if stats else 0,
        "chunks": stats.chunks if stats else 0,
        "duplicates": len(catalog.documents(status="duplicate")),
        "sources_ok": sum(1 for s in sources if s.status == "ok"),
        "sources_failed": sum(1 for s in sources if s.status == "failed"),
        "size_mb": (stats.size_bytes if stats else 0) / 1e6,
        "space": stats.space if stats else None,
        "last_sync": None if last is None else {
            "root": last[0],
            "finished": dt.datetime.fromtimestamp(last[2] or last[1]).isoformat(timespec="seconds"),
            "counts": last[3],
        },
        "failures": [
            {"source": s.path, "kind": s.error_kind, "reason": s.error_reason, "fix": s.error_fix}
            for s in sources if s.status == "failed"
        ],
    }
