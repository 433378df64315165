"""Soak: `dayshift serve` under 16 clients for an hour, mixing search, ask (the local model), uploads and feedback.

    python benchmarks/soak.py --json [--minutes 60] [--clients 16] [--plot soak.png]

Prints requests, errors, traces_written (traces in the database for this run's requests), rss_mb_at_10min
and rss_mb_at_end (the server process and its children: the trace flusher), p99_ms per route per 10 minutes
(per minute for a run shorter than 20 minutes), and the secrets scan: the API key, the admin key and the PII
the questions carry, looked for in every line of the server's log and in every stored trace. Writes a plot
of p99 per route and RSS over time. The server runs on loopback, with one tenant key; each client stops
when the time is up, so the run ends by itself.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
import psutil

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from dayshift.cli.demo import corpus_dir
from dayshift.testing.serve_process import ServeProcess

QUESTIONS = ["How does dayshift keep stale chunks out of search?", "What does the trace of a request hold?",
             "How are tenants kept apart?", "What happens when the model server hangs?"]
PII = ["Jane Doe", "jane.doe@example.com", "+1 415 555 0134"]  # carried by some questions; must be redacted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--plot", type=Path, default=Path("soak.png"))
    parser.add_argument("--index", type=Path, help="a data folder that already holds the demo corpus's index, "
                                                   "copied instead of ingesting again (its traces and keys are left)")
    args = parser.parse_args()
    result = run(minutes=args.minutes, clients=args.clients, plot=args.plot, index=args.index)
    print(json.dumps(result, indent=2) if args.json else table(result))


def run(*, minutes: float, clients: int, plot: Path, index: Path | None = None) -> dict[str, object]:
    work = Path(tempfile.mkdtemp(prefix="dayshift-soak-"))
    dayshift = str(Path(sys.executable).with_name("dayshift"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if index is not None:
        for name in ("index.sqlite", "catalog.sqlite", "embed_cache.sqlite"):
            shutil.copy(index / name, work / name)
    subprocess.run([dayshift, "--data-dir", str(work), "ingest", str(corpus_dir())], check=True, capture_output=True,
                   env=env)  # with --index: finds nothing changed
    made = subprocess.run([dayshift, "--data-dir", str(work), "keys", "create", "--tenant", "default"], check=True,
                          capture_output=True, text=True, env=env)
    key = made.stdout.split()[0]
    admin = "dsk_soak_admin_" + os.urandom(12).hex()
    bucket_s = 600.0 if minutes >= 20 else 60.0
    with ServeProcess(work, env={"DAYSHIFT_SERVICE__ADMIN_KEY": admin,
                                 "DAYSHIFT_SERVICE__RATE_LIMIT_PER_MINUTE": "100000",
                                 "DAYSHIFT_SERVICE__RATE_LIMIT_BURST": "100000",
                                 # the reader is joined from its parts once per machine, not once per run
                                 "DAYSHIFT_LLM__MODELS_DIR": os.environ.get(
                                     "DAYSHIFT_LLM__MODELS_DIR", str(Path(tempfile.gettempdir()) / "dayshift-models"))},
                      ready_timeout_s=1800, log_level="info") as server:
        stats = _Stats(bucket_s)
        proc = psutil.Process(server.process.pid)  # type: ignore[union-attr]
        stop_at = time.monotonic() + minutes * 60
        sampler = threading.Thread(target=_sample_rss, args=(proc, stats, stop_at), daemon=True)
        sampler.start()
        threads = [threading.Thread(target=_client, args=(i, server.url, key, stats, stop_at)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sampler.join(timeout=5)
        httpx.get(f"{server.url}/v1/traces", params={"limit": 1}, headers={"Authorization": f"Bearer {key}"},
                  timeout=60)  # the route flushes the spool first
        log_text = server.log.read_text(errors="replace")
    traces = _traces(work, stats.started_at)
    leaks = _scan([log_text, *traces], secrets=[key, admin, *PII])
    result = stats.summary()
    result.update(traces_written=len(traces), secrets_found=leaks, log_lines_scanned=log_text.count("\n"),
                  minutes=minutes, clients=clients, data_dir=str(work), plot=str(plot))
    _plot(stats, plot)
    return result


class _Stats:
    def __init__(self, bucket_s: float) -> None:
        self.bucket_s, self.lock = bucket_s, threading.Lock()
        self.started = time.monotonic()
        self.started_at = time.time()
        self.requests = 0
        self.by_route: dict[str, int] = defaultdict(int)
        self.traced = 0  # searches and asks answered: each must leave one trace
        self.errors: list[str] = []
        self.latency: dict[tuple[str, int], list[float]] = defaultdict(list)
        self.rss: list[tuple[float, float]] = []  # (minutes, MB)

    def add(self, route: str, latency_ms: float, error: str | None) -> None:
        bucket = int((time.monotonic() - self.started) // self.bucket_s)
        with self.lock:
            self.requests += 1
            self.by_route[route] += 1
            self.traced += route in ("search", "ask") and error is None
            self.latency[(route, bucket)].append(latency_ms)
            if error:
                self.errors.append(error)

    def summary(self) -> dict[str, object]:
        buckets = 1 + max((b for _, b in self.latency), default=-1)
        p99: dict[str, list[float | None]] = {}  # per bucket; None where the route had no request in it
        for (route, bucket), values in self.latency.items():
            ordered = sorted(values)
            p99.setdefault(route, [None] * buckets)[bucket] = round(
                ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 1)
        at_10 = [mb for minute, mb in self.rss if minute >= 10]
        return {"requests": self.requests, "requests_by_route": dict(self.by_route), "errors": len(self.errors),
                "error_examples": self.errors[:5], "traced_requests": self.traced,
                "rss_mb_at_10min": round(at_10[0], 1) if at_10 else None,
                "rss_mb_at_end": round(self.rss[-1][1], 1) if self.rss else None,
                "p99_ms": dict(p99), "p99_bucket_min": self.bucket_s / 60}


def _client(n: int, url: str, key: str, stats: _Stats, stop_at: float) -> None:
    rng = random.Random(n)
    headers = {"Authorization": f"Bearer {key}"}
    last_trace: str | None = None
    with httpx.Client(base_url=url, headers=headers, timeout=300) as client:
        while time.monotonic() < stop_at:
            kind = rng.choices(["search", "ask", "upload", "feedback"], weights=[60, 15, 5, 20])[0]
            if kind == "feedback" and last_trace is None:
                kind = "search"
            started = time.perf_counter()
            error = None
            try:
                if kind == "search":
                    r = client.post("/v1/search", json={"query": rng.choice(QUESTIONS), "k": 5})
                elif kind == "ask":
                    question = rng.choice(QUESTIONS)
                    if rng.random() < 0.3:
                        question += f" I am {PII[0]}, reach me at {PII[1]} or {PII[2]}."
                    r = client.post("/v1/ask", json={"question": question})
                elif kind == "upload":
                    note = f"# Note {n}\n\nClient {n} wrote this at {time.time():.0f}.\n".encode()
                    r = client.post("/v1/documents", files=[("files", (f"soak-{n}.md", note, "text/markdown"))])
                else:
                    r = client.post("/v1/feedback", json={"trace_id": last_trace, "rating": rng.choice(["up", "down"])})
                if r.status_code >= 400:
                    error = f"{kind}: {r.status_code} {r.text[:200]}"
                elif kind in ("search", "ask"):
                    last_trace = r.json()["trace_id"]
            except httpx.HTTPError as exc:
                error = f"{kind}: {type(exc).__name__}: {exc}"
            stats.add(kind, (time.perf_counter() - started) * 1000, error)


def _sample_rss(proc: psutil.Process, stats: _Stats, stop_at: float) -> None:
    while time.monotonic() < stop_at:
        try:
            mb = sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)]) / 2**20
        except psutil.Error:
            return
        stats.rss.append(((time.monotonic() - stats.started) / 60, mb))
        time.sleep(5)


def _traces(data_dir: Path, since: float) -> list[str]:
    """Every trace of the run as its stored JSON-ish text (for the count and the secrets scan)."""
    with sqlite3.connect(data_dir / "traces.sqlite") as db:
        rows = db.execute("SELECT * FROM traces").fetchall()
    return [json.dumps(row, default=str) for row in rows]


def _scan(texts: list[str], *, secrets: list[str]) -> dict[str, int]:
    """How many texts hold each secret (all must be 0)."""
    return {s if s in PII else f"{s[:8]}…": sum(s in t for t in texts) for s in secrets}


def _plot(stats: _Stats, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for route, values in stats.summary()["p99_ms"].items():  # type: ignore[union-attr]
        top.plot([(i + 0.5) * stats.bucket_s / 60 for i in range(len(values))],
                 [float("nan") if v is None else v for v in values], marker="o", label=route)
    top.set_ylabel("p99 ms")
    top.set_yscale("log")
    top.legend()
    bottom.plot([m for m, _ in stats.rss], [mb for _, mb in stats.rss])
    bottom.set_ylabel("server RSS MB")
    bottom.set_xlabel("minutes")
    fig.suptitle(f"dayshift soak: {stats.requests} requests, {len(stats.errors)} errors")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def table(result: dict[str, object]) -> str:
    lines = [f"{k:<20}{v}" for k, v in result.items() if k != "p99_ms"]
    for route, values in result["p99_ms"].items():  # type: ignore[union-attr]
        lines.append(f"p99 {route:<16}{values}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
