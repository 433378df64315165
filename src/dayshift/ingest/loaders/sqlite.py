"""SQLite loader: each chosen table's rows become Documents, one per row.

The database is opened read-only. Columns are planned per table as in
`tabular` (roles, text detection, metadata), with SQLite's own key preferred
for the id: a single-column primary key, else a column named id/_id/pk, else
the rowid. doc_id keys are "<table>/<id>", and every document carries
metadata["table"]. Tables with no text at all (link tables such as
PlaylistTrack) are skipped and listed in `loader.skipped_tables`; rows without
text are counted in `loader.skipped_rows`. Rows are streamed: a table is not
read whole.

Left out: foreign keys are not resolved (a Track row says AlbumId: 1, not the
album's title); views and BLOB columns are ignored.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from urllib.parse import quote

from dayshift.errors import EmptyFileError, MalformedFileError
from dayshift.ingest.loaders.base import LoadOptions
from dayshift.ingest.loaders.tabular import SAMPLE_ROWS, named_id_column, plan_columns, rows_to_documents
from dayshift.ingest.loaders.text import unreadable_error
from dayshift.types import Document

log = logging.getLogger(__name__)

_ROWID = "__rowid__"


class SqliteLoader:
    """SQLite databases, opened read-only; each chosen table's rows become Documents."""

    extensions: tuple[str, ...] = (".sqlite", ".sqlite3", ".db")

    def __init__(self) -> None:
        self.skipped_rows = 0
        self.skipped_tables: list[str] = []  # tables without any text column

    def load(self, path: Path, *, source: str, options: LoadOptions) -> Iterator[Document]:
        _check_sqlite_header(path)
        self.skipped_rows, self.skipped_tables = 0, []
        connection, counter, produced = _connect_read_only(path), [0], 0
        try:
            for table in _chosen_tables(connection, options=options, path=path):
                for doc in self._table_documents(
                    connection, table, source=source, options=options, path=path, counter=counter
                ):
                    produced += 1
                    self.skipped_rows = counter[0]
                    yield doc
            self.skipped_rows = counter[0]
            if not produced:
                raise EmptyFileError(
                    str(path),
                    "no table row has text",
                    "name the text columns with text_columns and the tables with tables",
                )
        except sqlite3.DatabaseError as exc:
            raise MalformedFileError(str(path), f"SQLite cannot read it: {exc}") from exc
        finally:
            connection.close()

    def _table_documents(
        self,
        connection: sqlite3.Connection,
        table: str,
        *,
        source: str,
        options: LoadOptions,
        path: Path,
        counter: list[int],
    ) -> Iterator[Document]:
        cursor, columns, primary_key = _select_rows(connection, table)
        names = [d[0] for d in cursor.description]
        head = cursor.fetchmany(SAMPLE_ROWS)
        sample = [dict(zip(names, r, strict=True)) for r in head]
        preferred = primary_key or named_id_column(columns) or (_ROWID if _ROWID in names else None)
        plan = plan_columns(
            columns, sample, options=options, path=path, where=f"table {table!r}: ", preferred_id=preferred
        )
        if not plan.text_columns:
            log.info("%s: table %s has no text column; skipped (name some with text_columns)", path, table)
            self.skipped_tables.append(table)
            return
        rows = (dict(zip(names, r, strict=True)) for r in chain(head, cursor))
        for doc in rows_to_documents(
            rows, plan, source=source, label=table, key_prefix=f"{table}/", path=path, counter=counter
        ):
            doc.metadata.setdefault("table", table)
            yield doc


def _check_sqlite_header(path: Path) -> None:
    try:
        with path.open("rb") as handle:
            magic = handle.read(16)
    except OSError as exc:
        raise unreadable_error(path, exc) from exc
    if not magic:
        raise EmptyFileError(str(path), "the file is empty", "export the database again")
    if magic != b"SQLite format 3\x00":
        raise MalformedFileError(
            str(path),
            "not an SQLite database (wrong file header)",
            "rename it to its real extension, or re-export it from SQLite",
        )


def _connect_read_only(path: Path) -> sqlite3.Connection:
    uri = f"file:{quote(str(path.resolve()))}?mode=ro"
    try:
        return sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise MalformedFileError(str(path), f"SQLite cannot open it: {exc}") from exc


def _chosen_tables(connection: sqlite3.Connection, *, options: LoadOptions, path: Path) -> list[str]:
    tables = [
        name
        for (name,) in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
            "ORDER BY rowid"
        )
    ]
    if options.tables is None:
        return tables
    missing = [t for t in options.tables if t not in tables]
    if missing:
        raise MalformedFileError(
            str(path), f"no table named {', '.join(map(repr, missing))}", f"use one of the tables: {', '.join(tables)}"
        )
    return list(options.tables)


def _select_rows(connection: sqlite3.Connection, table: str) -> tuple[sqlite3.Cursor, list[str], str | None]:
    """(cursor with the rowid first when the table has one, columns, single-column primary key)."""
    quoted = '"' + table.replace('"', '""') + '"'
    info = connection.execute(f"PRAGMA table_info({quoted})").fetchall()  # (cid, name, type, notnull, default, pk)
    keys = [row[1] for row in info if row[5]]
    columns, primary_key = [row[1] for row in info], keys[0] if len(keys) == 1 else None
    try:
        return connection.execute(f'SELECT rowid AS "{_ROWID}", * FROM {quoted}'), columns, primary_key
    except sqlite3.OperationalError:  # WITHOUT ROWID tables
        return connection.execute(f"SELECT * FROM {quoted}"), columns, primary_key
