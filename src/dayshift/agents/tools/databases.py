"""The databases the `sql` tool reads: SQLite files, tabular exports (CSV, TSV, JSON Lines) and Postgres.

    open_databases(["chinook.sqlite", "posts.csv"])        -> SqliteDatabase (one connection, read-only)
    open_databases(["postgresql://reader@host/shop"])      -> PostgresDatabase (READ ONLY transactions)

SQLite files are attached read-only (`mode=ro` URIs) under their file's stem, and tabular files are
loaded into temporary tables of that name, so one query can join them all; an unqualified table
name finds the table wherever it is. Once set up, the connection is made `query_only` and given an
authorizer that allows reading, and the functions not on sql_guard.DENIED_FUNCTIONS, and nothing
else -- not even PRAGMA or ATTACH. Each query runs under a time limit (SQLite's progress handler
interrupts it; Postgres's statement_timeout) and at most max_rows + 1 rows are fetched.

`describe()` is the schema the model is shown: one line per table, its columns with their types,
and where a column points to another table.

Left out: Postgres schemas other than the search path's tables (all non-system schemas are shown,
qualified where needed), views' definitions, and MySQL.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from dayshift.agents.tools.base import ToolError
from dayshift.agents.tools.sql_guard import DENIED_FUNCTIONS
from dayshift.errors import ConfigError, LoadError

SQLITE_SUFFIXES = (".sqlite", ".sqlite3", ".db")
TABULAR_SUFFIXES = (".csv", ".tsv", ".jsonl")
_NAME = re.compile(r"[^A-Za-z0-9_]+")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str
    references: str | None = None  # "Album.AlbumId"


@dataclass(frozen=True, slots=True)
class Table:
    name: str  # as a query should name it: "Track", or "posts.posts" where two schemas share a name
    columns: tuple[Column, ...]

    def line(self) -> str:
        cols = ", ".join(f"{c.name} {_short_type(c.type)}".strip() + (f" -> {c.references}" if c.references else "")
                         for c in self.columns)
        return f"{self.name}({cols})"


def _short_type(declared: str) -> str:
    """NVARCHAR(40) -> TEXT, NUMERIC(10,2) -> NUMERIC: what a query needs to know, in fewer tokens."""
    base = declared.split("(")[0].strip().upper()
    if any(word in base for word in ("CHAR", "TEXT", "CLOB", "STRING")):
        return "TEXT"
    return base


@dataclass(frozen=True, slots=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    truncated: bool  # more rows than max_rows existed


class Database(Protocol):
    dialect: str  # sqlglot's name: "sqlite", "postgres"
    where: str  # what to name in messages

    def describe(self) -> list[Table]: ...

    def query(self, sql: str, *, max_rows: int, timeout_s: float) -> QueryResult: ...

    def close(self) -> None: ...


def open_databases(specs: Sequence[str]) -> Database:
    """One Database over `specs`: SQLite and tabular files together, or one Postgres URL."""
    if not specs:
        raise ConfigError("the sql tool needs a database: pass --db FILE (SQLite, CSV, TSV or JSONL) or a Postgres "
                          "URL, or set agent.databases")
    urls = [s for s in specs if s.startswith(("postgres://", "postgresql://", "postgresql+psycopg://"))]
    if urls:
        if len(specs) > 1:
            raise ConfigError("a Postgres database cannot be combined with other databases in one sql tool: pass "
                              "the URL alone")
        return PostgresDatabase(urls[0])
    return SqliteDatabase([Path(s) for s in specs])


# -- SQLite and files ----------------------------------------------------------------------------

_ALLOWED_ACTIONS = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}


def _authorize(action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None) -> int:
    if action not in _ALLOWED_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() in DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


class SqliteDatabase:
    dialect = "sqlite"

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = list(paths)
        self.where = ", ".join(p.name for p in self.paths)
        self._lock = threading.Lock()
        self._db = sqlite3.connect("file:dayshift-agent?mode=memory", uri=True, check_same_thread=False)
        self._deadline = float("inf")
        try:
            names = [self._add(path) for path in self.paths]
            self._tables = self._read_schema(names)
        except (sqlite3.Error, LoadError) as exc:
            self._db.close()
            raise ConfigError(f"cannot open {self.where} for the sql tool: {exc}") from exc
        self._db.execute("PRAGMA query_only = ON")
        self._db.set_authorizer(_authorize)
        self._db.set_progress_handler(self._over_time, 2000)

    def _add(self, path: Path) -> str:
        if not path.is_file():
            raise ConfigError(f"database file {path} not found: check the path given to --db")
        name = _identifier(path.stem)
        suffix = path.suffix.lower()
        if suffix in SQLITE_SUFFIXES:
            uri = "file:" + str(path.resolve()).replace("?", "%3f").replace("#", "%23") + "?mode=ro"
            self._db.execute("ATTACH DATABASE ? AS " + _quoted(name), (uri,))
            return name
        if suffix in TABULAR_SUFFIXES:
            self._load_table(path, name)
            return "temp"
        raise ConfigError(f"{path}: the sql tool reads SQLite ({', '.join(SQLITE_SUFFIXES)}) and tabular files "
                          f"({', '.join(TABULAR_SUFFIXES)}), or a Postgres URL")

    def _load_table(self, path: Path, name: str) -> None:
        from dayshift.ingest.loaders.tabular import read_csv_rows, read_jsonl_rows

        if path.suffix.lower() == ".jsonl":
            rows = read_jsonl_rows(path)
            columns = list(dict.fromkeys(k for row in rows for k in row))
        else:
            columns, rows = read_csv_rows(path)
        cells = [[_cell(row.get(c)) for c in columns] for row in rows]
        column_list = ", ".join(f"{_quoted(c)} {_column_type([r[i] for r in cells])}" for i, c in enumerate(columns))
        self._db.execute(f"CREATE TEMP TABLE {_quoted(name)} ({column_list})")
        marks = ", ".join("?" for _ in columns)
        self._db.executemany(f"INSERT INTO temp.{_quoted(name)} VALUES ({marks})", cells)

    def _read_schema(self, schemas: list[str]) -> list[Table]:
        found: list[tuple[str, str]] = []
        for schema in dict.fromkeys(schemas):
            master = "sqlite_temp_master" if schema == "temp" else "sqlite_master"
            for (table,) in self._db.execute(f"SELECT name FROM {_quoted(schema)}.{master} WHERE type IN "
                                             "('table', 'view') AND name NOT LIKE 'sqlite_%' ORDER BY name"):
                found.append((schema, table))
        counts: dict[str, int] = {}
        for _, table in found:
            counts[table.lower()] = counts.get(table.lower(), 0) + 1
        tables = []
        for schema, table in found:
            refs = {row[3]: f"{row[2]}.{row[4] or row[3]}" for row in
                    self._db.execute(f"PRAGMA {_quoted(schema)}.foreign_key_list({_quoted(table)})")}
            columns = tuple(Column(row[1], row[2] or "", refs.get(row[1])) for row in
                            self._db.execute(f"PRAGMA {_quoted(schema)}.table_info({_quoted(table)})"))
            name = table if counts[table.lower()] == 1 else f"{schema}.{table}"
            tables.append(Table(name, columns))
        return tables

    def describe(self) -> list[Table]:
        return list(self._tables)

    def query(self, sql: str, *, max_rows: int, timeout_s: float) -> QueryResult:
        with self._lock:
            self._deadline = time.monotonic() + timeout_s
            try:
                cursor = self._db.execute(sql)
                rows = cursor.fetchmany(max_rows + 1)
                columns = tuple(d[0] for d in cursor.description or ())
                cursor.close()
            except sqlite3.DatabaseError as exc:
                raise _sqlite_error(exc, timeout_s) from None
            finally:
                self._deadline = float("inf")
        return QueryResult(columns, tuple(rows[:max_rows]), truncated=len(rows) > max_rows)

    def _over_time(self) -> int:
        return 1 if time.monotonic() > self._deadline else 0

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _sqlite_error(exc: sqlite3.DatabaseError, timeout_s: float) -> ToolError:
    text = str(exc)
    if "interrupted" in text:
        return ToolError(f"the query ran past its {timeout_s:g} s limit and was stopped: select less, add a "
                         "WHERE clause, or aggregate")
    if "not authorized" in text or "readonly" in text or "read-only" in text:
        return ToolError(f"the database refused the statement ({text}): only reading is allowed", refused=True)
    return ToolError(f"the database said: {text}; check the table and column names in the schema")


def _identifier(stem: str) -> str:
    name = _NAME.sub("_", stem).strip("_") or "data"
    return name if not name[0].isdigit() else f"t_{name}"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _column_type(values: Sequence[object]) -> str:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, int) for v in present):
        return "INTEGER"
    if present and all(isinstance(v, int | float) for v in present):
        return "REAL"
    return "TEXT"


def _cell(value: object) -> object:
    """A CSV cell as SQLite should compare it: empty is NULL, numbers are numbers (a leading zero keeps text)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and _NUMBER.fullmatch(value.strip()) and not re.match(r"[+-]?0\d", value.strip()):
        number = float(value)
        return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number
    if isinstance(value, dict | list):
        return str(value)
    return value


