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


def found_in(files: dict[str, str], *, select: tuple[str, ...] = ()) -> list[tuple[str, str, int]]:
    """Review several modules as one project: [(path, rule id, line)] sorted."""
    from dayshift.review import review_sources

    result = review_sources({path: textwrap.dedent(code) for path, code in files.items()},
                            config=ReviewConfig(select=select))
    assert not result.errors, result.errors
    return sorted((path, f.rule_id, f.line) for path, findings in result.findings.items() for f in findings)


def messages_in(files: dict[str, str], *, select: tuple[str, ...] = ()) -> list[str]:
    from dayshift.review import review_sources

    result = review_sources({path: textwrap.dedent(code) for path, code in files.items()},
                            config=ReviewConfig(select=select))
    return [f.message for findings in result.findings.values() for f in findings]
