"""The text report: `path:line:col: DS101 message`, then why it matters and how to fix it.

    src/app.py:12:16: DS101 client.chat.completions.create(...) has no timeout, and its client ...
      why: A hung connection holds the request, its worker and its user ...
      fix: Set a timeout where the client is built (`OpenAI(timeout=30)`) ...

Why and fix are shown once per rule per run, so a file with twenty calls stays readable.
"""

from __future__ import annotations

from collections import Counter

from dayshift.review.engine.model import Report
from dayshift.review.rules.catalog import RULES


def render_text(report: Report) -> str:
    lines: list[str] = []
    explained: set[str] = set()
    for f in sorted(report.findings, key=lambda f: (f.path, f.line, f.column, f.rule_id)):
        lines.append(f"{f.path}:{f.line}:{f.column}: {f.rule_id} {f.message}")
        if f.rule_id not in explained:
            explained.add(f.rule_id)
            rule = RULES[f.rule_id]
            lines.append(f"  why: {rule.why}")
            lines.append(f"  fix: {rule.fix}")
            lines.append(f"  see: {rule.doc}")
    for error in report.errors:
        lines.append(f"{error.path}: error: {error.reason}")
    lines.append(summary(report))
    return "\n".join(lines) + "\n"


def summary(report: Report) -> str:
    counts = Counter(f.rule_id for f in report.findings)
    reviewed = f"{report.files:,} file{'s' * (report.files != 1)}, {report.lines:,} lines reviewed"
    hidden = f"; {report.suppressed} suppressed inline" if report.suppressed else ""
    if not counts:
        return f"no findings ({reviewed}{hidden})"
    files = len({f.path for f in report.findings})
    by_rule = ", ".join(f"{rule_id} x{n}" for rule_id, n in sorted(counts.items()))
    total = len(report.findings)
    return f"{total} finding{'s' * (total != 1)} in {files} file{'s' * (files != 1)} ({by_rule}); {reviewed}{hidden}"
