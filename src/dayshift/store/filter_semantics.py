"""The meaning of a filter Condition, in Python: exactly what dayshift.store.embedded.filters does in SQLite.

For stores that cannot say it all in their own query language (the Qdrant
store checks globs and path prefixes here) and for the in-memory fake.

    check_condition(cond)        what every store refuses, with the same QueryError
    holds(cond, value, section)  value: the chunk's field or metadata value (None: absent)
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from dayshift.errors import QueryError
from dayshift.types import Condition, MetaValue

# Filters on these name a chunk's own field; any other name is a metadata key.
COLUMNS = frozenset({"source", "doc_id", "doc_version", "title", "page", "chunk_id"})

_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
}  # fmt: skip


KEY = re.compile(r"^[A-Za-z0-9_.\-]+$")  # a metadata key a filter may name
ORDERING = (">", ">=", "<", "<=")


def check_condition(cond: Condition) -> None:
    """Raise QueryError, naming the condition and the fix, for what no store can answer: a field name outside
    [A-Za-z0-9_.-], an unknown operator, an ordering on `section` (a heading path has no order)."""
    if cond.field not in COLUMNS and cond.field != "section" and not KEY.match(cond.field):
        raise QueryError(f'bad filter field "{cond.field}": use letters, digits, "_", "-" or "."')
    if cond.op not in ("=", "!=", *ORDERING):
        raise QueryError(f'bad filter operator "{cond.op}": use =, !=, >, >=, < or <=')
    if cond.field == "section" and cond.op in ORDERING:
        raise QueryError(f'"section{cond.op}{cond.value}": a section is a path of headings and has no order; '
                         "use section=HEADING or section!=HEADING")


def holds(cond: Condition, value: MetaValue | None, section: Sequence[str]) -> bool:
    """Whether a chunk whose `cond.field` is `value` (and whose section path is `section`) meets `cond`."""
    if cond.field == "section":
        found = any(s == cond.value or glob_match(s, str(cond.value)) for s in section)
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
        return glob_match(sql_text(have), want)
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


def glob_match(text: str, pattern: str) -> bool:
    """SQLite's `text GLOB pattern`: `*`, `?`, `[abc]`, `[a-z]`, `[^abc]` (negation is `^`; `[!a]` is the set of
    `!` and `a`, as in SQLite), case-sensitive, `*` across newlines; an unclosed `[` matches nothing."""
    compiled = _compiled_glob(pattern)
    return compiled is not None and compiled.fullmatch(text) is not None


@lru_cache(maxsize=1024)
def _compiled_glob(pattern: str) -> re.Pattern[str] | None:
    regex = glob_to_regex(pattern)
    return None if regex is None else re.compile(regex[1:-1], re.DOTALL)  # fullmatch anchors it


def glob_to_regex(pattern: str) -> str | None:
    """An anchored regex (Postgres ARE; Python re without its anchors) that matches what SQLite's GLOB `pattern`
    matches; None: nothing."""
    out, i = ["^"], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            parsed = _glob_class(pattern, i + 1)
            if parsed is None or not parsed[0]:
                return None  # an unclosed [ (or an empty set) matches nothing in SQLite
            cls, i = parsed
            out.append(cls)
            continue
        else:
            out.append(_escape(ch))
        i += 1
    return "".join(out) + "$"


def _glob_class(pattern: str, i: int) -> tuple[str, int] | None:
    """SQLite's [...] (sqlite3 patternCompare) from just after "[": (regex class, index after "]")."""
    invert = i < len(pattern) and pattern[i] == "^"
    i += invert
    items: list[str] = []
    if i < len(pattern) and pattern[i] == "]":
        items.append(_escape("]"))
        i += 1
    prior: str | None = None
    while i < len(pattern) and pattern[i] != "]":
        ch = pattern[i]
        nxt = pattern[i + 1] if i + 1 < len(pattern) else ""
        if ch == "-" and nxt not in ("]", "") and prior is not None:
            if prior <= nxt:  # SQLite's z-a matches nothing; a Postgres regex would reject it
                items.append(f"{_escape(prior)}-{_escape(nxt)}")
            prior = None
            i += 2
            continue
        items.append(_escape(ch))
        prior = ch
        i += 1
    if i >= len(pattern):
        return None
    if not items:  # only empty ranges: "[z-a]" matches no character, "[^z-a]" any
        return ("." if invert else ""), i + 1
    return f"[{'^' if invert else ''}{''.join(items)}]", i + 1


def _escape(ch: str) -> str:
    # In Postgres AREs (and Python's re) a backslash before a non-alphanumeric character means that character, in and out of [].
    return "\\" + ch if not ch.isalnum() else ch
