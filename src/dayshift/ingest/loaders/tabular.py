"""Data exports: CSV/TSV and JSON Lines, one Document per row; the column
planning and row-to-Document step that `sqlite` shares.

Columns play one of four roles, named in `LoadOptions` or chosen here:

    id        -> doc_id = make_doc_id(source, key)
                 default: a column named id/_id/pk, else the 1-based row
                 number (`sqlite` prefers the table's own key)
    title     -> Document.title; default: a column named title/name/subject
    text      -> one Block per column, HTML cleaned to plain text; default:
                 columns of long free text (mean length > 30, mostly with
                 spaces, not numbers or dates). A table with none (chinook's
                 Track) gets one "Column: value" Block of its string columns.
    metadata  -> Document.metadata; default: the remaining short scalar columns,
                 numbers parsed to int/float, empty values dropped

Rows whose text columns are all empty are skipped and counted in
`loader.skipped_rows` (the most recent load). Roles are inferred from the first
1,000 rows.

CSV and JSONL files are decoded with `read_text` and parsed whole before the
first Document is yielded: a malformed record fails the file with its line
number, because a half-ingested export is worse than none. Memory is therefore
proportional to the file, bounded by ingest.max_file_mb.

Left out: SQLite databases (`sqlite`); nested JSON values (unless named) are
ignored; JSON arrays (.json) are not read here.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from dayshift.errors import EmptyFileError, MalformedFileError
from dayshift.ingest.loaders.base import LoadOptions
from dayshift.ingest.loaders.html import html_to_text
from dayshift.ingest.loaders.text import read_text
from dayshift.types import Block, Document, Metadata, MetaValue, make_doc_id

Row = dict[str, object]  # column -> cell: str from CSV, JSON values, SQLite values

SAMPLE_ROWS = 1000  # rows that column roles are inferred from
_TEXT_MIN_MEAN_CHARS = 30
_META_MAX_MEAN_CHARS = 100
_MOSTLY = 0.9
_CSV_FIELD_LIMIT = 2**31 - 1  # the largest a C long holds on every platform
_ID_NAMES = ("id", "_id", "pk")
_TITLE_NAMES = ("title", "name", "subject")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_LEADING_ZERO = re.compile(r"[+-]?0\d")  # "02134" is a code, not a number
_DATE = re.compile(
    r"\d{4}-\d\d-\d\d([ T]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?)?"
    r"|\d{1,2}[/.]\d{1,2}[/.]\d{2,4}"
)
_HTML = re.compile(
    r"<(p|div|br|hr|a|b|i|em|strong|ul|ol|li|pre|code|blockquote|h[1-6]|table|tr|td|th"
    r"|span|img|sup|sub|strike|del|s|dl|dt|dd|kbd)\b[^>]*>"
    r"|&([a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class ColumnPlan:
    """What each column of one table is used for."""

    id_column: str | None  # None: the row number is the key
    title_column: str | None
    text_columns: tuple[str, ...]
    metadata_columns: tuple[str, ...]
    numeric_columns: frozenset[str]  # string cells here are parsed to int/float
    key_values: bool  # no long-text column: render text columns as "Column: value"


# --- choosing columns -------------------------------------------------------


def plan_columns(
    columns: Sequence[str],
    sample: Sequence[Row],
    *,
    options: LoadOptions,
    path: Path,
    where: str = "",
    preferred_id: str | None = None,
) -> ColumnPlan:
    """Pick id, title, text and metadata columns; named ones must exist."""
    _check_named(columns, options, path=path, where=where)
    kinds = {c: _column_kind([row.get(c) for row in sample]) for c in columns}
    id_col = options.id_column or preferred_id or named_id_column(columns)
    title = options.title_column or _by_name(columns, _TITLE_NAMES)
    named_meta = set(options.metadata_columns or ())
    free = [c for c in columns if c != id_col and c not in named_meta]
    key_values = False
    if options.text_columns is not None:
        text = tuple(options.text_columns)
    else:
        text = tuple(c for c in free if kinds[c] == "text")
        if title in text and len(text) > 1:  # already the Document title and every chunk's header
            text = tuple(c for c in text if c != title)
        if not text:
            key_values = True
            text = tuple(c for c in free if kinds[c] == "string")
    if options.metadata_columns is not None:
        meta = tuple(options.metadata_columns)
    else:
        used = {id_col, title, *text}
        meta = tuple(c for c in columns if c not in used and kinds[c] in ("string", "number", "date", "empty"))
    numeric = frozenset(c for c in columns if kinds[c] == "number")
    return ColumnPlan(id_col, title, text, meta, numeric, key_values)


def _check_named(columns: Sequence[str], options: LoadOptions, *, path: Path, where: str) -> None:
    named = [
        *(options.text_columns or ()),
        *(options.metadata_columns or ()),
        *(c for c in (options.id_column, options.title_column) if c),
    ]
    missing = [c for c in dict.fromkeys(named) if c not in columns]
    if missing:
        fix = f"use one of the available columns: {', '.join(columns)}"
        if where:
            fix += "; to read other tables only, name them with tables=..."
        raise MalformedFileError(str(path), f"{where}no column named {', '.join(map(repr, missing))}", fix)


def named_id_column(columns: Sequence[str]) -> str | None:
    """The first of id, _id, pk that names a column, in any case."""
    return _by_name(columns, _ID_NAMES)


def _by_name(columns: Sequence[str], names: Sequence[str]) -> str | None:
    lowered = {c.lower(): c for c in reversed(columns)}  # first spelling wins
    return next((lowered[n] for n in names if n in lowered), None)


def _column_kind(values: Sequence[object]) -> str:
    """ "text" | "string" | "number" | "date" | "empty" | "other" (nested, bytes)."""
    present = [v for v in values if v is not None and v != ""]
    if not present:
        return "empty"
    if any(isinstance(v, (dict, list, bytes)) for v in present):
        return "other"
    strings = [v for v in present if isinstance(v, str)]
    numbers = len(present) - len(strings) + sum(1 for s in strings if _is_number(s))
    if numbers >= _MOSTLY * len(present):
        return "number"
    if sum(1 for s in strings if _DATE.fullmatch(s.strip())) >= _MOSTLY * len(present):
        return "date"
    mean_chars = sum(len(s) for s in strings) / max(len(strings), 1)
    spaced = sum(1 for s in strings if " " in s.strip())
    if mean_chars > _TEXT_MIN_MEAN_CHARS and spaced >= 0.5 * len(strings):
        return "text"
    return "string" if mean_chars <= _META_MAX_MEAN_CHARS else "other"


def _is_number(text: str) -> bool:
    text = text.strip()
    return bool(_NUMBER.fullmatch(text)) and not _LEADING_ZERO.match(text)


# --- rows to documents ------------------------------------------------------


def rows_to_documents(
    rows: Iterable[Row],
    plan: ColumnPlan,
    *,
    source: str,
    label: str,
    key_prefix: str = "",
    path: Path,
    counter: list[int],
) -> Iterator[Document]:
    """One Document per row with text; `counter[0]` counts the rows skipped."""
    seen: set[str] = set()
    for number, row in enumerate(rows, 1):
        key = _row_key(row, plan, number=number, path=path)
        if key in seen:
            raise MalformedFileError(
                str(path),
                f"{label}: id column {plan.id_column!r} repeats the value {key!r}",
                "name a unique column with id_column (or use the row number by naming none)",
            )
        seen.add(key)
        blocks = _text_blocks(row, plan)
        if not blocks:
            counter[0] += 1
            continue
        title = " ".join(_cell_text(row.get(plan.title_column)).split()) if plan.title_column else ""
        yield Document(
            doc_id=make_doc_id(source, f"{key_prefix}{key}"),
            source=source,
            title=title or f"{label} #{key}",
            blocks=blocks,
            metadata=_metadata(row, plan),
        )


def _row_key(row: Row, plan: ColumnPlan, *, number: int, path: Path) -> str:
    if plan.id_column is None:
        return str(number)
    key = _cell_text(row.get(plan.id_column))
    if not key:
        raise MalformedFileError(
            str(path),
            f"row {number} has no value in id column {plan.id_column!r}",
            "fill the id column, or name another with id_column",
        )
    return key


def _text_blocks(row: Row, plan: ColumnPlan) -> list[Block]:
    cells = [(column, _cell_text(row.get(column))) for column in plan.text_columns]
    if plan.key_values:
        lines = [f"{column}: {' '.join(text.split())}" for column, text in cells if text]
        return [Block(text="\n".join(lines))] if lines else []
    return [Block(text=text) for _, text in cells if text]


def _cell_text(value: object) -> str:
    """A cell as plain text: HTML cleaned, newlines normalised, trimmed."""
    if value is None or isinstance(value, bytes):
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    if _HTML.search(text):
        text = html_to_text(text)
    return text.strip()


def _metadata(row: Row, plan: ColumnPlan) -> Metadata:
    meta: Metadata = {}
    for column in plan.metadata_columns:
        value = _meta_value(row.get(column), numeric=column in plan.numeric_columns)
        if value is not None:
            meta[column] = value
    return meta


def _meta_value(value: object, *, numeric: bool) -> MetaValue | None:
    if value is None or isinstance(value, bytes):
        return None
    if isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if value == value else None  # NaN is no value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    text = str(value).strip()
    if not text:
        return None
    if numeric and _is_number(text):
        return int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
    return text


def _file_documents(
    columns: Sequence[str], rows: list[Row], *, path: Path, source: str, options: LoadOptions, counter: list[int]
) -> list[Document]:
    """CSV and JSONL: every Document built before any is yielded, so a bad row fails the file."""
    if not rows:
        raise EmptyFileError(str(path), "the file has no data rows", "export the rows, not only the header")
    plan = plan_columns(columns, rows[:SAMPLE_ROWS], options=options, path=path)
    docs = list(rows_to_documents(rows, plan, source=source, label=path.stem, path=path, counter=counter))
    if not docs:
        raise EmptyFileError(
            str(path),
            f"none of {len(rows)} rows has text in {', '.join(plan.text_columns) or '-'}",
            "name the columns that hold the text with text_columns",
        )
    return docs


# --- CSV / TSV --------------------------------------------------------------


class CsvLoader:
    """Comma- or tab-separated exports with a header row."""

    extensions: tuple[str, ...] = (".csv", ".tsv")

    def __init__(self) -> None:
        self.skipped_rows = 0

    def load(self, path: Path, *, source: str, options: LoadOptions) -> Iterator[Document]:
        header, rows = read_csv_rows(path)
        counter = [0]
        docs = _file_documents(header, rows, path=path, source=source, options=options, counter=counter)
        self.skipped_rows = counter[0]
        yield from docs


def read_csv_rows(path: Path) -> tuple[list[str], list[Row]]:
    """(header, rows) of a whole CSV/TSV file, or MalformedFileError with the line."""
    text = read_text(path)
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if path.suffix.lower() == ".tsv" else _sniff_delimiter(first_line)
    csv.field_size_limit(max(csv.field_size_limit(), _CSV_FIELD_LIMIT))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    header: list[str] = []
    rows: list[Row] = []
    start = 1  # line on which the record being read starts
    try:
        for record in reader:
            if not header:
                header = _header(record, path=path)
            elif len(record) == len(header):
                rows.append(dict(zip(header, record, strict=True)))
            elif any(cell.strip() for cell in record):
                raise MalformedFileError(
                    str(path),
                    f"line {start}: {len(record)} fields where the header has {len(header)}",
                    "check the quoting and delimiters on that line, then re-export",
                )
            start = reader.line_num + 1
    except csv.Error as exc:
        raise MalformedFileError(
            str(path),
            f"line {start}: {exc} (unbalanced quotes?)",
            "close the quoted field that starts on that line, then re-export",
        ) from exc
    return header, rows


def _sniff_delimiter(header_line: str) -> str:
    counts = {d: header_line.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > counts[","] else ","


def _header(record: list[str], *, path: Path) -> list[str]:
    names = [name.strip() or f"column_{i}" for i, name in enumerate(record, 1)]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise MalformedFileError(
            str(path),
            f"line 1: repeated column names {', '.join(repeated)}",
            "give every column a distinct name in the header",
        )
    return names


# --- JSON Lines -------------------------------------------------------------


class JsonlLoader:
    """One JSON object per line; blank lines are ignored, any bad line fails the file."""

    extensions: tuple[str, ...] = (".jsonl", ".ndjson")

    def __init__(self) -> None:
        self.skipped_rows = 0

    def load(self, path: Path, *, source: str, options: LoadOptions) -> Iterator[Document]:
        rows = read_jsonl_rows(path)
        columns = list(dict.fromkeys(key for row in rows for key in row))  # first-seen order
        counter = [0]
        docs = _file_documents(columns, rows, path=path, source=source, options=options, counter=counter)
        self.skipped_rows = counter[0]
        yield from docs


def read_jsonl_rows(path: Path) -> list[Row]:
    rows: list[Row] = []
    for number, line in enumerate(read_text(path).split("\n"), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise MalformedFileError(
                str(path),
                f"line {number}: invalid JSON ({exc.msg}, column {exc.colno})",
                f"fix or remove line {number}; the whole file is refused so an export is never half-ingested",
            ) from exc
        if not isinstance(value, dict):
            raise MalformedFileError(
                str(path),
                f"line {number}: expected a JSON object, got {type(value).__name__}",
                'write one object per line: {"id": 1, "text": "..."}',
            )
        rows.append(value)
    return rows
