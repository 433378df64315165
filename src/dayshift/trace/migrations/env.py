"""Alembic environment of the trace database, run by `dayshift.trace.store.upgrade(url)`.

No alembic.ini: `upgrade` passes an open connection in `config.attributes`;
run from the alembic command line, `sqlalchemy.url` is read from the config.
Concurrent migrations of one database are serialised before alembic looks
at the version: SQLite by BEGIN IMMEDIATE (the database's write lock, waited
for under the busy timeout), Postgres by a transaction-scoped advisory lock.
Both run every revision in that one transaction, so a failed migration
leaves nothing half-done.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from dayshift.trace.schema import metadata
from dayshift.trace.store import VERSION_TABLE, create_trace_engine, lock_for_migration


def _migrate(connection: Connection) -> None:
    lock_for_migration(connection)  # opens the transaction the migration runs in
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        transactional_ddl=True,  # SQLite too: the engine issues BEGIN itself (see store.create_trace_engine)
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()


def _run() -> None:
    config = context.config
    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True, version_table=VERSION_TABLE)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = create_trace_engine(config.get_main_option("sqlalchemy.url") or "")
    try:
        with engine.connect() as connection:
            _migrate(connection)
    finally:
        engine.dispose()


_run()
