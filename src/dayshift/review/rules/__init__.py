"""The rule families. Each module has `check(ctx)`, which reports through `ctx.report`.

    timeouts     DS101 DS102     retries      DS201         output     DS301 DS302
    privacy      DS401           secrets      DS501 DS502   prompts    DS601 DS602
    streaming    DS701           agent_loops  DS801

The text of every rule (why it matters, how to fix it) is in `catalog`.
"""

from __future__ import annotations

from collections.abc import Callable

from dayshift.review.engine.context import RuleContext
from dayshift.review.rules import agent_loops, output, privacy, prompts, retries, secrets, streaming, timeouts

CHECKS: list[tuple[tuple[str, ...], Callable[[RuleContext], None]]] = [
    (("DS101", "DS102"), timeouts.check),
    (("DS201",), retries.check),
    (("DS301", "DS302"), output.check),
    (("DS401",), privacy.check),
    (("DS501", "DS502"), secrets.check),
    (("DS601", "DS602"), prompts.check),
    (("DS701",), streaming.check),
    (("DS801",), agent_loops.check),
]


def run_checks(ctx: RuleContext, enabled: set[str]) -> None:
    for rule_ids, check in CHECKS:
        if enabled.intersection(rule_ids):
            check(ctx)
