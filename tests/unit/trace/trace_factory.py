"""Trace records for the tests: number i is started i seconds after T0 and has every field set."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from dayshift.trace.record import RetrievedChunk, TraceRecord

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def make_record(i: int = 0, **changes: Any) -> TraceRecord:
    """Trace number i: id f"{i:032x}", started i seconds after T0, every field set."""
    record = TraceRecord(
        trace_id=f"{i:032x}",
        tenant="acme",
        route="/v1/ask",
        started_at=T0 + timedelta(seconds=i),
        request_id=f"req-{i}",
        status="ok",
        http_status=200,
        latency_ms=12.375,
        stages_ms={"embed": 1.25, "dense": 0.5, "generate": 830.125},
        query=f"How do I rotate the VPN token? ({i})",
        answer="Open Settings, then Security [1].",
        prompt_name="answer",
        prompt_version="2",
        model="smollm2-360m",
        retrieved=[
            RetrievedChunk(rank=r, chunk_id=f"c{i}-{r}", doc_id=f"d{r}", doc_version="v3", score=1 / (r + 0.7))
            for r in range(1, 11)
        ],
        confidence=0.8312345678901234,
        abstained=False,
        abstain_reason=None,
        input_tokens=812,
        output_tokens=64,
        cost_usd=0.000123,
        retries=1,
        errors=["timeout on local, fell back"],
        params={"k": 10, "mode": "hybrid", "filters": {"lang": "en"}, "nested": [1, 2.5, None, True]},
    )
    return replace(record, **changes)
