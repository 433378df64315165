"""Two prompt versions compared: a unified diff of their files, and which params or model changed.

    diff_prompts(registry.get("qa@2"), registry.get("qa@3")).changes
    # {"model": (None, "gpt-4o-mini"), "params.max_tokens": (64, 256)}
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from dayshift.answer.prompts import PromptTemplate


@dataclass(frozen=True, slots=True)
class PromptDiff:
    old: PromptTemplate
    new: PromptTemplate
    text: str  # unified diff of the two files; "" when they are the same
    changes: dict[str, tuple[Any, Any]]  # "model" / "params.<key>" -> (old, new); None where unset


def diff_prompts(old: PromptTemplate, new: PromptTemplate, *, context_lines: int = 3) -> PromptDiff:
    lines = difflib.unified_diff(
        (old.content or old.body).splitlines(keepends=True), (new.content or new.body).splitlines(keepends=True),
        fromfile=f"{old.ref} {old.path}", tofile=f"{new.ref} {new.path}", n=context_lines,
    )
    text = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
    changes: dict[str, tuple[Any, Any]] = {}
    if old.model != new.model:
        changes["model"] = (old.model, new.model)
    for key in sorted(old.params.keys() | new.params.keys()):
        if old.params.get(key) != new.params.get(key):
            changes[f"params.{key}"] = (old.params.get(key), new.params.get(key))
    return PromptDiff(old=old, new=new, text=text, changes=changes)
