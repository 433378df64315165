"""The trace database: write traces idempotently, read them back by tenant, attach feedback.

    store = TraceStore(default_trace_url(settings.data_dir))   # migrates to the latest revision
    store.write([record, ...])                 # insert-or-ignore by trace_id: replaying a batch is harmless
    store.query(TraceQuery(tenant="acme", feedback="down", limit=50))   # newest first
    store.add_feedback(Feedback(trace_id, tenant="acme", rating="up"))  # False: no such trace for acme
    for trace in store.scan(since, until):     # oldest first, streamed in batches (the monitor's detectors)

SQLite (the default, data_dir/traces.sqlite) and Postgres (`postgresql+psycopg://...`)
are supported; both run the same statements. Tenant scoping is enforced
here: `get`, `query` and `add_feedback` only ever see the given tenant's
rows, and only `tenant=None` (the admin) sees all of them.

SQLite connections are opened by `dayshift.sqlite.open_database` (WAL, busy
timeout, synchronous=NORMAL, autocommit driver), and the engine issues BEGIN
itself, so transactions and DDL are really transactional; writes start with
BEGIN IMMEDIATE, so two writers queue on the busy timeout instead of failing.

Left out: text search inside query/answer, aggregates (the metrics export
counts requests), and any other SQL backend.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from dayshift.errors import ConfigError, QueryError
from dayshift.sqlite import open_database
from dayshift.trace.record import Feedback, Rating, RetrievedChunk, TraceQuery, TraceRecord
from dayshift.trace.schema import UTCDateTime, feedback, traces

__all__ = [
    "StoredTrace",
    "TraceStore",
    "VERSION_TABLE",
    "create_trace_engine",
    "default_trace_url",
    "lock_for_migration",
    "upgrade",
]

VERSION_TABLE = "dayshift_trace_version"  # not alembic_version: the database may be shared with other apps
_BEGIN = "dayshift_sqlite_begin"  # execution option: the statement that opens a SQLite transaction
_MIGRATION_LOCK_KEY = 0x6461797368696674  # "dayshift", the Postgres advisory lock held while migrating
_FIELDS = tuple(f.name for f in dataclasses.fields(TraceRecord))
_JSON_FIELDS = ("stages_ms", "retrieved", "errors", "params", "detail")
_TEXT_FIELDS = tuple(c.name for c in traces.columns if isinstance(c.type, sa.String | sa.Text))


def default_trace_url(data_dir: Path) -> str:
    return f"sqlite:///{(Path(data_dir) / 'traces.sqlite').resolve()}"


@dataclass(frozen=True, slots=True)
class StoredTrace:
    """A trace as stored, with its feedback (oldest first)."""

    record: TraceRecord
    feedback: list[Feedback]

    @property
    def rating(self) -> Rating | None:
        """The latest rating, which is the one that counts."""
        return self.feedback[-1].rating if self.feedback else None

    def to_json(self) -> dict[str, Any]:
        data = self.record.to_json()
        data["feedback"] = [
            {"rating": f.rating, "comment": f.comment, "created_at": f.created_at.isoformat()} for f in self.feedback
        ]
        return data


# -- engine and migrations ----------------------------------------------------


def create_trace_engine(url: str, *, busy_timeout_s: float = 60.0) -> Engine:
    """An engine for `url`: a SQLite file or Postgres (a bare postgresql:// uses psycopg 3).

    Statement parameters are kept out of error messages: they are trace text, which ends up in logs.
    """
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return sa.create_engine(parsed, pool_pre_ping=True, hide_parameters=True)
    if backend != "sqlite":
        raise ConfigError(
            f'trace database "{backend}" is not supported: set DAYSHIFT_TRACE__URL to sqlite:///path/traces.sqlite '
            "or postgresql+psycopg://user:password@host/db"
        )
    if parsed.database in (None, "", ":memory:"):
        raise ConfigError(
            "the trace database cannot be an in-memory SQLite database (the flusher writes it from another "
            "process): use sqlite:///path/traces.sqlite"
        )
    path = Path(parsed.database)
    engine = sa.create_engine(
        parsed, creator=lambda: open_database(path, busy_timeout_s=busy_timeout_s), hide_parameters=True
    )

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver must not BEGIN on its own; _begin does
        dbapi_connection.execute("PRAGMA foreign_keys = ON")

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql(connection.get_execution_options().get(_BEGIN, "BEGIN"))

    return engine


def lock_for_migration(connection: Connection) -> None:
    """Begin the migration's transaction holding a lock that serialises migrations of this database."""
    if connection.dialect.name == "sqlite":
        connection.execution_options(**{_BEGIN: "BEGIN IMMEDIATE"})
        connection.begin()
    elif connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})


