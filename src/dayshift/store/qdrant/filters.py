"""Filter conditions as Qdrant payload filters, with exactly store.embedded.filters' semantics.

    Condition --compile_filter--> native: Qdrant conditions over the shadow fields below
                                  residual: conditions Qdrant cannot state (globs, long source
                                            prefixes, text ranges), checked by `matches` in Python

Each chunk point carries, next to its chunk fields, shadows of every filterable
value (chunk columns, then metadata keys) that make SQLite's comparisons exact:

    fs.<key>   the value, if text              "=" and "!=" against text
    fn.<key>   the value, if a number or bool  "=" against numbers and bools (True is 1), ranges
    fc.<key>   a text value CAST AS REAL       ranges against text (its leading number, else 0)
    sp         every prefix (<= 16 chars) of every source path component: source=nist
    section    the heading path                section=Intro matches any heading

<key> is the field itself when it is [A-Za-z0-9][A-Za-z0-9_]*, else "_" and its
UTF-8 in hex: a "." in a Qdrant key means nesting, and every server parses these. A missing key satisfies
"!=" and nothing else, as in SQL.

Left out: payload indexes on metadata keys (a server filters unindexed keys by
reading payloads); a residual condition costs a scan of the points the native
conditions leave, as SQLite's GLOB does.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from qdrant_client import models

from dayshift.store.filter_semantics import COLUMNS, as_real, check_condition, holds
from dayshift.types import Chunk, Condition, MetaValue

PREFIX_CHARS = 16  # longest source prefix matched natively; longer ones narrow, then Python checks
_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]*$")
_RANGE = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte"}


@dataclass(slots=True)
class CompiledFilter:
    native: list[models.Condition] = field(default_factory=list)  # ANDed; narrows the residual's scan too
    residual: list[Condition] = field(default_factory=list)  # ANDed, checked in Python
    nothing: bool = False  # some condition no chunk can meet


def filter_payload(chunk: Chunk) -> dict[str, Any]:
    """The shadow fields of `chunk` (merged into its point's payload)."""
    values: dict[str, MetaValue] = {k: v for k, v in chunk.metadata.items() if k not in COLUMNS and k != "section"}
    values.update({name: getattr(chunk, name) for name in COLUMNS if getattr(chunk, name) is not None})
    text = {_key(k): v for k, v in values.items() if isinstance(v, str)}
    numbers = {_key(k): float(v) for k, v in values.items() if not isinstance(v, str)}
    return {
        "fs": text,
        "fn": numbers,
        "fc": {k: as_real(v) for k, v in text.items()},
        "sp": sorted(
            {part[:n] for part in chunk.source.split("/") for n in range(1, min(len(part), PREFIX_CHARS) + 1)}
        ),
    }


def compile_filter(where: Sequence[Condition]) -> CompiledFilter:
    """Raises QueryError for a field name that is not [A-Za-z0-9_.-]+ (nor a chunk column)."""
    out = CompiledFilter()
    for cond in where:
        check_condition(cond)
        native = _equality(cond) if cond.op in ("=", "!=") else _range(cond)
        if native is None:
            out.residual.append(cond)
            if cond.op == "=" and (narrow := _narrowing(cond)) is not None:
                out.native.append(narrow)
        else:
            out.native.append(native if cond.op != "!=" else models.Filter(must_not=[native]))
    return out


def residual_payload_keys(conditions: Sequence[Condition]) -> list[str]:
    """The payload keys `matches` reads for these conditions."""
    return sorted({c.field if c.field in COLUMNS or c.field == "section" else "metadata" for c in conditions})


# -- native: Qdrant conditions ------------------------------------------------


def _equality(cond: Condition) -> models.Condition | None:
    """The condition `field = value`, or None when only Python can decide it."""
    value = cond.value
    if cond.field == "section":
        text = str(value)
        return None if _is_glob(text) else _match("section", text)
    if isinstance(value, str) and _is_glob(value):
        return None
    if cond.field == "source" and isinstance(value, str):
        fits = value and "/" not in value and len(value) <= PREFIX_CHARS
        return _match("sp", value) if fits else None
    key = _key(cond.field)
    if isinstance(value, bool):
        return _between(f"fn.{key}", float(value))
    if isinstance(value, int | float):  # SQL: the number, or the text of it
        return models.Filter(should=[_between(f"fn.{key}", float(value)), _match(f"fs.{key}", str(value))])
    return _match(f"fs.{key}", value)


def _range(cond: Condition) -> models.Condition | None:
    if isinstance(cond.value, bool) or not isinstance(cond.value, int | float):
        return None  # SQLite orders text after numbers: Python decides
    key, bound = _key(cond.field), models.Range(**{_RANGE[cond.op]: float(cond.value)})
    return models.Filter(
        should=[
            models.FieldCondition(key=f"fn.{key}", range=bound),
            models.FieldCondition(key=f"fc.{key}", range=bound),
        ]
    )


def _narrowing(cond: Condition) -> models.Condition | None:
    """A native condition every chunk that meets `cond` also meets, to shorten the Python scan."""
    if cond.field != "source" or not isinstance(cond.value, str) or _is_glob(cond.value):
        return None
    head = cond.value.split("/", 1)[0][:PREFIX_CHARS]  # the path component where the match starts
    return _match("sp", head) if head else None


def _match(key: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _between(key: str, value: float) -> models.FieldCondition:
    return models.FieldCondition(key=key, range=models.Range(gte=value, lte=value))


def _key(name: str) -> str:
    return name if _PLAIN.match(name) else "_" + name.encode("utf-8").hex()  # a plain key never starts with "_"


def _is_glob(text: str) -> bool:
    return any(ch in text for ch in "*?[")


# -- residual: the same semantics in Python, over a point's payload ------------


def matches(payload: dict[str, Any], cond: Condition) -> bool:
    """Whether the chunk stored as `payload` meets `cond` (SQLite's semantics, as embedded.filters)."""
    value = payload.get(cond.field) if cond.field in COLUMNS else payload.get("metadata", {}).get(cond.field)
    return holds(cond, value, payload.get("section", []))
