"""`dayshift status`: what is indexed, when it last synced, and what failed."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dayshift import plugins
from dayshift.assemble import open_catalog, open_embedder, open_store
from dayshift.ingest.catalog_base import IngestCatalog
from dayshift.settings import Settings


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
    console.print(f"  {data['versions']} document versions indexed (every add and update, all syncs)")
    last = data["last_sync"]
    if last:
        console.print(f"  last sync {last['finished']} of {last['root']}")
        runs = Table("finished", "root", "added", "updated", "unchanged", "deleted", "failed", title="Recent syncs")
        for run in data["runs"]:
            c = run["counts"]
            runs.add_row(run["finished"], run["root"], *(str(c.get(k, 0)) for k in
                                                          ("added", "updated", "unchanged", "deleted", "failed")))
        console.print(runs)
    else:
        console.print("  never synced: run `dayshift ingest PATH`")
    if data["failures"]:
        table = Table("file", "problem", "what to do", title="Failing files", title_style="bold red")
        for f in data["failures"]:
            table.add_row(f["source"], f"{f['kind']}: {f['reason']}", f["fix"])
        console.print(table)


def _collect(settings: Settings) -> dict[str, object]:
    # The configured backends must exist before anything is read: an unknown store.backend is a
    # configuration error (PluginError names the installed ones), not an empty index.
    for group, name in (("stores", settings.store.backend), ("embedders", settings.embed.backend)):
        plugins.load(group, name)
    catalog = open_catalog(settings)
    try:
        return _describe(settings, catalog)
    finally:
        catalog.close()


def _describe(settings: Settings, catalog: IngestCatalog) -> dict[str, object]:
    stats = None
    if catalog.last_run() is not None:  # something was synced: open the configured store
        store = open_store(settings, open_embedder(settings))
        stats = store.stats()
        store.close()
    sources = catalog.sources()
    runs = catalog.runs(limit=5)
    last = runs[0] if runs else None
    return {
        "documents": stats.documents if stats else 0,
        "chunks": stats.chunks if stats else 0,
        "duplicates": len(catalog.documents(status="duplicate")),
        "sources_ok": sum(1 for s in sources if s.status == "ok"),
        "sources_failed": sum(1 for s in sources if s.status == "failed"),
        "size_mb": (stats.size_bytes if stats else 0) / 1e6,
        "space": stats.space if stats else None,
        "versions": catalog.versions_indexed(),
        "last_sync": None if last is None else _run(last),
        "runs": [_run(r) for r in runs],
        "failures": [
            {"source": s.path, "kind": s.error_kind, "reason": s.error_reason, "fix": s.error_fix}
            for s in sources if s.status == "failed"
        ],
    }


def _run(run: tuple[str, float, float | None, dict[str, int]]) -> dict[str, object]:
    root, started, finished, counts = run
    when = dt.datetime.fromtimestamp(finished or started).isoformat(timespec="seconds")
    return {"root": root, "finished": when, "counts": counts}
