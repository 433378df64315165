"""Production traces -> candidate eval cases: the questions users were let down on.

    traces of the window (TraceStore.scan, oldest first)
      latest feedback "down"  -> reason "negative-feedback", answerable guessed true
      else abstained          -> reason "abstention",        answerable guessed false
      --> EvalCase(status="candidate", question=the stored (redacted) query, no expected answers,
                   origin={trace_id, reason, comment, answer, started_at, ...}, tags=["harvested", reason])
      --> merge_cases: skips ids ("trace-<trace id>") and questions the file already holds for the same
          tenant, and merges a tenant's question asked again in the window into one case

Only traces that finished ("ok") and kept their text are used: a trace stored
with `trace.store_text = "none"` (or whose redaction failed) has no question
to ask again. The answerable flag is a guess, said so in the note, for the
person who reviews the candidate to confirm along with the expected answers.

Left out: clustering near-identical questions, and reasons other than these
two (slow or expensive answers belong to the monitor).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

from dayshift.errors import ConfigError
from dayshift.evals.cases import EvalCase, merge_cases
from dayshift.trace.store import StoredTrace, TraceStore

__all__ = ["HarvestReport", "Reason", "candidate_case", "harvest", "harvest_cases", "reason_of", "window_start"]

Reason = Literal["negative-feedback", "abstention"]
_SPAN = re.compile(r"^(\d+)([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
_RETRIEVED_KEPT = 10  # documents of the trace shown to the reviewer as likely expected sources
_NOTES: dict[Reason, str] = {
    "negative-feedback": "answerable guessed true from negative feedback: confirm it, and add the expected "
                         "answers and sources",
    "abstention": "answerable guessed false from an abstention: if the documents do answer it, set answerable "
                  "and add the expected answers and sources",
}


@dataclass(slots=True)
class HarvestReport:
    path: Path
    scanned: int = 0  # traces in the window
    candidates: int = 0  # of those, with negative feedback or an abstention
    added: int = 0  # new cases written
    without_text: int = 0  # candidates skipped: no stored question
    known: int = 0  # candidates already in the file (same trace, or the same question of the same tenant)
    repeated: int = 0  # the same question of the same tenant asked again in the window: one case


def window_start(text: str, *, now: datetime) -> datetime:
    """'7d', '24h', '90m' before `now`, or an ISO date or time (UTC when no zone is given)."""
    text = text.strip()
    span = _SPAN.match(text.lower())
    try:
        if span:
            at = now - timedelta(**{_UNITS[span.group(2)]: int(span.group(1))})
        elif "T" in text.upper() or ":" in text:
            at = datetime.fromisoformat(text)
        else:
            day = date.fromisoformat(text)
            at = datetime(day.year, day.month, day.day)
    except (ValueError, OverflowError):
        raise ConfigError(f'"{text}" is not a start: use 7d, 24h, 90m, or a date or time such as 2025-03-01 '
                          "or 2025-03-01T06:00") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def reason_of(trace: StoredTrace) -> Reason | None:
    """Why a trace makes a candidate case, or None. Negative feedback wins: the user said it was wrong."""
    if trace.record.status != "ok":
        return None
    if trace.rating == "down":
        return "negative-feedback"
    if trace.record.abstained:
        return "abstention"
    return None


def candidate_case(trace: StoredTrace, reason: Reason) -> EvalCase:
    """A candidate case from a trace with a stored question."""
    record = trace.record
    question = (record.query or "").strip()
    if not question:
        raise ValueError(f"trace {record.trace_id} has no stored question to make a case of")
    downvotes = [f for f in trace.feedback if f.rating == "down"]
    retrieved = list(dict.fromkeys(c.doc_id for c in sorted(record.retrieved, key=lambda c: c.rank)))
    return EvalCase(
        id=f"trace-{record.trace_id}", question=question, expected_answers=[], expected_sources=[],
        answerable=reason == "negative-feedback", tags=["harvested", reason], status="candidate",
        origin={
            "trace_id": record.trace_id, "reason": reason, "tenant": record.tenant, "route": record.route,
            "started_at": record.started_at.astimezone(UTC).isoformat(), "answer": record.answer,
            "abstain_reason": record.abstain_reason, "comment": downvotes[-1].comment if downvotes else "",
            "retrieved": retrieved[:_RETRIEVED_KEPT],
        },
        note=_NOTES[reason],
    )


def harvest_cases(traces: Iterable[StoredTrace], report: HarvestReport) -> list[EvalCase]:
    """The candidate cases of `traces`, counting into `report` as they are read."""
    cases: list[EvalCase] = []
    for trace in traces:
        report.scanned += 1
        reason = reason_of(trace)
        if reason is None:
            continue
        report.candidates += 1
        if not (trace.record.query or "").strip():
            report.without_text += 1
            continue
        cases.append(candidate_case(trace, reason))
    return cases


def harvest(store: TraceStore, path: Path, *, since: datetime, until: datetime | None = None,
            tenant: str | None = None) -> HarvestReport:
    """Add the candidate cases of the traces started in [since, until) to the dataset at `path`."""
    report = HarvestReport(path=Path(path))
    found = harvest_cases(store.scan(since, until or datetime.now(UTC), tenant=tenant), report)
    merged = merge_cases(report.path, found)
    report.added, report.known, report.repeated = merged.added, merged.known, merged.repeated
    return report
