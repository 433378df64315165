"""What a tool is: a name, a description, a pydantic model of its arguments, and `run`.

    class Weather:                                   # a user's tool, registered as an entry point
        name = "weather"
        description = "Today's forecast for a city."
        Args = WeatherArgs                           # a pydantic BaseModel: the schema the model sees
        def run(self, args: WeatherArgs, *, run: RunContext) -> ToolOutput: ...

    ToolOutput(text, evidence)   text: what the model reads (the loop frames it as data);
                                 evidence: what a final answer may cite ("D1", "Q1"), with where it came from

A tool raises ToolError for anything the model can fix (a bad query, a refused statement): the
message goes back to the model as the call's result, so it should say what was wrong and what to
do instead. Any other exception is the tool's bug; the loop reports it as a failed call too, with
the exception's class only (its message may quote data).

Left out: asynchronous tools and tools that stream partial results.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

from dayshift.errors import DayshiftError

EvidenceKind = Literal["docs", "sql", "calculator", "web", "tool"]


class ToolError(DayshiftError):
    """A call the tool refused or could not carry out; the message is shown to the model."""

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused  # a guard said no (read-only, allow-list), as opposed to a mistake


@dataclass(frozen=True, slots=True)
class Evidence:
    """One result a final answer may cite."""

    id: str  # "D1", "Q2": unique within a run
    kind: EvidenceKind
    label: str  # "NIST SP 800-63B, p. 14" or the SQL statement
    text: str  # the excerpt or the rows, as the model was shown them
    doc_id: str | None = None
    chunk_id: str | None = None
    location: str | None = None
    row_count: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "label": self.label, "text": self.text, "doc_id": self.doc_id,
                "chunk_id": self.chunk_id, "location": self.location, "row_count": self.row_count}


@dataclass(frozen=True, slots=True)
class ToolOutput:
    text: str
    evidence: tuple[Evidence, ...] = ()
    data: dict[str, Any] = field(default_factory=dict)  # structured extras for the API and traces (no text needed)


@dataclass(slots=True)
class RunContext:
    """What one run lends its tools: a deadline, and ids for the evidence they return."""

    deadline: float  # time.monotonic() by which the tool must be done
    _counters: dict[str, itertools.count] = field(default_factory=dict)  # type: ignore[type-arg]
    clock: Callable[[], float] = time.monotonic

    def new_id(self, prefix: str) -> str:
        counter = self._counters.setdefault(prefix, itertools.count(1))
        return f"{prefix}{next(counter)}"

    def time_left_s(self) -> float:
        return max(0.0, self.deadline - self.clock())


@runtime_checkable
class Tool(Protocol):
    name: str  # letters, digits and _ : what the model calls
    description: str  # what it does, when to use it, what it returns
    Args: type[BaseModel]

    def run(self, args: Any, *, run: RunContext) -> ToolOutput: ...


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters at a line or word boundary, saying how much was left out."""
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit)
    if cut < limit // 2:
        cut = text.rfind(" ", 0, limit)
    cut = cut if cut > limit // 2 else limit
    return f"{text[:cut].rstrip()}\n[... {len(text) - cut} more characters not shown]"
