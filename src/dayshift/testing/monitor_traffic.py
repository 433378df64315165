"""Synthetic traffic for the monitor's tests and screenshots: calm days of traces, then (optionally) a bad one.

    records, feedback = synthetic_traffic(now=datetime.now(UTC), days=8, per_day=120, incident=True)
    with TraceStore(url) as store:
        write_traffic(store, records, feedback)

Every calm day has the same shape: two tenants asking the same few questions,
5% abstained, good retrieval scores, prompt answer@2 over index version
sync-41, a tenth of the rated answers rated down. The incident day (the last
24 hours before `now`) ships prompt answer@3 and a re-index (sync-42), and with
them everything the four areas watch goes wrong:
acme's cost per answer goes up tenfold, 45% of questions are abstained on, 40% of
ratings are down, most questions are about things the documents never covered
(one of them a <script> element, as user text can be), and retrieval scores
fall. Deterministic for a given seed and `now`.

Left out: errors, retries, re-ranking and stale document versions (their
detectors have their own tests).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from dayshift.trace.record import Feedback, RetrievedChunk, TraceRecord
from dayshift.trace.store import TraceStore

__all__ = ["CALM_QUESTIONS", "NEW_QUESTIONS", "synthetic_traffic", "write_traffic"]

CALM_QUESTIONS = (
    "How do I rotate the VPN token?", "Where is the password reset page?", "Which file formats can be ingested?",
    "How do I add a user to a team?", "What is the retention period for logs?", "How do I export a report?",
)
NEW_QUESTIONS = (
    "What is the boiling point of tungsten?", "Who won the 1998 world cup?", "How tall is Mount Everest?",
    '<script>alert("drift")</script> how do I cook rice?',
)


def synthetic_traffic(*, now: datetime, days: int = 8, per_day: int = 120, incident: bool = True,
                      seed: int = 7) -> tuple[list[TraceRecord], list[Feedback]]:
    """`days` days of /v1/ask traces ending at `now`, evenly spread; the last day is the incident if asked."""
    rng = random.Random(seed)
    records: list[TraceRecord] = []
    feedback: list[Feedback] = []
    calm_index, new_index = _index_version(41, now - timedelta(days=days)), _index_version(42, now - timedelta(days=1))
    for day in range(days - 1, -1, -1):
        bad = incident and day == 0
        for i in range(per_day):
            at = now - timedelta(days=day + 1) + timedelta(days=(i + 0.5) / per_day)
            record = _trace(rng, at=at, number=day * per_day + i, tenant="acme" if i % 2 else "globex", bad=bad)
            record.params["index_version"] = new_index if bad else calm_index
            records.append(record)
            if not record.abstained and rng.random() < 0.5:
                down = rng.random() < (0.4 if bad else 0.1)
                feedback.append(Feedback(trace_id=record.trace_id, tenant=record.tenant, rating="down" if down else "up",
                                         created_at=at + timedelta(minutes=1)))
    return records, feedback


def _trace(rng: random.Random, *, at: datetime, number: int, tenant: str, bad: bool) -> TraceRecord:
    abstained = rng.random() < (0.45 if bad else 0.05)
    novel = bad and rng.random() < 0.6
    question = rng.choice(NEW_QUESTIONS if novel else CALM_QUESTIONS)
    top = (0.3 if bad else 0.8) + rng.random() * 0.05
    answered = not abstained
    return TraceRecord(
        trace_id=f"{number:032x}", tenant=tenant, route="/v1/ask", started_at=at, request_id=f"req-{number}",
        latency_ms=900.0 + rng.random() * 200,
        stages_ms={"embed": 3.0, "keyword": 2.0, "dense": 1.0, "fuse": 0.2, "generate": 800.0 if answered else 0.0},
        query=question, answer="Open Settings, then Security [1]." if answered else None,
        prompt_name="answer", prompt_version="3" if bad else "2", model="gpt-4o-mini" if answered else None,
        retrieved=[RetrievedChunk(rank=k, chunk_id=f"c{k}", doc_id=f"d{k}", doc_version="v1", score=top - 0.05 * k)
                   for k in range(1, 4)],
        confidence=(0.2 if abstained else 0.8) + rng.random() * 0.1, abstained=abstained,
        abstain_reason="no source is close enough" if abstained else None,
        input_tokens=800 if answered else 0, output_tokens=60 if answered else 0,
        cost_usd=(0.02 if bad and tenant == "acme" else 0.002) if answered else 0.0,
    )


def _index_version(run: int, finished: datetime) -> str:
    """As the service records it (Catalog.index_version): the sync run that last changed the index, and when."""
    return f"sync-{run}@{finished.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def write_traffic(store: TraceStore, records: Sequence[TraceRecord], feedback: Sequence[Feedback] = ()) -> None:
    store.write(list(records))
    for given in feedback:
        store.add_feedback(given)
