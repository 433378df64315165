"""Training examples from rated traces: what users liked is a positive, what they did not a negative.

    thumbs up    the question; the chunks its answer cited ([n] markers) are positives, the
                 retrieved chunks it did not cite are hard negatives
    thumbs down  the chunks it cited are hard negatives for that question; they join an example
                 only when the same question has a positive elsewhere (a thumbs-up trace)

Traces store chunk ids, not text (unless the trace kept its excerpts): `chunk_text` reads the
index. Left out: traces without a stored question (trace.store_text off), partial credit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dayshift.evals.cases import normalize_question
from dayshift.finetune.data.examples import TrainingExample
from dayshift.trace.store import StoredTrace

_MARKER = re.compile(r"\[(\d+)\]")


@dataclass(slots=True)
class TraceReport:
    rated: int = 0
    positives: int = 0
    negatives_from_down: int = 0
    unmatched_down: int = 0  # thumbs-down questions with no positive anywhere


def cited_chunk_ids(trace: StoredTrace) -> list[str]:
    """The chunk ids the answer cited: its [n] markers, looked up in the trace's sources."""
    sources = {s.get("n"): s.get("chunk_id") for s in trace.record.detail.get("sources", [])}
    numbers = [int(n) for n in _MARKER.findall(trace.record.answer or "")]
    return [cid for n in dict.fromkeys(numbers) if (cid := sources.get(n))]


def trace_examples(
    traces: Iterable[StoredTrace], *, chunk_text: Callable[[str], tuple[str, str] | None],
    report: TraceReport | None = None,
) -> list[TrainingExample]:
    """`chunk_text(chunk_id)` -> (doc_id, text) or None when the chunk is gone from the index."""
    report = report if report is not None else TraceReport()
    ups: list[tuple[StoredTrace, list[str]]] = []
    down_negatives: dict[str, list[str]] = {}
    for trace in traces:
        if trace.rating is None or not trace.record.query:
            continue
        report.rated += 1
        cited = cited_chunk_ids(trace)
        if trace.rating == "up":
            ups.append((trace, cited))
        else:
            down_negatives.setdefault(normalize_question(trace.record.query), []).extend(cited)
    examples, used = [], set()
    for trace, cited in ups:
        key = normalize_question(trace.record.query or "")
        uncited = [c.chunk_id for c in trace.record.retrieved if c.chunk_id not in cited]
        negative_ids = [*down_negatives.get(key, []), *uncited]
        report.negatives_from_down += len(down_negatives.get(key, []))
        used.add(key)
        negatives = [found for cid in dict.fromkeys(negative_ids) if (found := chunk_text(cid))]
        for cid in cited:
            found = chunk_text(cid)
            if found is None:
                continue
            report.positives += 1
            examples.append(TrainingExample(
                query=trace.record.query or "", positive=found[1], positive_id=found[0],
                negatives=tuple(t for _, t in negatives), negative_ids=tuple(d for d, _ in negatives),
                source="trace", origin={"trace_id": trace.record.trace_id},
            ))
    report.unmatched_down = len(set(down_negatives) - used)
    return examples
