"""`dayshift store migrate`: move the index to another store backend without re-embedding."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dayshift import plugins
from dayshift.errors import ConfigError
from dayshift.settings import Settings
from dayshift.store.base import Store
from dayshift.store.migrate import migrate_store

store_app = typer.Typer(help="Work on the index's store backend.", no_args_is_help=True)


@dataclass(frozen=True)
class _Space:
    """The vector space of an existing index, so the target opens for it without loading the model."""

    space: str
    dim: int


@store_app.command("migrate")
def migrate(
    ctx: typer.Context,
    source: Annotated[str, typer.Option("--from", help="Backend holding the index now (e.g. embedded).")],
    target: Annotated[str, typer.Option("--to", help="Backend to copy it to (e.g. postgres, qdrant).")],
    from_url: Annotated[str | None, typer.Option("--from-url", help="The source's URL, for a server.")] = None,
    to_url: Annotated[str | None, typer.Option("--to-url", help="The target's URL, for a server.")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Copy every document, chunk and vector to another backend, then verify the counts."""
    settings: Settings = ctx.obj
    if source == target and from_url == to_url:
        raise ConfigError("--from and --to are the same store; name another backend or URL")
    src = _open(settings, source, from_url, space=None)
    stats = src.stats()
    if stats.space is None or stats.dim is None:
        src.close()
        raise ConfigError(f"the {source} store of this data dir is empty: nothing to migrate")
    dst = _open(settings, target, to_url, space=_Space(stats.space, stats.dim))
    try:
        with Progress(TextColumn("migrating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=Console(stderr=True), disable=as_json) as bar:
            task = bar.add_task("documents", total=stats.documents)
            report = migrate_store(src, dst, on_document=lambda: bar.advance(task))
    finally:
        src.close()
        dst.close()
    if as_json:
        typer.echo(json.dumps({**asdict(report), "verified": report.verified}))
    else:
        typer.echo(
            f"{report.copied} documents copied ({report.chunks} chunks), {report.skipped} already there, "
            f"{report.removed} removed; source {report.source_documents} documents / {report.source_chunks} chunks, "
            f"target {report.target_documents} / {report.target_chunks}: "
            + ("verified" if report.verified else f"NOT verified ({len(report.mismatched)} versions differ)")
        )
        if report.verified:
            typer.echo(f'now set [store] backend = "{target}"' + (" and url" if to_url else "") + " in dayshift.toml")
    if not report.verified:
        raise typer.Exit(1)


def _open(settings: Settings, backend: str, url: str | None, *, space: _Space | None) -> Store:
    factory = plugins.load("stores", backend)
    if space is None:  # the source: open it for whatever space it holds
        space = _Space(*_stored_space(settings, backend, url))
    kwargs = {"data_dir": settings.data_dir, "space": space.space, "dim": space.dim,
              "namespace": settings.store.namespace}
    if url:
        kwargs["url"] = url
    return factory(**kwargs)  # type: ignore[no-any-return]


def _stored_space(settings: Settings, backend: str, url: str | None) -> tuple[str, int]:
    """The space and dim an existing index was built with, read without the embedding model."""
    if backend == "embedded":
        import sqlite3

        path = settings.data_dir / "index.sqlite"
        if not path.exists():
            raise ConfigError(f"no embedded index at {path}; pass --data-dir")
        db = sqlite3.connect(path)
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        db.close()
        return meta["space"], int(meta["dim"])
    from dayshift.assemble import open_embedder

    embedder = open_embedder(settings)  # a server store records its space; open it for the configured one
    return embedder.space, embedder.dim
