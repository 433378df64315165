"""Traces as columns: feedback as of `now`, citations, the rerank stage, and stale document versions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from dayshift.monitor.frame import LABELS, Frame, VersionHistory, build_frame
from dayshift.trace.record import Feedback, RetrievedChunk, TraceRecord
from dayshift.trace.store import StoredTrace

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def make_record(i: int, **changes: Any) -> TraceRecord:
    """Trace i, started i seconds after T0: an answered, cited question with three retrieved chunks."""
    record = TraceRecord(
        trace_id=f"{i:032x}", tenant="acme", route="/v1/ask", started_at=T0 + timedelta(seconds=i),
        stages_ms={"embed": 1.25, "generate": 830.0}, query=f"How do I rotate the VPN token? ({i})",
        answer="Open Settings, then Security [1].", prompt_name="answer", prompt_version="2", model="gpt-4o-mini",
        retrieved=[RetrievedChunk(rank=r, chunk_id=f"c{i}-{r}", doc_id=f"d{r}", doc_version="v3", score=1 / r)
                   for r in range(1, 4)],
        confidence=0.83, abstained=False, input_tokens=812, output_tokens=64, cost_usd=0.000123,
    )
    return replace(record, **changes)


def chunk(doc: str, version: str, score: float = 1.0) -> RetrievedChunk:
    return RetrievedChunk(rank=1, chunk_id=f"{doc}:{version}", doc_id=doc, doc_version=version, score=score)


def test_columns_of_a_full_trace() -> None:
    record = make_record(1)
    frame = build_frame([StoredTrace(record, [])], now=None)
    assert len(frame) == 1 and frame.at[0] == record.started_at.timestamp()
    assert LABELS.label(frame.tenant[0]) == "acme" and LABELS.label(frame.prompt_version[0]) == "answer@2"
    assert frame.cited[0] == 1 and frame.rating[0] == -1 and frame.stale[0] == 0
    assert frame.top_score[0] == max(c.score for c in record.retrieved) and np.isnan(frame.rerank_ms[0])
    assert frame.tokens[0] == 812 + 64 and frame.query[0] == record.query


def test_feedback_counts_as_of_now_and_the_latest_rating_wins() -> None:
    record = make_record(2)
    feedback = [Feedback(record.trace_id, "acme", "up", created_at=T0 + timedelta(minutes=1)),
                Feedback(record.trace_id, "acme", "down", created_at=T0 + timedelta(minutes=5))]
    stored = StoredTrace(record, feedback)
    assert build_frame([stored], now=None).rating[0] == 1
    assert build_frame([stored], now=T0 + timedelta(minutes=2)).rating[0] == 0
    assert build_frame([stored], now=T0).rating[0] == -1


def test_citations_only_for_given_answers() -> None:
    traces = [make_record(3, answer="Paris."), make_record(4, abstained=True, answer="I don't know."),
              make_record(5, status="error", answer=None), make_record(6, answer="Paris [1, 2].")]
    assert build_frame([StoredTrace(r, []) for r in traces], now=None).cited.tolist() == [0, -1, -1, 1]


def test_a_version_served_after_a_newer_one_is_stale() -> None:
    history = VersionHistory()
    at = [T0 + timedelta(minutes=m) for m in range(4)]
    traces = [make_record(10, started_at=at[0], retrieved=[chunk("d1", "v1")]),
              make_record(11, started_at=at[1], retrieved=[chunk("d1", "v2")]),  # the re-index
              make_record(12, started_at=at[2], retrieved=[chunk("d1", "v1"), chunk("d2", "v1")]),  # left behind
              make_record(13, started_at=at[3], retrieved=[])]
    frame = build_frame([StoredTrace(r, []) for r in traces], now=None, history=history)
    assert frame.stale.tolist() == [0, 0, 1, -1]
    assert LABELS.label(frame.newest_doc[1]) == "d1@v2"
    # Order of reading does not matter: the first trace, read again, is still not stale.
    assert build_frame([StoredTrace(traces[0], [])], now=None, history=history).stale.tolist() == [0]


def test_rerank_stage_and_flat_scores() -> None:
    record = make_record(20, stages_ms={"rerank": 41.5}, retrieved=[chunk("a", "v", 0.5), chunk("b", "v", 0.5)])
    frame = build_frame([StoredTrace(record, [])], now=None)
    assert frame.rerank_ms[0] == 41.5 and frame.score_spread[0] == 0.0


def test_between_and_concat_keep_time_order() -> None:
    traces = [StoredTrace(make_record(i), []) for i in range(5)]
    frame = build_frame(traces, now=None)
    middle = frame.between((T0 + timedelta(seconds=1)).timestamp(), (T0 + timedelta(seconds=3)).timestamp())
    assert len(middle) == 2
    both = Frame.concat([frame.between(0, frame.at[2]), frame.between(frame.at[2], np.inf)])
    assert both.at.tolist() == frame.at.tolist()
    assert len(Frame.concat([])) == 0
