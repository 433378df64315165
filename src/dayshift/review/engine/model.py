"""The values the review passes around: a rule's description, a finding, a report.

Left out: severities beyond error/warning (every rule is something to fix or to suppress
with a reason; the level only maps to SARIF's `level`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Rule:
    """A rule's id and the text every output shows: what, why it matters, how to fix it."""

    id: str  # "DS101"
    family: str  # "timeout"
    name: str  # "llm-call-without-timeout"
    summary: str  # one line
    why: str  # why it matters in production
    fix: str  # how to fix it
    doc: str  # "docs/review/timeouts.md#ds101"
    level: str = "warning"  # SARIF level: "error" | "warning" | "note"


@dataclass(frozen=True)
class Finding:
    """One problem at one place. Lines and columns are 1-based, as editors count them."""

    path: str
    line: int
    column: int
    rule_id: str
    message: str
    end_line: int = 0
    end_column: int = 0

    @property
    def last_line(self) -> int:
        return max(self.end_line, self.line)


@dataclass
class FileError:
    """A file the review could not read (it is skipped; the command exits 2)."""

    path: str
    reason: str


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    errors: list[FileError] = field(default_factory=list)
    files: int = 0
    lines: int = 0
    suppressed: int = 0
    root: Path = field(default_factory=Path.cwd)
