"""dayshift's own tables in Postgres: one schema per namespace, one way to connect to it.

    db = SchemaConnection(url, schema=schema_name("acme"), ddl=CATALOG_DDL, purpose="ingest catalog")
    db.fetch("SELECT ... WHERE path = %s", [path])      # rows; one statement, its own transaction
    db.execute("DELETE ... WHERE path = %s", [path])     # rows changed

The Postgres counterpart of `dayshift.sqlite`. A namespace (a tenant) is the schema
`schema_name(namespace)`, the one the Postgres store uses, so one tenant's chunks, catalog
and embedding cache sit side by side and tenants share no table. Tables are created when
first opened (CREATE ... IF NOT EXISTS), under the advisory lock the store takes for the same
schema, so processes opening a new namespace at once do not collide.

Each object (a catalog, a cache, a key ring, a ledger) holds one connection, in autocommit
mode, shared by its threads under a lock, as the SQLite implementations share one file
handle. `durable=False` turns synchronous_commit off for that connection, which is what the
SQLite files' `synchronous = NORMAL` gives: a crash of the server may lose the last commits
(never half of one, and only commits after the last synchronous one, since the WAL is flushed
in order), while a killed client loses nothing. For the catalog that is the same as a sync
killed a moment earlier, which the next sync completes; it saves a WAL flush (about 6 ms on
a local disk) on every catalog, cache and ledger write.

A connection idle for IDLE_CHECK_S is pinged before use and reopened when the server dropped
it, so a server restarted meanwhile costs no failed call; one dropped while in use fails that
call, and the next reconnects. Driver errors come out as StoreError, naming the server (never
the password) and what to check.

Left out: statements that must commit together (no caller needs more than one),
down-migrations (dayshift.migrations versions these tables: schema_migrations in each schema),
connection pools (a few statements per request need none), and read replicas.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from dayshift.errors import ConfigError, StoreError
from dayshift.migrations import Migration, baseline, migrate_postgres

# The component each purpose's tables are versioned as (dayshift.migrations), alike in SQLite and here.
_COMPONENTS = {"ingest catalog": "catalog", "usage ledger": "usage", "API keys": "keys",
               "embedding cache": "embed_cache"}
IDLE_CHECK_S = 10.0  # ping a connection idle this long before trusting it again
_NAMESPACE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")  # tenant names (dayshift.tenancy)


def schema_name(namespace: str) -> str:
    """The schema of a namespace: dayshift_<namespace>, shortened with a hash past Postgres' 63 bytes."""
    if not _NAMESPACE.match(namespace):
        raise ConfigError(
            f'invalid store namespace "{namespace}": use 1 to 63 lowercase letters, digits, "-" or "_"; '
            "set DAYSHIFT_STORE__NAMESPACE"
        )
    name = f"dayshift_{namespace}"
    return name if len(name) <= 63 else f"{name[:46]}_{hashlib.blake2b(name.encode(), digest_size=8).hexdigest()}"


def libpq_url(url: str) -> str:
    """Also take SQLAlchemy's spelling (postgresql+psycopg://...), as trace.url does."""
    return re.sub(r"^postgres(ql)?\+[a-z0-9]+://", "postgresql://", url)


def describe_url(url: str) -> str:
    """host/database, never the password."""
    from psycopg import ProgrammingError
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(libpq_url(url))
    except ProgrammingError:  # a malformed URL: say nothing of it
        return "the configured URL"
    return f"{parts.get('host') or 'localhost'}/{parts.get('dbname') or parts.get('user') or ''}"


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


class SchemaConnection:
    """One connection whose search_path is one schema, made ready with `ddl` on opening."""

    def __init__(
        self, url: str, *, schema: str, ddl: str | Sequence[Migration], purpose: str, durable: bool = True,
        setting: str = "DAYSHIFT_DATABASE__URL", connect_timeout_s: float = 10.0,
    ) -> None:
        import psycopg
        from psycopg import sql

        self._psycopg, self._url = psycopg, libpq_url(url)
        self.schema, self.purpose, self._setting = schema, purpose, setting
        self.where = f"{describe_url(url)} (schema {schema})"
        self._timeout_s = max(1, int(connect_timeout_s))
        self._search_path = '"' + schema.replace('"', '""') + '"'
        self._durable = durable
        self._lock = threading.Lock()
        self._conn: Any = None
        self._used_at = 0.0
        with self._lock:
            conn = self._connect()
            try:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"dayshift:{schema}"])
                    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
                    steps = baseline(ddl) if isinstance(ddl, str) else ddl
                    migrate_postgres(conn.cursor(), _COMPONENTS.get(purpose, purpose), steps, where=self.where)
            except psycopg.Error as exc:
                conn.close()
                raise StoreError(
                    f"cannot set up the {purpose} in schema {schema} at {describe_url(url)}: {first_line(exc)}; "
                    "the role needs CREATE on the database (or an administrator creates the schema)"
                ) from exc
            self._conn = conn

    def fetch(
        self, statement: str, params: Sequence[Any] | None = None, *, binary: bool = False
    ) -> list[tuple[Any, ...]]:
        """The rows of one statement (autocommit: it is its own transaction); `binary` results skip text decoding."""
        with self._connection() as conn:
            cursor = conn.cursor(binary=binary).execute(statement, params)
            return cursor.fetchall() if cursor.description is not None else []

    def execute(self, statement: str, params: Sequence[Any] | None = None) -> int:
        """Run one statement (its own transaction) -> the rows it changed."""
        with self._connection() as conn:
            return int(conn.execute(statement, params).rowcount)

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        psycopg = self._psycopg
        with self._lock:
            conn = self._ready()
            try:
                yield conn
            except psycopg.Error as exc:
                if conn.broken or conn.closed:
                    self._conn = None
                raise StoreError(
                    f"the {self.purpose} in Postgres at {self.where} failed: {first_line(exc)}; check "
                    f"{self._setting} and that the server is running"
                ) from exc
            finally:
                self._used_at = time.monotonic()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _ready(self) -> Any:
        """The open connection; pinged first if it sat idle, and reopened if the server dropped it."""
        conn = self._conn
        if conn is not None and not conn.closed and time.monotonic() - self._used_at > IDLE_CHECK_S:
            try:
                conn.execute("SELECT 1")
            except self._psycopg.OperationalError:
                conn.close()
        if conn is None or conn.closed:
            conn = self._conn = self._connect()
        return conn

    def _connect(self) -> Any:
        psycopg = self._psycopg
        try:
            conn = psycopg.connect(self._url, autocommit=True, connect_timeout=self._timeout_s)
            conn.execute(f"SET search_path TO {self._search_path}")
            if not self._durable:
                conn.execute("SET synchronous_commit TO off")
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot connect to Postgres at {self.where} for the {self.purpose}: {first_line(exc)}; "
                f"check {self._setting} and that the server is running"
            ) from exc
        self._used_at = time.monotonic()
        return conn
