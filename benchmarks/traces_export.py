"""Exporting traces to Parquet: how long 100,000 traces take, against reading them as records.

    python benchmarks/traces_export.py [--traces 100000] [--json] [--keep DIR]

Writes `--traces` traces shaped like the service's (10 retrieved chunks, stage timings, a question and
an answer, the debugger's detail with its prompt, excerpts and scores; one in ten rated) into a SQLite
trace database, then times what `dayshift traces export --out traces.parquet` does: read them into a
DataFrame (dayshift.frames.traces) and write the Parquet file. The baseline, in the same process, is the
obvious way: every trace read as a record through TraceStore.scan, then pandas.json_normalize.
Target: 100,000 traces in 30 s or less. `--json` prints one object with `traces` and `export_s`.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from dayshift import frames
from dayshift.trace.record import Feedback, RetrievedChunk, TraceRecord
from dayshift.trace.store import TraceStore, default_trace_url

START = datetime(2025, 3, 3, tzinfo=UTC)
TENANTS = ("acme", "globex", "initech", "umbrella")
QUESTIONS = ("How do I rotate the VPN token?", "Which file formats can be ingested?",
             "What does the Framework Core contain?", "How are incidents prioritised?")


def make_trace(i: int, rng: random.Random) -> TraceRecord:
    question = f"{rng.choice(QUESTIONS)} ({i})"
    abstained = rng.random() < 0.2
    chunks = [RetrievedChunk(rank=r, chunk_id=f"docs/guide-{rng.randrange(400)}.md:{r}", doc_id=f"docs/guide-{r}.md",
                             doc_version="5f0c2a9e31d4b7a8", score=round(1 / (r + rng.random()), 6))
              for r in range(1, 11)]
    detail = {
        "version": 1,
        "retrieval": {"mode": "hybrid", "fusion": "weighted", "k": 5, "keyword_cutoff": 1.2, "dense_cutoff": 0.21,
                      "chunks": [{"rank": c.rank, "chunk_id": c.chunk_id, "doc_id": c.doc_id, "title": "Guide",
                                  "section": ["Guide", "Setup"], "fused": c.score, "keyword": 4.1,
                                  "keyword_rank": c.rank, "dense": 0.55, "dense_rank": c.rank + 1}
                                 for c in chunks[:5]]},
        "sources": [{"n": 1, "chunk_id": chunks[0].chunk_id, "text": "Open Settings, then Security. " * 6}],
        "messages": [{"role": "system", "content": "Answer from the numbered sources; cite them as [n]. " * 3},
                     {"role": "user", "content": f"[1] {'Open Settings, then Security. ' * 6}\nQuestion: {question}"}],
        "draft": "Open Settings, then Security [1].", "support": {"score": 0.8, "focus": 1.0, "verbatim": False},
        "evidence": {"dense_top": 0.55, "coverage": 0.8}, "confidence": 0.7, "threshold": 0.6,
        "verdict": {"abstained": abstained, "stage": "support" if abstained else "answered", "reason": ""},
    }
    return TraceRecord(
        trace_id=f"{i:032x}", tenant=rng.choice(TENANTS), route="/v1/ask",
        started_at=START + timedelta(seconds=i * 6), request_id=f"req-{i}", latency_ms=round(rng.uniform(300, 4000), 3),
        stages_ms={"embed": 3.1, "hybrid": 4.2, "select": 9.0, "generate": 812.5, "check": 1.2},
        query=question, answer="I don't know." if abstained else "Open Settings, then Security [1].",
        prompt_name="answer", prompt_version="v2", model="smollm2-135m-instruct", retrieved=chunks,
        confidence=round(rng.random(), 6), abstained=abstained, abstain_reason="weak evidence" if abstained else None,
        input_tokens=rng.randrange(200, 900), output_tokens=rng.randrange(10, 120), cost_usd=0.0,
        params={"where": [], "stream": True, "index_version": "sync-12@2025-03-01T09:00:05Z"}, detail=detail,
    )


def fill(store: TraceStore, n: int, *, progress: Progress) -> None:
    rng = random.Random(0)
    task = progress.add_task("writing traces", total=n)
    for start in range(0, n, 2000):
        batch = [make_trace(i, rng) for i in range(start, min(n, start + 2000))]
        store.write(batch)
        for record in batch[::10]:
            store.add_feedback(Feedback(record.trace_id, record.tenant, rng.choice(("up", "down")), "ok"))
        progress.advance(task, len(batch))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--traces", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the trace database (and reuse it) in this folder")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="dayshift-export-"))
    work.mkdir(parents=True, exist_ok=True)
    url = default_trace_url(work)
    console = Console(stderr=True)
    with TraceStore(url) as store:
        if store.count() != args.traces:
            if store.count():
                raise SystemExit(f"{work} holds {store.count()} traces, not {args.traces}: use another --keep")
            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
            with Progress(*columns, console=console) as progress:
                fill(store, args.traces, progress=progress)

    started = time.perf_counter()
    frame = frames.traces(url)
    read_s = time.perf_counter() - started
    out = work / "traces.parquet"
    started = time.perf_counter()
    frames.write(frame, out)
    write_s = time.perf_counter() - started

    started = time.perf_counter()
    with TraceStore(url) as store:
        records = [t.to_json() for t in store.scan(START - timedelta(days=1), START + timedelta(days=3650))]
    baseline = pd.json_normalize(records)
    baseline_read_s = time.perf_counter() - started
    started = time.perf_counter()
    baseline.drop(columns=[c for c in baseline.columns if c.startswith("detail.") or c in ("retrieved", "feedback")]
                  ).to_parquet(work / "baseline.parquet", index=False)
    baseline_s = baseline_read_s + time.perf_counter() - started

    result = {"traces": len(frame), "export_s": round(read_s + write_s, 2), "read_s": round(read_s, 2),
              "write_s": round(write_s, 2), "traces_per_s": round(len(frame) / (read_s + write_s)),
              "parquet_mb": round(out.stat().st_size / 2**20, 1), "columns": len(frame.columns),
              "baseline_export_s": round(baseline_s, 2), "speedup": round(baseline_s / (read_s + write_s), 1),
              "target_s": 30.0}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        table = Table("what", "traces", "seconds", "traces/s", title="Export to Parquet")
        table.add_row("dayshift.frames.traces + write", f"{len(frame):,}", f"{read_s + write_s:.2f}",
                      f"{result['traces_per_s']:,}")
        table.add_row("baseline: TraceStore.scan + json_normalize", f"{len(baseline):,}", f"{baseline_s:.2f}",
                      f"{round(len(baseline) / baseline_s):,}")
        Console().print(table)
        Console().print(f"read {read_s:.2f} s, write {write_s:.2f} s, {result['parquet_mb']} MB, "
                        f"{result['columns']} columns; target 30 s")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
