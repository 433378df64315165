"""Review a snippet of real-shaped code and read the findings back (helpers for these tests)."""

from __future__ import annotations

import textwrap

from dayshift.review import ReviewConfig, review_source


def run_review(code: str, *, select: tuple[str, ...] = ()) -> list:
    findings, _ = review_source(textwrap.dedent(code), "app.py", config=ReviewConfig(select=select))
    return findings


def found(code: str, *, select: tuple[str, ...] = ()) -> list[tuple[str, int]]:
    """[(rule id, line)] sorted: the shape most assertions compare."""
    return sorted((f.rule_id, f.line) for f in run_review(code, select=select))
