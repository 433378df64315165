"""Versioned prompts: a registry over prompt folders, labels, history, diffs and lint.

    registry = PromptRegistry.from_settings(settings)   # answer.prompt_dir, then the shipped prompts
    registry.get("qa@production")                        # -> PromptTemplate (name, version, params, model, ...)
    registry.set_label("qa", "production", 3, actor="ana", reason="eval 2025-05-01")
"""

from dayshift.prompts.diff import PromptDiff, diff_prompts
from dayshift.prompts.history import HistoryEntry
from dayshift.prompts.lint import LintContext, LintFinding, lint_registry, lint_template
from dayshift.prompts.registry import PromptRegistry

__all__ = ["HistoryEntry", "LintContext", "LintFinding", "PromptDiff", "PromptRegistry", "diff_prompts",
           "lint_registry", "lint_template"]
