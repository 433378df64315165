"""Load benchmark: the service on loopback under a bounded number of concurrent clients.

    python benchmarks/load.py [--json] [--requests 300] [--asks 8] [--data-dir DIR]

Two `dayshift serve` processes over one index: tracing on (the default) and
tracing off. The client is asyncio + httpx, with at most N requests in flight.
  - /v1/search at 1, 8 and 32 concurrent clients, against the traced server;
  - /v1/ask with the bundled local model, one client at a time;
  - tracing overhead: /v1/search at 1 client, the same 100 queries sent to the
    traced and to the untraced server (the baseline, in the same run) back to
    back, in alternating order, block after block; the overhead is the median
    over blocks of the ratio of their median latencies;
  - every request is counted, and the traces the database holds afterwards
    must equal the requests sent to the traced server.
The corpus is dayshift's demo corpus plus, when the shared data is present,
the Markdown book (../shared/data/markdown_rust_book/src); queries are the
opening words of its own chunks.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from rich.console import Console
from rich.table import Table

from dayshift.testing.serve_process import ServeProcess

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DAYSHIFT_SHARED_DATA", REPO.parent / "shared" / "data"))
DAYSHIFT = str(Path(sys.executable).with_name("dayshift"))
QUESTIONS = [
    "Which embedding model does dayshift bundle?",
    "How does dayshift combine keyword and dense search?",
    "Which file formats can dayshift ingest?",
    "Where does dayshift store its index?",
    "What does dayshift do when a server keeps failing?",
    "How is the abstention threshold learned?",
    "What is the boiling point of mercury?",
    "What happens to personal data before a call to a remote model?",
]


@dataclass
class Sample:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    seconds: float = 0.0

    def row(self) -> dict[str, float]:
        lat = np.array(self.latencies_ms)
        return {
            "requests": len(lat) + self.errors, "errors": self.errors,
            "rps": round(len(lat) / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(float(np.percentile(lat, 50)), 2), "p99_ms": round(float(np.percentile(lat, 99)), 2),
        }


def _server(data_dir: Path, *, tracing: bool) -> ServeProcess:
    return ServeProcess(data_dir, env={
        "DAYSHIFT_TRACE__ENABLED": str(tracing).lower(),
        "DAYSHIFT_SERVICE__RATE_LIMIT_PER_MINUTE": "10000000", "DAYSHIFT_SERVICE__RATE_LIMIT_BURST": "100000",
    })


async def _drive(url: str, route: str, bodies: list[dict[str, object]], *, concurrency: int) -> Sample:
    sample = Sample()
    slots = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:

        async def one(body: dict[str, object]) -> None:
            async with slots:
                started = time.perf_counter()
                try:
                    r = await client.post(route, json=body)
                    ok = r.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    sample.latencies_ms.append((time.perf_counter() - started) * 1000)
                else:
                    sample.errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(one(b) for b in bodies))
        sample.seconds = time.perf_counter() - started
    return sample


def drive(url: str, route: str, bodies: list[dict[str, object]], *, concurrency: int) -> Sample:
    return asyncio.run(_drive(url, route, bodies, concurrency=concurrency))


def prepare(data_dir: Path) -> list[str]:
    """Ingest the corpus (once per data dir) and return search queries drawn from its chunks."""
    from dayshift.cli.demo import corpus_dir

    if not (data_dir / "index.sqlite").exists():
        roots = [corpus_dir()] + [p for p in [SHARED / "markdown_rust_book" / "src"] if p.exists()]
        for root in roots:
            subprocess.run([DAYSHIFT, "--data-dir", str(data_dir), "ingest", str(root)], check=True,
                           env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL)
    import sqlite3

    db = sqlite3.connect(data_dir / "index.sqlite")
    texts = [row[0] for row in db.execute("SELECT text FROM chunks ORDER BY id")]
    db.close()
    rng = random.Random(7)
    words = [t.split() for t in texts if len(t.split()) >= 8]
    return [" ".join(w[:8]) for w in rng.sample(words, min(len(words), 500))]


def count_traces(data_dir: Path, url: str) -> int:
    httpx.get(f"{url}/v1/traces", params={"limit": 1}, timeout=60)  # waits for the flusher to catch up
    from dayshift.trace.store import TraceStore, default_trace_url

    store = TraceStore(default_trace_url(data_dir))
    try:
        return store.count()
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    parser.add_argument("--requests", type=int, default=300, help="/v1/search requests per concurrency level")
    parser.add_argument("--asks", type=int, default=8, help="/v1/ask requests")
    parser.add_argument("--overhead-blocks", type=int, default=12, help="alternating on/off blocks of 100 searches")
    parser.add_argument("--data-dir", type=Path, help="an index to reuse (default: a new one, ingested here)")
    args = parser.parse_args()
    console = Console(stderr=True)
    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="dayshift-load-"))
    queries = prepare(data_dir)
    for leftover in ("traces.sqlite", "traces.sqlite-wal", "traces.sqlite-shm", "trace-spool"):
        path = data_dir / leftover
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    traced, untraced = _server(data_dir, tracing=True), _server(data_dir, tracing=False)
    sent = errors = 0
    try:
        traced.start()
        untraced.start()
        console.print(f"index: {data_dir}; {len(queries)} distinct queries")
        routes: dict[str, dict[str, dict[str, float]]] = {"/v1/search": {}, "/v1/ask": {}}
        for server in (traced, untraced):  # warm both: first requests open the index and compile paths
            drive(server.url, "/v1/search", [{"query": q} for q in queries[:50]], concurrency=4)
            drive(server.url, "/v1/ask", [{"question": QUESTIONS[0]}], concurrency=1)
        sent += 51
        for concurrency in (1, 8, 32):
            bodies = [{"query": queries[i % len(queries)], "k": 5} for i in range(args.requests)]
            sample = drive(traced.url, "/v1/search", bodies, concurrency=concurrency)
            routes["/v1/search"][str(concurrency)] = sample.row()
            sent, errors = sent + len(bodies), errors + sample.errors
            console.print(f"/v1/search c={concurrency}: {sample.row()}")
        asks = [{"question": QUESTIONS[i % len(QUESTIONS)]} for i in range(args.asks)]
        sample = drive(traced.url, "/v1/ask", asks, concurrency=1)
        routes["/v1/ask"]["1"] = sample.row()
        sent, errors = sent + len(asks), errors + sample.errors
        console.print(f"/v1/ask c=1: {sample.row()}")
        on, off, ratios = Sample(), Sample(), []
        for block in range(args.overhead_blocks):
            bodies = [{"query": queries[(block * 100 + i) % len(queries)], "k": 5} for i in range(100)]
            p50 = {}
            for server, into in ((traced, on), (untraced, off)) if block % 2 == 0 else ((untraced, off), (traced, on)):
                s = drive(server.url, "/v1/search", bodies, concurrency=1)
                into.latencies_ms += s.latencies_ms
                into.errors += s.errors
                p50[server is traced] = float(np.median(s.latencies_ms))
                if server is traced:
                    sent, errors = sent + len(bodies), errors + s.errors
            ratios.append(p50[True] / p50[False])
        on_p50, off_p50 = np.median(on.latencies_ms), np.median(off.latencies_ms)
        # Paired: each block of the same 100 queries ran on both servers back to back (order alternating),
        # so the median of the per-block ratios cancels drift in the machine's load.
        overhead = float(np.median(ratios) - 1.0)
        written = count_traces(data_dir, traced.url)
    finally:
        traced.stop()
        untraced.stop()
    result = {
        "requests": sent, "errors": errors, "traces_written": written, "tracing_overhead": round(overhead, 4),
        "tracing_p50_ms": {"on": round(float(on_p50), 3), "off": round(float(off_p50), 3)},
        "tracing_block_ratios": [round(r, 4) for r in ratios],
        "routes": routes,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    table = Table("route", "clients", "requests", "errors", "req/s", "p50 ms", "p99 ms", title="dayshift serve, loopback")
    for route, levels in routes.items():
        for level, row in levels.items():
            table.add_row(route, level, str(row["requests"]), str(row["errors"]), f"{row['rps']:.1f}",
                          f"{row['p50_ms']:.1f}", f"{row['p99_ms']:.1f}")
    Console().print(table)
    Console().print(
        f"requests {sent}, errors {errors}, traces written {written} "
        f"({'equal' if written == sent else 'NOT EQUAL'}); tracing overhead on /v1/search p50: "
        f"{overhead:+.1%} (median of {len(ratios)} paired blocks; pooled p50 {on_p50:.2f} ms traced vs "
        f"{off_p50:.2f} ms untraced)"
    )


if __name__ == "__main__":
    main()
