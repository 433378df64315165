"""The rule families. Each module has `check(ctx)` (one module at a time, reporting through
`ctx.report`) or `check_project(project, errors)` (the data-flow families, across modules).

    timeouts     DS101 DS102     retries      DS201         output     DS301 DS302
    privacy      DS401           secrets      DS501 DS502   prompts    DS601 DS602
    streaming    DS701           agent_loops  DS801

The text of every rule (why it matters, how to fix it) is in `catalog`.
"""

from __future__ import annotations

from collections.abc import Callable

from dayshift.review.engine.context import RuleContext
from dayshift.review.engine.project import Project
from dayshift.review.rules import agent_loops, output, privacy, prompts, retries, secrets, streaming, timeouts

MODULE_CHECKS: list[tuple[tuple[str, ...], Callable[[RuleContext], None]]] = [
    (("DS101", "DS102"), timeouts.check),
    (("DS201",), retries.check),
    (("DS501", "DS502"), secrets.check),
    (("DS602",), prompts.check),
    (("DS701",), streaming.check),
    (("DS801",), agent_loops.check),
]
# the data-flow families run once over the whole project (taint/summaries.py)
PROJECT_CHECKS: list[tuple[tuple[str, ...], Callable[[Project, dict[str, Exception]], None]]] = [
    (("DS301", "DS302"), output.check_project),
    (("DS401",), privacy.check_project),
    (("DS601",), prompts.check_project),
]


def run_checks(project: Project, enabled: set[str]) -> list[tuple[str, Exception]]:
    """Run every enabled family over the project; returns the files a rule crashed on, with the error."""
    errors: dict[str, Exception] = {}
    for rule_ids, check in MODULE_CHECKS:
        if not enabled.intersection(rule_ids):
            continue
        for unit in project.units:
            if unit.path in errors:
                continue
            try:
                check(unit.ctx)
            except Exception as exc:  # noqa: BLE001 -- a bug in one rule must not hide every other file's findings
                errors[unit.path] = exc
    for rule_ids, project_check in PROJECT_CHECKS:
        if enabled.intersection(rule_ids):
            project_check(project, errors)
    return list(errors.items())
