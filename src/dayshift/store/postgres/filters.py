"""Compile filter conditions to a Postgres WHERE clause over the `chunks` table, as SQLite reads them.

The embedded store's filters are SQLite expressions (`dayshift.store.embedded.filters`),
and SQLite compares values across types by its own rules. A Postgres store must
return the same chunks for the same `Condition`s, so each rule is spelled out:

    value kinds   JSON string -> text, number -> number, true/false -> 1/0, missing -> NULL
    "=", "!="     globs (* ? [..]) match the value's text (2020 is "2020", true is "1");
                  `source=nist` also matches a path that starts with it or has a
                  component starting with it; a number also equals its text ("2020");
                  "!=" is NOT(=), so a missing key is "not equal"
    section       any heading of the path equals, or glob-matches, the value
    > >= < <=     a number compares CAST(x AS REAL): numbers, 1/0, text by its numeric prefix;
                  text or a bool compares as SQLite does: numbers < text, text bytewise

    compile_where(conds) -> (sql, params)   sql uses %(w0)s-style names, table alias `c`

Values and metadata keys always travel as parameters. Left out: SQLite's text
rendering of unusual floats (1e20 is "1.0e+20" there, "100000000000000000000" here).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from dayshift.store.filter_semantics import (  # the same fields and globs as embedded.filters
    COLUMNS,
    check_condition,
    glob_to_regex,
)
from dayshift.types import Condition, MetaValue

# Text columns as SQLite holds them; `section` is a JSON array there, written with ", " as jsonb prints it.
_TEXT_COLUMNS = {f: f"c.{f}" for f in COLUMNS - {"page"}} | {"section": "c.section::text"}
_GLOB_CHARS = "*?["
# SQLite's CAST(text AS REAL): the longest numeric prefix after leading spaces, else 0.
_REAL_PREFIX = r"'^\s*([+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?)'"
_WELL_FORMED_NUMBER = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")


def compile_where(conditions: Sequence[Condition], *, prefix: str = "w") -> tuple[str, dict[str, object]]:
    """("(...) AND (...)", params); ("true", {}) when there is nothing to filter."""
    compiler = _Compiler(prefix)
    clauses = [f"({compiler.condition(cond)})" for cond in conditions]
    return (" AND ".join(clauses) or "true"), compiler.params


class _Compiler:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.params: dict[str, object] = {}

    def p(self, value: object, cast: str) -> str:
        name = f"{self.prefix}{len(self.params)}"
        self.params[name] = value
        return f"%({name})s::{cast}"

    def condition(self, cond: Condition) -> str:
        check_condition(cond)
        if cond.op in ("=", "!="):
            clause = self.equality(cond.field, cond.value)
            return clause if cond.op == "=" else f"NOT COALESCE(({clause}), false)"
        return self.ordering(cond.field, cond.op, cond.value)

    # -- "=": what `_equality` in embedded.filters does --------------------------

    def equality(self, field: str, value: MetaValue) -> str:
        if field == "section":
            regex = glob_to_regex(str(value))
            tests = [f"e.v = {self.p(value, 'text')}"] if isinstance(value, str) else []
            tests += [f"e.v ~ {self.p(regex, 'text')}"] if regex is not None else []
            if not tests:
                return "false"
            return f"EXISTS (SELECT 1 FROM jsonb_array_elements_text(c.section) AS e(v) WHERE {' OR '.join(tests)})"
        if isinstance(value, str) and any(ch in value for ch in _GLOB_CHARS):
            regex = glob_to_regex(value)
            return "false" if regex is None else f"{self.as_text(field)} ~ {self.p(regex, 'text')}"
        if field == "source" and isinstance(value, str):
            v = self.p(value, "text")
            return f"(c.source = {v} OR starts_with(c.source, {v}) OR strpos(c.source, '/' || {v}) > 0)"
        if isinstance(value, bool):
            return self.numeric_equal(field, int(value), text=str(int(value)))
        if isinstance(value, int | float):
            return f"({self.numeric_equal(field, value, text=str(value))} OR {self.text_equal(field, str(value))})"
        return self.text_equal(field, value)

    def numeric_equal(self, field: str, number: float, *, text: str) -> str:
        """SQLite `x = <number>`: numbers and 1/0 compare as numbers; a text column compares as text."""
        if field == "page":
            return f"c.page::numeric = {self.p(number, 'numeric')}"
        if field in COLUMNS:
            return f"c.{field} = {self.p(text, 'text')}"  # TEXT affinity turns the number into text
        return f"{self.as_number(field)} = {self.p(number, 'numeric')}"

    def text_equal(self, field: str, text: str) -> str:
        """SQLite `x = '<text>'`: only text equals text, except that an INTEGER column converts it."""
        if field == "page":
            if not _WELL_FORMED_NUMBER.match(text):
                return "false"
            return f"c.page::numeric = {self.p(float(text), 'numeric')}"
        if field in COLUMNS:
            return f"c.{field} = {self.p(text, 'text')}"
        return f"{self.json_string(field)} = {self.p(text, 'text')}"

    # -- > >= < <= ------------------------------------------------------------

    def ordering(self, field: str, op: str, value: MetaValue) -> str:
        text_column = _TEXT_COLUMNS.get(field)  # section too: SQLite compares its JSON text
        if isinstance(value, int | float) and not isinstance(value, bool):  # CAST(x AS REAL) op value
            real = _text_to_real(text_column) if text_column else self.as_real(field)
            return f"{real} {op} {self.p(value, 'float8')}"
        if isinstance(value, bool):  # x op 1/0, no cast
            number = self.p(int(value), "float8")
            if field == "page":
                return f"c.page {op} {number}"
            if text_column:  # TEXT affinity turns the 1/0 into text
                return f'{text_column} {op} {self.p(str(int(value)), "text")} COLLATE "C"'
            j = self.json(field)
            text_side = "true" if op in (">", ">=") else "false"  # text sorts after every number
            return f"(CASE jsonb_typeof({j}) WHEN 'string' THEN {text_side} ELSE {self.as_number(field)} {op} {number} END)"
        return self.text_ordering(field, op, value)

    def text_ordering(self, field: str, op: str, text: str) -> str:
        number_side = "true" if op in ("<", "<=") else "false"  # numbers sort before text
        if field == "page":
            if _WELL_FORMED_NUMBER.match(text):  # NUMERIC affinity converts the text
                return f"c.page {op} {self.p(float(text), 'float8')}"
            return f"(c.page IS NOT NULL AND {number_side})"
        if field in _TEXT_COLUMNS:
            return f'{_TEXT_COLUMNS[field]} {op} {self.p(text, "text")} COLLATE "C"'
        j = self.json(field)
        t = self.p(text, "text")
        return (f"(CASE jsonb_typeof({j}) WHEN 'string' THEN ({j} #>> '{{}}') {op} {t} COLLATE \"C\" "
                f"WHEN 'number' THEN {number_side} WHEN 'boolean' THEN {number_side} END)")  # fmt: skip

    # -- a field's value, as SQLite would see it -------------------------------

    def json(self, field: str) -> str:
        return f"(c.metadata -> {self.p(field, 'text')})"

    def json_string(self, field: str) -> str:
        j = self.json(field)
        return f"(CASE WHEN jsonb_typeof({j}) = 'string' THEN {j} #>> '{{}}' END)"

    def as_number(self, field: str) -> str:
        """A JSON number or bool as a number; NULL for text and missing keys."""
        j = self.json(field)
        return (f"(CASE jsonb_typeof({j}) WHEN 'number' THEN ({j})::numeric "
                f"WHEN 'boolean' THEN (CASE WHEN ({j})::boolean THEN 1 ELSE 0 END)::numeric END)")  # fmt: skip

    def as_text(self, field: str) -> str:
        """What SQLite's GLOB sees: text as is, numbers as written, true/false as 1/0."""
        if field == "page":
            return "c.page::text"
        if field in COLUMNS:
            return f"c.{field}"
        j = self.json(field)
        return (f"(CASE jsonb_typeof({j}) WHEN 'string' THEN {j} #>> '{{}}' WHEN 'number' THEN {j} #>> '{{}}' "
                f"WHEN 'boolean' THEN (CASE WHEN ({j})::boolean THEN '1' ELSE '0' END) END)")  # fmt: skip

    def as_real(self, field: str) -> str:
        """CAST(x AS REAL): NULL stays NULL, text becomes its numeric prefix (or 0)."""
        if field == "page":
            return "c.page::float8"
        j = self.json(field)
        text = _text_to_real(f"({j} #>> '{{}}')")
        return f"(CASE jsonb_typeof({j}) WHEN 'string' THEN {text} ELSE {self.as_number(field)}::float8 END)"


def _text_to_real(expr: str) -> str:
    return f"COALESCE((substring({expr} from {_REAL_PREFIX}))::float8, 0)"