# -- Postgres ---------------------------------------------------------------------------------------

_PG_COLUMNS = """
SELECT c.table_schema, c.table_name, c.column_name, c.data_type
FROM information_schema.columns c
WHERE c.table_schema NOT IN ('pg_catalog', 'information_schema') AND c.table_schema NOT LIKE 'pg_toast%'
ORDER BY c.table_schema, c.table_name, c.ordinal_position
"""
_PG_REFERENCES = """
SELECT kcu.table_schema, kcu.table_name, kcu.column_name, ccu.table_name, ccu.column_name
FROM information_schema.table_constraints tc
JOIN information_schema.key_column_usage kcu ON tc.constraint_name = kcu.constraint_name
     AND tc.table_schema = kcu.table_schema
JOIN information_schema.constraint_column_usage ccu ON tc.constraint_name = ccu.constraint_name
     AND tc.table_schema = ccu.table_schema
WHERE tc.constraint_type = 'FOREIGN KEY'
"""


class PostgresDatabase:
    dialect = "postgres"

    def __init__(self, url: str) -> None:
        import psycopg

        self.where = re.sub(r"//[^@/]*@", "//", url)  # no password in messages
        self._lock = threading.Lock()
        try:
            self._db = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=False)
            self._db.read_only = True
            self._tables = self._read_schema()
        except psycopg.Error as exc:
            raise ConfigError(f"cannot open the Postgres database {self.where} for the sql tool: "
                              f"{str(exc).strip().splitlines()[0]}") from None

    def _read_schema(self) -> list[Table]:
        with self._db.cursor() as cur:
            cur.execute(_PG_REFERENCES)
            refs = {(s, t, c): f"{rt}.{rc}" for s, t, c, rt, rc in cur.fetchall()}
            cur.execute(_PG_COLUMNS)
            rows = cur.fetchall()
        self._db.rollback()
        by_table: dict[tuple[str, str], list[Column]] = {}
        for schema, table, column, kind in rows:
            by_table.setdefault((schema, table), []).append(Column(column, kind, refs.get((schema, table, column))))
        names = [t for _, t in by_table]
        return [Table(table if schema == "public" or names.count(table) == 1 else f"{schema}.{table}", tuple(cols))
                for (schema, table), cols in by_table.items()]

    def describe(self) -> list[Table]:
        return list(self._tables)

    def query(self, sql: str, *, max_rows: int, timeout_s: float) -> QueryResult:
        import psycopg

        with self._lock:
            try:
                with self._db.cursor() as cur:
                    cur.execute("SELECT set_config('statement_timeout', %s, true)", (str(max(1, int(timeout_s * 1000))),))
                    cur.execute(sql.encode("utf-8"), prepare=False)
                    columns = tuple(d.name for d in cur.description or ())
                    rows = cur.fetchmany(max_rows + 1)
            except psycopg.errors.QueryCanceled:
                raise ToolError(f"the query ran past its {timeout_s:g} s limit and was stopped: select less, add a "
                                "WHERE clause, or aggregate") from None
            except psycopg.errors.ReadOnlySqlTransaction as exc:
                raise ToolError(f"the database refused the statement ({_pg_message(exc)}): only reading is allowed",
                                refused=True) from None
            except psycopg.Error as exc:
                raise ToolError(f"the database said: {_pg_message(exc)}; check the table and column names in the "
                                "schema") from None
            finally:
                self._db.rollback()
        return QueryResult(columns, tuple(tuple(r) for r in rows[:max_rows]), truncated=len(rows) > max_rows)

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _pg_message(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
