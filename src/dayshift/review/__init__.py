"""`dayshift review`: the AI-specific code review, as a linter.

    from dayshift.review import ReviewConfig, review_paths, review_sources
    report = review_paths([Path("src")], config=ReviewConfig())   # every file, as one project
    for finding in report.findings: print(finding.path, finding.line, finding.rule_id)

It reads Python with the standard-library `ast` (no regular expressions over code) and asks
what a general linter does not: does this LLM or HTTP call have a timeout, a retry, a bounded
output; is the model's text parsed or run without a check; does user data reach a third-party
model or telemetry unredacted; are keys in the code or the logs; do prompts live in handlers;
is streaming accounted for; can an agent loop run forever.

Layout: `engine/` (the per-module index, the project of all reviewed modules and its call
graph, client tracking, the runner), `rules/` (one module per rule family), `taint/` (data flow
inside a function, function summaries across functions and modules, module and object state),
`config/` (pyproject `[tool.dayshift.review]`), `suppressions/` (`# dayshift: ignore[DS101]
reason`), `output/` (text, JSON, SARIF 2.1.0), `diff/` (lines changed against a git base).

Left out: type inference beyond annotations and constructors, dynamic dispatch by name, and
libraries the rules do not model; the rule pages in docs/review/ say, rule by rule, what that
costs.
"""

from dayshift.review.config import ReviewConfig, load_config
from dayshift.review.engine.model import Finding, Report, Rule
from dayshift.review.engine.runner import review_paths, review_source, review_sources
from dayshift.review.rules.catalog import FAMILIES, RULES, rule

__all__ = ["FAMILIES", "RULES", "Finding", "Report", "ReviewConfig", "Rule", "load_config", "review_paths",
           "review_source", "review_sources", "rule"]