def upgrade(url: str) -> None:
    """Bring the trace database at `url` to the latest revision (a no-op when it is there already)."""
    engine = create_trace_engine(url)
    try:
        _upgrade(engine)
    finally:
        engine.dispose()


def _upgrade(engine: Engine) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "dayshift.trace:migrations")
    with engine.connect() as connection:  # env.py migrates over it, so the URL need not be in the config
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


# -- the store ------------------------------------------------------------------


class TraceStore:
    """Traces and feedback in one SQL database; safe to share between threads and processes."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self._engine = create_trace_engine(url)
        self._writer = self._engine.execution_options(**{_BEGIN: "BEGIN IMMEDIATE"})
        self.dialect = self._engine.dialect.name
        if migrate:
            _upgrade(self._engine)

    def write(self, records: Sequence[TraceRecord]) -> int:
        """Insert the records whose trace_id is new, in one transaction; returns how many were new."""
        if not records:
            return 0
        rows = [self._row(r) for r in records]
        statement = self._insert_ignore().returning(traces.c.trace_id)
        with self._writer.begin() as connection:
            return len(connection.execute(statement, rows).all())

    def get(self, trace_id: str, *, tenant: str | None) -> StoredTrace | None:
        """The trace, if it exists and belongs to `tenant` (None: any tenant)."""
        where = [traces.c.trace_id == trace_id]
        if tenant is not None:
            where.append(traces.c.tenant == tenant)
        with self._engine.connect() as connection:
            found = self._load(connection, sa.select(traces).where(*where))
        return found[0] if found else None

    def query(self, q: TraceQuery) -> list[StoredTrace]:
        """The traces matching `q`, newest first; the next page is `before=<last trace_id of this one>`."""
        if q.limit < 1:
            raise QueryError(f"limit must be at least 1, got {q.limit}")
        where = _filters(q)
        with self._engine.connect() as connection:
            if q.before is not None:
                where.append(_older_than(connection, q.before, tenant=q.tenant))
            statement = (
                sa.select(traces)
                .where(*where)
                .order_by(traces.c.started_at.desc(), traces.c.trace_id.desc())
                .limit(q.limit)
            )
            return self._load(connection, statement)

    def scan(
        self, since: datetime, until: datetime, *, tenant: str | None = None, batch: int = 1000
    ) -> Iterator[StoredTrace]:
        """Every trace started in [since, until), oldest first, with its feedback, read `batch` at a time.

        Keyset pagination on (started_at, trace_id): memory stays at one batch, no read transaction
        is held open between batches, and a trace written meanwhile is either seen once or not at all.
        """
        if batch < 1:
            raise QueryError(f"batch must be at least 1, got {batch}")
        t = traces.c
        where = [t.started_at >= since, t.started_at < until]
        if tenant is not None:
            where.append(t.tenant == tenant)
        after: tuple[datetime, str] | None = None
        while True:
            page = list(where)
            if after is not None:
                page.append(sa.or_(t.started_at > after[0], sa.and_(t.started_at == after[0], t.trace_id > after[1])))
            statement = sa.select(traces).where(*page).order_by(t.started_at, t.trace_id).limit(batch)
            with self._engine.connect() as connection:
                found = self._load(connection, statement)
            yield from found
            if len(found) < batch:
                return
            last = found[-1].record
            after = (last.started_at, last.trace_id)

    def add_feedback(self, fb: Feedback) -> bool:
        """Attach feedback to fb.trace_id; False (nothing written) if that trace is not fb.tenant's."""
        if fb.rating not in ("up", "down"):
            raise QueryError(f'rating must be "up" or "down", got {fb.rating!r}')
        target = sa.select(traces.c.trace_id, traces.c.tenant).where(
            traces.c.trace_id == fb.trace_id, traces.c.tenant == fb.tenant
        )
        values = target.add_columns(
            sa.literal(fb.rating, sa.String), sa.literal(fb.comment, sa.Text), sa.literal(fb.created_at, UTCDateTime())
        )
        # One statement, so the trace cannot vanish between the check and the insert.
        statement = (
            sa.insert(feedback)
            .from_select(["trace_id", "tenant", "rating", "comment", "created_at"], values)
            .returning(feedback.c.id)
        )
        with self._writer.begin() as connection:
            return connection.execute(statement).first() is not None

    def count(self, tenant: str | None = None) -> int:
        statement = sa.select(sa.func.count()).select_from(traces)
        if tenant is not None:
            statement = statement.where(traces.c.tenant == tenant)
        with self._engine.connect() as connection:
            return int(connection.execute(statement).scalar_one())

    def purge(self, older_than: datetime) -> int:
        """Delete traces started before `older_than`, with their feedback; returns how many traces went."""
        old = sa.select(traces.c.trace_id).where(traces.c.started_at < older_than)
        with self._writer.begin() as connection:
            connection.execute(sa.delete(feedback).where(feedback.c.trace_id.in_(old)))
            return connection.execute(sa.delete(traces).where(traces.c.started_at < older_than)).rowcount

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> TraceStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- rows -----------------------------------------------------------------

    def _insert_ignore(self) -> Any:
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(traces).on_conflict_do_nothing(index_elements=["trace_id"])

    def _row(self, record: TraceRecord) -> dict[str, Any]:
        row = {name: getattr(record, name) for name in _FIELDS}
        row["retrieved"] = [dataclasses.asdict(c) for c in record.retrieved]
        for name in _JSON_FIELDS:
            row[name] = _finite(row[name])  # NaN is not JSON: Postgres refuses it, SQLite reads it back as NULL
        if self.dialect == "postgresql":
            for name in _TEXT_FIELDS:  # Postgres text cannot hold NUL; SQLite can
                if isinstance(row[name], str) and "\x00" in row[name]:
                    row[name] = row[name].replace("\x00", "\ufffd")
        return row

    def _load(self, connection: Connection, statement: sa.Select[Any]) -> list[StoredTrace]:
        rows = connection.execute(statement).mappings().all()
        by_trace: dict[str, list[Feedback]] = {row["trace_id"]: [] for row in rows}
        if by_trace:
            found = connection.execute(
                sa.select(feedback)
                .where(feedback.c.trace_id.in_(list(by_trace)))
                .order_by(feedback.c.created_at, feedback.c.id)
            ).mappings()
            for f in found:
                by_trace[f["trace_id"]].append(
                    Feedback(f["trace_id"], f["tenant"], f["rating"], f["comment"], f["created_at"])
                )
        return [StoredTrace(_record(row), by_trace[row["trace_id"]]) for row in rows]


