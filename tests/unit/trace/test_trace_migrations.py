"""Alembic migrations of the trace database, run programmatically: fresh, again (a no-op), and racing."""

from __future__ import annotations

import multiprocessing

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from trace_factory import make_record

from dayshift.trace.schema import metadata
from dayshift.trace.store import VERSION_TABLE, TraceStore, create_trace_engine, upgrade


def _tables_and_version(url: str) -> tuple[set[str], list[str]]:
    engine = create_trace_engine(url)
    try:
        with engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
            versions = connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
            indexes = {i["name"] for i in sa.inspect(connection).get_indexes("traces")}
    finally:
        engine.dispose()
    assert indexes == {"ix_traces_tenant_started_at", "ix_traces_started_at"}
    return tables, list(versions)


def test_upgrade_creates_the_tables_and_a_second_upgrade_is_a_no_op(store_url: str) -> None:
    upgrade(store_url)
    assert _tables_and_version(store_url) == ({"traces", "feedback", VERSION_TABLE}, ["0002"])
    with TraceStore(store_url, migrate=False) as store:
        store.write([make_record(1)])
    upgrade(store_url)
    with TraceStore(store_url) as store:  # migrates (nothing to do) on open as well
        assert store.count() == 1
    assert _tables_and_version(store_url) == ({"traces", "feedback", VERSION_TABLE}, ["0002"])


def test_migrations_build_exactly_the_schema_the_code_uses(store_url: str) -> None:
    upgrade(store_url)
    engine = create_trace_engine(store_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
            assert compare_metadata(context, metadata) == []
    finally:
        engine.dispose()


def _upgrade_when_told(url: str, go: multiprocessing.synchronize.Event) -> None:  # type: ignore[name-defined]
    go.wait()
    upgrade(url)


def test_processes_migrating_one_fresh_database_at_once_all_succeed(store_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    workers = [context.Process(target=_upgrade_when_told, args=(store_url, go)) for _ in range(4)]
    for worker in workers:
        worker.start()
    go.set()
    for worker in workers:
        worker.join(timeout=60)
    assert [w.exitcode for w in workers] == [0] * 4
    assert _tables_and_version(store_url) == ({"traces", "feedback", VERSION_TABLE}, ["0002"])
