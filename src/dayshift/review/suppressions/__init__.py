"""Inline suppressions: `# dayshift: ignore[DS101] reason` on a line the finding covers.

    client.chat.completions.create(...)  # dayshift: ignore[DS101,DS602] batch job; the queue times it out

The reason is required. A comment without one suppresses nothing and is itself reported
(DS001), so every silenced finding carries a sentence a reviewer can weigh. A comment that
matches no finding is reported as unused (DS002). The comment counts for every line of the
flagged node (a call spread over several lines can carry it on any of them).

Left out: file-wide and block-wide suppressions (use `per-file-ignores` in pyproject for those).
"""

from __future__ import annotations

import io
import tokenize
from dataclasses import dataclass

from dayshift.review.engine.model import Finding

MARKER = "dayshift:"


@dataclass
class Suppression:
    line: int
    column: int
    rule_ids: tuple[str, ...]
    reason: str
    used: bool = False


def parse_suppressions(source: str) -> tuple[list[Suppression], list[tuple[int, int, str]]]:
    """The suppressions in `source`, and (line, column, problem) for malformed ones."""
    if MARKER not in source:
        return [], []
    found: list[Suppression] = []
    problems: list[tuple[int, int, str]] = []
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (tokenize.TokenError, SyntaxError):
        return [], []
    for tok in tokens:
        if tok.type != tokenize.COMMENT or MARKER not in tok.string:
            continue
        text = tok.string.lstrip("#").strip()
        if not text.startswith(MARKER):
            continue
        body = text[len(MARKER):].strip()
        line, column = tok.start[0], tok.start[1] + 1
        if not body.startswith("ignore[") or "]" not in body:
            problems.append((line, column, "expected `# dayshift: ignore[DS101] reason`"))
            continue
        inside, _, reason = body[len("ignore["):].partition("]")
        ids = tuple(part.strip().upper() for part in inside.split(",") if part.strip())
        if not ids:
            problems.append((line, column, "name the rule to ignore: `ignore[DS101]`"))
            continue
        reason = reason.strip().lstrip("-:—").strip()
        found.append(Suppression(line, column, ids, reason))
    return found, problems


def apply(findings: list[Finding], suppressions: list[Suppression], path: str,
          enabled: set[str]) -> tuple[list[Finding], int, list[Finding]]:
    """(kept findings, how many were suppressed, findings about the suppressions themselves)."""
    meta: list[Finding] = []
    reasoned = []
    for s in suppressions:
        if any(c.isalpha() for c in s.reason):
            reasoned.append(s)
        elif "DS001" in enabled:
            meta.append(Finding(path, s.line, s.column, "DS001",
                                f"ignore[{','.join(s.rule_ids)}] gives no reason, so it suppresses nothing."))
    kept: list[Finding] = []
    suppressed = 0
    for finding in findings:
        match = next((s for s in reasoned if finding.rule_id in s.rule_ids
                      and finding.line <= s.line <= finding.last_line), None)
        if match is None:
            kept.append(finding)
        else:
            match.used = True
            suppressed += 1
    if "DS002" in enabled:
        for s in reasoned:
            if not s.used and set(s.rule_ids) & enabled:
                meta.append(Finding(path, s.line, s.column, "DS002",
                                    f"ignore[{','.join(s.rule_ids)}] matches no finding on this line."))
    return kept, suppressed, meta
