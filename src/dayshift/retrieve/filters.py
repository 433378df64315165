"""Parse filter expressions from the CLI or the API: `source=nist`, `page>=3`.

    "field<op>value" with op in = != > >= < <=  ->  Condition(field, op, value)

Values that look like numbers or booleans become numbers or booleans; quote a
value ("zip='02134'") to keep it a string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from dayshift.errors import QueryError
from dayshift.types import Condition, FilterOp, MetaValue

_EXPR = re.compile(r"^\s*([A-Za-z0-9_.\-]+)\s*(!=|>=|<=|=|>|<)\s*(.*?)\s*$")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def parse_filter(expr: str) -> Condition:
    match = _EXPR.match(expr)
    if not match or not match.group(3):
        raise QueryError(
            f'cannot read the filter "{expr}": write field=value, field!=value or field>=number '
            "(for example source=nist or page>=3)"
        )
    field, op, raw = match.groups()
    if raw[0] in "=<>!":
        raise QueryError(f'cannot read the operator in "{expr}": use one of = != > >= < <= (for example page>=3)')
    return Condition(field=field, op=op, value=_value(raw))  # type: ignore[arg-type]


def parse_filters(exprs: Iterable[str]) -> list[Condition]:
    return [parse_filter(e) for e in exprs]


def _value(raw: str) -> MetaValue:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    if _NUMBER.match(raw):  # not float(): it would read "nan" and "Infinity" as numbers
        return int(raw) if raw.lstrip("+-").isdigit() else float(raw)
    return raw


__all__ = ["FilterOp", "parse_filter", "parse_filters"]
