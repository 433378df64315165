"""The meaning of a filter Condition, in Python: exactly what dayshift.store.embedded.filters does in SQLite.

For stores that cannot say it all in their own query language (the Qdrant
store checks globs and path prefixes here) and for the in-memory fake.

    holds(cond, value, section)  value: the chunk's field or metadata value (None: absent)
"""

from __future__ import annotations

import fnmatch
import operator
from collections.abc import Callable, Sequence
from typing import Any

from dayshift.types import Condition, MetaValue

# Filters on these name a chunk's own field; any other name is a metadata key.
COLUMNS = frozenset({"source", "doc_id", "doc_version", "title", "page", "chunk_id"})

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}  # fmt: skip


def holds(cond: Condition, value: MetaValue | None, section: Sequence[str]) -> bool:
    """Whether a chunk whose `cond.field` is `value` (and whose section path is `section`) meets `cond`."""
    if cond.field == "section":
        found = any(s == cond.value or fnmatch.fnmatchcase(s, str(cond.value)) for s in section)
        return found if cond.op == "=" else (not found if cond.op == "!=" else False)
    if cond.op in ("=", "!="):
        equal = value is not None and equal_sql(cond.field, value, cond.value)
        return equal if cond.op == "=" else not equal  # a missing key is "not equal"
    if value is None:
        return False
    if isinstance(cond.value, int | float) and not isinstance(cond.value, bool):
        return _ORDER[cond.op](as_real(value), cond.value)
    return _ORDER[cond.op](sql_key(value), sql_key(cond.value))


def equal_sql(field: str, have: MetaValue, want: MetaValue) -> bool:
    if isinstance(want, str) and any(ch in want for ch in "*?["):
        return fnmatch.fnmatchcase(sql_text(have), want)
    if field == "source" and isinstance(want, str):
        have = str(have)  # the whole path, or a path component, starts with it
        return have.startswith(want) or f"/{want}" in have
    if isinstance(want, int | float) and not isinstance(want, bool):
        return sql_key(have) == sql_key(want) or have == str(want)
    return sql_key(have) == sql_key(want)


def sql_text(value: MetaValue) -> str:
    return str(int(value)) if isinstance(value, bool) else str(value)


def sql_key(value: MetaValue) -> tuple[int, float | str]:
    """SQLite's order across types: numbers (bools are 0/1) before text."""
    return (0, float(value)) if isinstance(value, bool | int | float) else (1, value)


def as_real(value: MetaValue) -> float:
    """CAST(value AS REAL): text becomes its leading number, or 0.0."""
    if isinstance(value, bool | int | float):
        return float(value)
    for end in range(len(value), 0, -1):
        try:
            return float(value[:end])
        except ValueError:
            continue
    return 0.0
