"""The JSON report: one object with the findings (each with its rule's why and fix) and a summary."""

from __future__ import annotations

import json

from dayshift.review.engine.model import Report
from dayshift.review.rules.catalog import RULES


def render_json(report: Report) -> str:
    findings = []
    for f in sorted(report.findings, key=lambda f: (f.path, f.line, f.column, f.rule_id)):
        rule = RULES[f.rule_id]
        findings.append({"path": f.path, "line": f.line, "column": f.column, "end_line": f.last_line,
                         "end_column": f.end_column or f.column, "rule": f.rule_id, "family": rule.family,
                         "name": rule.name, "message": f.message, "why": rule.why, "fix": rule.fix, "doc": rule.doc})
    data = {"version": 1, "root": str(report.root), "files": report.files, "lines": report.lines,
            "suppressed": report.suppressed, "findings": findings,
            "errors": [{"path": e.path, "reason": e.reason} for e in report.errors]}
    return json.dumps(data, indent=2) + "\n"
