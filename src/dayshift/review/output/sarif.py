"""SARIF 2.1.0, as GitHub code scanning and other SARIF viewers read it.

One run; the tool's rules carry their description, why and fix (as `help`), family and
level; results point at `%SRCROOT%`-relative paths with 1-based lines and columns and carry a
stable fingerprint (rule, path, the flagged line's text), so moving code does not reopen alerts.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from dayshift.review.engine.model import Report
from dayshift.review.rules.catalog import RULES

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("dayshift")
    except PackageNotFoundError:
        return "0"


def _rule(rule_id: str) -> dict:
    rule = RULES[rule_id]
    return {
        "id": rule.id, "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": f"{rule.summary} {rule.why}"},
        "help": {"text": f"{rule.why}\n\nFix: {rule.fix}\n\nSee {rule.doc}",
                 "markdown": f"{rule.why}\n\n**Fix:** {rule.fix}\n\nSee `{rule.doc}`."},
        "defaultConfiguration": {"level": rule.level},
        "properties": {"family": rule.family, "tags": ["ai", "llm", rule.family]},
    }


def _line_text(root: Path, path: str, line: int, cache: dict[str, list[str]]) -> str:
    if path not in cache:
        try:
            cache[path] = (root / path).read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            cache[path] = []
    lines = cache[path]
    return lines[line - 1].strip() if 0 < line <= len(lines) else ""


def render_sarif(report: Report) -> str:
    used = sorted({f.rule_id for f in report.findings})
    rules = [_rule(r) for r in used]
    position = {r: i for i, r in enumerate(used)}
    cache: dict[str, list[str]] = {}
    results = []
    for f in sorted(report.findings, key=lambda f: (f.path, f.line, f.column, f.rule_id)):
        region = {"startLine": f.line, "startColumn": f.column, "endLine": f.last_line}
        if f.end_column:
            region["endColumn"] = max(f.end_column, f.column + 1) if f.last_line == f.line else f.end_column
        text = _line_text(report.root, f.path, f.line, cache)
        fingerprint = hashlib.sha256(f"{f.rule_id}\0{f.path}\0{text}".encode()).hexdigest()[:32]
        results.append({
            "ruleId": f.rule_id, "ruleIndex": position[f.rule_id], "level": RULES[f.rule_id].level,
            "message": {"text": f.message},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": f.path, "uriBaseId": "%SRCROOT%"},
                                                "region": region}}],
            "partialFingerprints": {"dayshiftFindingHash/v1": fingerprint},
        })
    run = {
        "tool": {"driver": {"name": "dayshift review", "version": _version(), "semanticVersion": _version(),
                            "rules": rules}},
        "originalUriBaseIds": {"%SRCROOT%": {"uri": report.root.resolve().as_uri() + "/"}},
        "invocations": [{"executionSuccessful": not report.errors,
                         "toolExecutionNotifications": [{"level": "error", "message": {"text": e.reason},
                                                         "locations": [{"physicalLocation": {
                                                             "artifactLocation": {"uri": e.path,
                                                                                  "uriBaseId": "%SRCROOT%"}}}]}
                                                        for e in report.errors]}],
        "results": results,
    }
    return json.dumps({"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}, indent=2) + "\n"
