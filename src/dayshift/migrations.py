"""Versioned schema migrations for dayshift's own tables outside the traces (those use Alembic: trace/).

    catalog.sqlite      catalog       sources, documents, runs
    index.sqlite        index         meta, chunks, changes (the embedded store)
    embed_cache.sqlite  embed_cache   vectors
    usage.sqlite        usage         calls
    keys.sqlite         keys          api_keys
    alerts.sqlite       alerts        sent, open_alerts, alert_events
    evals/cache.sqlite  eval_cache    completions, query_vectors
    Postgres            the same components, in each schema (postgres.SchemaConnection)

Each database holds `schema_migrations (component, version, description, applied_at)`. Opening
a component applies, in order and each in one transaction, the migrations above the version it
records. Version 1 is the schema the tables were first created with, written `IF NOT EXISTS`:
a data folder from a release before versions existed has those tables and no record, so its
version 1 changes nothing and only stamps it. A later release appends version 2, 3... and never
edits a version once released. A database recorded at a version this release does not know was
written by a newer dayshift: that is an error, never a silent downgrade.

Left out: down-migrations (restore a backup instead), and data migrations that need Python
(none yet: each migration is SQL).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dayshift.errors import ConfigError

TABLE = "schema_migrations"
_SQLITE_TABLE = (f"CREATE TABLE IF NOT EXISTS {TABLE} (component TEXT NOT NULL, version INTEGER NOT NULL, "
                 "description TEXT NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (component, version))")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int  # 1, 2, ... in order, never reused
    description: str
    sql: str  # statements separated by ";"


def baseline(sql: str) -> tuple[Migration, ...]:
    """The migrations of a component whose tables have not changed since they were first created."""
    return (Migration(1, "tables as first created (IF NOT EXISTS: stamps older folders)", sql),)


def migrate_sqlite(db: sqlite3.Connection, component: str, migrations: Sequence[Migration], *,
                   where: str = "") -> int:
    """Bring `component`'s tables in `db` (autocommit mode) to the last of `migrations`; returns its version."""
    _check(component, migrations)
    db.execute(_SQLITE_TABLE)
    current = _sqlite_version(db, component)
    latest = migrations[-1].version
    _refuse_newer(component, current, latest, where)
    for step in migrations:
        if step.version <= current:
            continue
        db.execute("BEGIN IMMEDIATE")
        try:
            if _sqlite_version(db, component) >= step.version:  # another process got there first
                db.execute("ROLLBACK")
                continue
            for statement in _statements(step.sql):
                db.execute(statement)
            db.execute(f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?)",
                       (component, step.version, step.description, _now()))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    return latest


def migrate_postgres(cursor: Any, component: str, migrations: Sequence[Migration], *, where: str = "") -> int:
    """The same in the current schema of a Postgres connection, inside the caller's transaction and lock."""
    _check(component, migrations)
    cursor.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (component TEXT NOT NULL, version INTEGER NOT NULL, "
                   "description TEXT NOT NULL, applied_at TEXT NOT NULL, PRIMARY KEY (component, version))")
    cursor.execute(f"SELECT COALESCE(MAX(version), 0) FROM {TABLE} WHERE component = %s", [component])
    current = int(cursor.fetchone()[0])
    latest = migrations[-1].version
    _refuse_newer(component, current, latest, where)
    for step in migrations:
        if step.version > current:
            for statement in _statements(step.sql):
                cursor.execute(statement)
            cursor.execute(f"INSERT INTO {TABLE} VALUES (%s, %s, %s, %s)",
                           [component, step.version, step.description, _now()])
    return latest


def recorded(db: sqlite3.Connection) -> dict[str, int]:
    """component -> version recorded in a SQLite database (empty before any migration ran)."""
    try:
        rows = db.execute(f"SELECT component, MAX(version) FROM {TABLE} GROUP BY component").fetchall()
    except sqlite3.OperationalError:
        return {}
    return {component: int(version) for component, version in rows}


def _sqlite_version(db: sqlite3.Connection, component: str) -> int:
    row = db.execute(f"SELECT COALESCE(MAX(version), 0) FROM {TABLE} WHERE component = ?", (component,)).fetchone()
    return int(row[0])


def _refuse_newer(component: str, current: int, latest: int, where: str) -> None:
    if current > latest:
        place = f" in {where}" if where else ""
        raise ConfigError(f"the {component} tables{place} are at schema version {current}, written by a newer "
                          f"dayshift (this one knows up to {latest}); upgrade dayshift, or point it at another "
                          "data folder")


def _check(component: str, migrations: Sequence[Migration]) -> None:
    versions = [m.version for m in migrations]
    if not versions or versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"{component}: migrations must be numbered 1, 2, ... in order, not {versions}")


def _statements(sql: str) -> list[str]:
    """SQL split at the ";" that end statements (the schemas hold no ";" inside a literal)."""
    return [s.strip() for s in sql.split(";") if s.strip()]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


__all__ = ["TABLE", "Migration", "baseline", "migrate_postgres", "migrate_sqlite", "recorded"]
