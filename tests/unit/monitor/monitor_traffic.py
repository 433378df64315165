"""Traces for the monitor's tests: a steady week of two tenants, and the changes a test injects.

    write(store, week())                       # the hour before END on each of the 7 previous days
    write(store, hour(change=Change(...)))     # the hour before END, changed

Traffic is deterministic (seeded), flat over the day (the seasonal reference
is tested by the benchmark), and every field a detector reads is set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

from dayshift.trace.record import Feedback, RetrievedChunk, TraceRecord
from dayshift.trace.store import TraceStore

END = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
PER_HOUR = 60  # per tenant
TENANTS = ("acme", "globex")
# The tenants differ (globex's questions are harder), so a change of tenant mix alone moves the pooled numbers.
QUALITY_SHIFT = {"acme": 0.0, "globex": -0.15}
ABSTAIN_P = {"acme": 0.08, "globex": 0.2}


@dataclass(slots=True)
class Change:
    """What the injected hour does differently (defaults: nothing)."""

    tenant: str | None = None  # only this tenant (None: both)
    prompt_version: str | None = None
    abstain_p: float | None = None
    cost_x: float = 1.0
    stale_p: float = 0.0  # chance a retrieval returns an old version of a re-indexed document
    reranker_down: bool = False
    down_p: float | None = None
    queries: Callable[[int], str] | None = None  # i -> question


Traffic = tuple[list[TraceRecord], list[Feedback]]


def write(store: TraceStore, traffic: Traffic) -> None:
    records, feedback = traffic
    store.write(records)
    for fb in feedback:
        store.add_feedback(fb)


def week(end: datetime = END, *, seed: int = 0, every_hour: bool = False, per_hour: int = PER_HOUR,
         queries: Callable[[int], str] | None = None) -> Traffic:
    """Normal traffic in the hour before `end` on each of the 7 previous days (every_hour: all 7 x 24 hours)."""
    rng = np.random.default_rng(seed)
    hours = range(7 * 24, 0, -1) if every_hour else range(7 * 24, 0, -24)
    out: Traffic = ([], [])
    for h in hours:
        records, feedback = _hour(end - timedelta(hours=h + 1), rng, Change(queries=queries), id_base=h * 1000,
                                  per_hour=per_hour)
        out[0].extend(records)
        out[1].extend(feedback)
    return out


def hour(end: datetime = END, *, change: Change | None = None, seed: int = 1, per_hour: int = PER_HOUR,
         id_base: int = 0, tenants: tuple[str, ...] = TENANTS) -> Traffic:
    """The hour before `end`, with `change` applied; trace ids from id_base (the week's start at 24 000)."""
    return _hour(end - timedelta(hours=1), np.random.default_rng(seed), change or Change(), id_base=id_base,
                 per_hour=per_hour, tenants=tenants)


def _hour(start: datetime, rng: np.random.Generator, change: Change, *, id_base: int, per_hour: int,
          tenants: tuple[str, ...] = TENANTS) -> Traffic:
    records, feedback = [], []
    for t, tenant in enumerate(tenants):
        for i in range(per_hour):
            at = start + timedelta(seconds=float(rng.uniform(0, 3600)))
            changed = change.tenant in (None, tenant)
            record = _record(f"{id_base + t * 500 + i:032x}", tenant, at, rng, change if changed else Change(), i)
            records.append(record)
            if rng.random() < 0.5 and record.answer:  # half the answers are rated, a minute later
                p = change.down_p if changed and change.down_p is not None else 0.1
                rating = "down" if rng.random() < p else "up"
                feedback.append(Feedback(record.trace_id, tenant, rating, created_at=at + timedelta(minutes=1)))
    records.sort(key=lambda r: r.started_at)
    return records, feedback


def _record(trace_id: str, tenant: str, at: datetime, rng: np.random.Generator, change: Change, i: int
            ) -> TraceRecord:
    q = float(np.clip(rng.beta(6, 2.5) + QUALITY_SHIFT[tenant], 0.0, 1.0))
    abstained = bool(rng.random() < (change.abstain_p if change.abstain_p is not None else ABSTAIN_P[tenant]))
    docs = [f"{tenant}-doc{int(d)}" for d in rng.choice(40, 3, replace=False)]
    # A botched re-index: documents ending in 1-3 got version v2, but their v1 chunks are still served.
    version = [("v1" if rng.random() < change.stale_p else "v2") if change.stale_p and d.endswith(("1", "2", "3"))
               else "v1" for d in docs]
    top = (0.2 + 0.6 * q) if change.reranker_down else (-4 + 10 * q + float(rng.normal(0, 0.5)))
    retrieved = [RetrievedChunk(rank=r, chunk_id=f"{d}:{r}", doc_id=d, doc_version=_hash(v), score=top - 0.8 * (r - 1))
                 for r, (d, v) in enumerate(zip(docs, version), 1)]
    input_tokens = int(rng.normal(1500, 100) * change.cost_x)
    question = change.queries(i) if change.queries else f"How do I configure feature {int(rng.integers(30))}?"
    return TraceRecord(
        trace_id=trace_id, tenant=tenant, route="/v1/ask", started_at=at, request_id=trace_id[-8:],
        stages_ms={"embed": 4.0, "dense": 3.0, "rerank": 0.2 if change.reranker_down else float(rng.normal(40, 5)),
                   "generate": 700.0},
        query=question, answer="I don't know." if abstained else "Yes, it is [1].",
        prompt_name="answer", prompt_version=change.prompt_version or "3", model="gpt-4o-mini",
        retrieved=retrieved, confidence=0.3 * q if abstained else q, abstained=abstained,
        input_tokens=input_tokens, output_tokens=150, cost_usd=(input_tokens * 0.15 + 150 * 0.6) / 1e6,
    )


def _hash(version: str) -> str:
    return hashlib.sha1(version.encode()).hexdigest()
