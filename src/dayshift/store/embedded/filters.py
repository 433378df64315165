"""Compile filter conditions to a SQLite WHERE clause over the `chunks` table.

Columns are matched directly; any other field is a key of the JSON `metadata`
column. Values always travel as parameters, never as SQL text.
"""

from __future__ import annotations

from collections.abc import Sequence

from dayshift.store.filter_semantics import COLUMNS, check_condition
from dayshift.types import Condition, MetaValue


def compile_where(conditions: Sequence[Condition], *, table: str = "c") -> tuple[str, list[MetaValue]]:
    """(" AND ".join(clauses), params); ("1", []) when there is nothing to filter."""
    clauses: list[str] = []
    params: list[MetaValue] = []
    for cond in conditions:
        check_condition(cond)
        clause, values = _compile_one(cond, table=table)
        clauses.append(clause)
        params.extend(values)
    return (" AND ".join(clauses) or "1"), params


def _field_sql(field: str, *, table: str) -> str:
    """`field` has passed check_condition (compile_where), so a metadata key is [A-Za-z0-9_.-]+ only."""
    if field in COLUMNS:
        return f"{table}.{field}"
    if field == "section":
        return f"{table}.section"
    return f"json_extract({table}.metadata, '$.\"{field}\"')"


def _compile_one(cond: Condition, *, table: str) -> tuple[str, list[MetaValue]]:
    col = _field_sql(cond.field, table=table)
    value = cond.value
    if cond.op in ("=", "!="):
        clause, params = _equality(col, cond.field, value)
        return (clause if cond.op == "=" else f"NOT COALESCE({clause}, 0)"), params
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{col} {cond.op} ?", [value]
    return f"CAST({col} AS REAL) {cond.op} ?", [value]


def _equality(col: str, field: str, value: MetaValue) -> tuple[str, list[MetaValue]]:
    if field == "section":  # section is a JSON array: match any component
        return f"EXISTS (SELECT 1 FROM json_each({col}) WHERE value = ? OR value GLOB ?)", [value, str(value)]
    if isinstance(value, str) and any(ch in value for ch in "*?["):
        return f"{col} GLOB ?", [value]
    if field == "source" and isinstance(value, str):
        return f"({col} = ? OR {col} GLOB ? OR {col} GLOB ?)", [value, f"{value}*", f"*/{value}*"]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"({col} = ? OR {col} = ?)", [value, str(value)]
    return f"{col} = ?", [value]