def _record(row: Any) -> TraceRecord:
    data = {name: row[name] for name in _FIELDS}
    data["retrieved"] = [RetrievedChunk(**c) for c in row["retrieved"]]
    data["detail"] = data["detail"] or {}
    return TraceRecord(**data)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _filters(q: TraceQuery) -> list[sa.ColumnElement[bool]]:
    t = traces.c
    where: list[sa.ColumnElement[bool]] = []
    if q.tenant is not None:
        where.append(t.tenant == q.tenant)
    if q.since is not None:
        where.append(t.started_at >= q.since)
    if q.until is not None:
        where.append(t.started_at < q.until)
    if q.route is not None:
        where.append(t.route == q.route)
    if q.status is not None:
        where.append(t.status == q.status)
    if q.abstained is not None:
        where.append(t.abstained == q.abstained)
    if q.prompt_version is not None:
        name, at, version = q.prompt_version.rpartition("@")
        where.append(t.prompt_version == version)
        if at:
            where.append(t.prompt_name == name)
    if q.feedback is not None:
        where.append(_feedback_filter(q.feedback))
    return where


def _feedback_filter(wanted: str) -> sa.ColumnElement[bool]:
    of_trace = feedback.c.trace_id == traces.c.trace_id
    if wanted == "any":
        return sa.exists().where(of_trace)
    if wanted == "none":
        return ~sa.exists().where(of_trace)
    if wanted not in ("up", "down"):
        raise QueryError(f'feedback must be "up", "down", "none" or "any", got {wanted!r}')
    latest = (
        sa.select(feedback.c.rating)
        .where(of_trace)
        .order_by(feedback.c.created_at.desc(), feedback.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    return latest == wanted


def _older_than(connection: Connection, trace_id: str, *, tenant: str | None) -> sa.ColumnElement[bool]:
    """Rows after the cursor in (started_at, trace_id) descending order."""
    where = [traces.c.trace_id == trace_id]
    if tenant is not None:
        where.append(traces.c.tenant == tenant)
    started_at = connection.execute(sa.select(traces.c.started_at).where(*where)).scalar_one_or_none()
    if started_at is None:
        raise QueryError(
            f'unknown cursor "before={trace_id}": pass the trace_id of the last trace of the previous page'
        )
    return sa.or_(
        traces.c.started_at < started_at,
        sa.and_(traces.c.started_at == started_at, traces.c.trace_id < trace_id),
    )
